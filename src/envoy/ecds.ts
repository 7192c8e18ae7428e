/**
 * ECDS resources for envoy/envoy-ecds.yaml (hot swap): render the filter's
 * TypedExtensionConfig from the template envoy/ecds/llm-picker.yaml, and
 * publish it atomically into the watched directory (write a temp file in the
 * same directory, then rename() over the watched path: Envoy reacts to moves).
 * Envoy's side: docs/reference/envoy-proxy-wasm.md#hot-swap-through-ecds.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseDocument } from "yaml";
import { renderEnvoyConfig, type EnvoySubstitutions } from "./config.js";
import { PROJECT_ROOT } from "./locate.js";

export const ECDS_BOOTSTRAP = resolve(PROJECT_ROOT, "envoy/envoy-ecds.yaml");
export const ECDS_TEMPLATE = resolve(PROJECT_ROOT, "envoy/ecds/llm-picker.yaml");
/** The watched file's name inside the ECDS directory (as in envoy-ecds.yaml). */
export const ECDS_FILE = "llm-picker.yaml";
/** Envoy's counters for this filter's ECDS updates. */
export const ECDS_RELOAD_STAT = "extension_config_discovery.http_filter.llm-picker.config_reload";
export const ECDS_FAIL_STAT = "extension_config_discovery.http_filter.llm-picker.config_fail";

export interface EcdsResourceOptions extends EnvoySubstitutions {
  /** version_info of the resource (e.g. the module's content hash). */
  versionInfo?: string;
}

/** The ECDS resource file text for the given module/configuration. */
export function renderEcdsResource(options: EcdsResourceOptions = {}, template = readFileSync(ECDS_TEMPLATE, "utf8")): string {
  const text = renderEnvoyConfig(template, options);
  if (options.versionInfo === undefined) return text;
  const doc = parseDocument(text);
  doc.set("version_info", options.versionInfo);
  return doc.toString({ lineWidth: 0 });
}

let publishCount = 0;

/** Atomically replaces `<dir>/llm-picker.yaml` with `text`. */
export function publishEcdsResource(dir: string, text: string, file = ECDS_FILE): string {
  const target = join(dir, file);
  const temp = join(dir, `.${file}.${process.pid}.${++publishCount}.tmp`);
  writeFileSync(temp, text);
  renameSync(temp, target);
  return target;
}

/** A fresh watched directory holding a first resource; pass it as substitutions.ecdsDir. */
export function prepareEcdsDir(options: EcdsResourceOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "llm-picker-ecds-"));
  publishEcdsResource(dir, renderEcdsResource(options));
  return dir;
}

// ---------------------------------------------------------------- rollouts
// Helpers for `llm-picker deploy` (src/cli/deploy.ts) and the hot-swap tests.

/** Envoy's subscription counters: exactly one of them moves per file Envoy reads. */
export const ECDS_UPDATE_SUCCESS_STAT = "extension_config_discovery.http_filter.llm-picker.update_success";
export const ECDS_UPDATE_REJECTED_STAT = "extension_config_discovery.http_filter.llm-picker.update_rejected";

/**
 * The ECDS counters of the llm-picker filter. Measured on Envoy 1.40 with a
 * file subscription (test/envoy/hotswap.test.ts pins it):
 * - accepted and applied:  config_reload +1, update_success +1;
 * - refused (module does not load, canary on_configure false):
 *   config_reload +1 **and** config_fail +1, update_rejected +1 (so a moving
 *   config_reload alone does not mean success);
 * - typed_config unchanged (e.g. only version_info differs): update_success +1,
 *   config_reload unchanged (Envoy skipped it).
 * `/config_dump` is no help for the verdict: its EcdsConfigDump shows the last
 * file *received*, refused or not, without an error_state.
 */
export interface EcdsCounters {
  reload: number;
  fail: number;
  success: number;
  rejected: number;
}

/** Reads the counters from Envoy's admin; null when the filter has no ECDS stats there. Throws when admin is unreachable. */
export async function readEcdsCounters(adminUrl: string, signal?: AbortSignal): Promise<EcdsCounters | null> {
  const filter = encodeURIComponent("^extension_config_discovery\\.http_filter\\.llm-picker\\.");
  const res = await fetch(`${adminUrl}/stats?format=json&filter=${filter}`, { signal: signal ?? AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET ${adminUrl}/stats: ${res.status}`);
  const body = (await res.json()) as { stats?: Array<{ name?: string; value?: number }> };
  const byName = new Map<string, number>();
  for (const s of body.stats ?? []) if (s.name !== undefined && typeof s.value === "number") byName.set(s.name, s.value);
  if (!byName.has(ECDS_RELOAD_STAT)) return null;
  return {
    reload: byName.get(ECDS_RELOAD_STAT) ?? 0,
    fail: byName.get(ECDS_FAIL_STAT) ?? 0,
    success: byName.get(ECDS_UPDATE_SUCCESS_STAT) ?? 0,
    rejected: byName.get(ECDS_UPDATE_REJECTED_STAT) ?? 0,
  };
}

/** Envoy's verdict on one published file. */
export type EcdsVerdict =
  | { kind: "live"; before: EcdsCounters; after: EcdsCounters; ms: number }
  | { kind: "refused"; before: EcdsCounters; after: EcdsCounters; ms: number }
  | { kind: "skipped"; before: EcdsCounters; after: EcdsCounters; ms: number }
  | { kind: "timeout"; before: EcdsCounters; after: EcdsCounters | null; ms: number };

/** Classifies counter movement since `before` (null: nothing decided yet). */
export function classifyEcdsUpdate(before: EcdsCounters, after: EcdsCounters): "live" | "refused" | "skipped" | null {
  if (after.fail > before.fail || after.rejected > before.rejected) return "refused";
  if (after.reload > before.reload) return "live";
  if (after.success > before.success) return "skipped";
  return null;
}

/**
 * Polls the counters until Envoy has judged the file published after `before`
 * was read. A "skipped" reading is confirmed for `settleMs` first, since an
 * unrelated move in the watched directory also makes Envoy re-read (and skip)
 * the unchanged file.
 */
export async function waitForEcdsVerdict(adminUrl: string, before: EcdsCounters, timeoutMs: number, pollMs = 50, settleMs = 500): Promise<EcdsVerdict> {
  const start = Date.now();
  let last: EcdsCounters | null = null;
  let skippedSince: number | null = null;
  while (true) {
    try {
      last = (await readEcdsCounters(adminUrl)) ?? last;
    } catch {
      // admin briefly unavailable: keep polling until the deadline
    }
    const now = Date.now();
    const kind = last ? classifyEcdsUpdate(before, last) : null;
    if (last && (kind === "live" || kind === "refused")) return { kind, before, after: last, ms: now - start };
    if (last && kind === "skipped") {
      skippedSince ??= now;
      if (now - skippedSince >= settleMs) return { kind, before, after: last, ms: now - start };
    }
    if (now - start > timeoutMs) return { kind: "timeout", before, after: last, ms: now - start };
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Content-addressed module file name: `llm_picker-<first 12 hex of sha256>.wasm`. */
export function moduleFileName(bytes: Uint8Array): string {
  return `llm_picker-${sha256Hex(bytes).slice(0, 12)}.wasm`;
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The parts of an ECDS resource file a rollout reads back. */
export interface EcdsResourceInfo {
  versionInfo: string;
  /** `vm_config.code.local.filename` of the filter, as Envoy sees it. */
  wasmFile: string;
  /** The plugin configuration string. */
  pluginConfig: string;
  vmId: string;
  /** typed_config as a canonical JSON string: Envoy skips a file whose typed_config hash is unchanged. */
  typedConfigKey: string;
}

/** Reads an ECDS resource file's essentials; null when it holds no llm-picker TypedExtensionConfig. */
export function readEcdsResource(text: string): EcdsResourceInfo | null {
  let doc: { version_info?: unknown; resources?: Array<{ "@type"?: string; name?: string; typed_config?: unknown }> } | null;
  try {
    doc = parseDocument(text).toJS() as typeof doc;
  } catch {
    return null;
  }
  const ext = doc?.resources?.find((r) => r?.name === "llm-picker");
  if (!ext || typeof ext.typed_config !== "object" || ext.typed_config === null) return null;
  const plugin = (ext.typed_config as { config?: Record<string, unknown> }).config ?? {};
  const vm = (plugin.vm_config ?? {}) as { vm_id?: string; code?: { local?: { filename?: string } } };
  const configuration = plugin.configuration as { value?: unknown } | undefined;
  return {
    versionInfo: String(doc?.version_info ?? ""),
    wasmFile: vm.code?.local?.filename ?? "",
    pluginConfig: typeof configuration?.value === "string" ? configuration.value : "",
    vmId: vm.vm_id ?? "",
    typedConfigKey: canonicalJson(ext.typed_config),
  };
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
