/**
 * `llm-picker deploy`: rolls a new filter build and/or plugin configuration
 * into a running Envoy without a restart, through the ECDS
 * resource of envoy/envoy-ecds.yaml in a watched directory.
 *
 *   1. validate: the configuration must be a JSON object, and the module must
 *      link, start and configure with it in the emulated Envoy (src/host);
 *      a refusal prints the filter's own error lines and publishes nothing;
 *   2. write the module into DIR under a content-addressed name
 *      (`llm_picker-<sha256 prefix>.wasm`), so each build is a new file and
 *      Envoy never skips it as unchanged (docs/reference/envoy-proxy-wasm.md#hot-swap-through-ecds);
 *   3. keep the current resource in DIR/.history/ (for --rollback), then
 *      publish the new one atomically (temp file + rename over
 *      DIR/llm-picker.yaml; Envoy reacts to the move);
 *   4. wait for Envoy's verdict on its admin interface: config_reload moved
 *      (live) or config_fail moved (refused; Envoy keeps the running filter,
 *      and DIR is restored so that a restart does not load the refused file).
 *
 * The vm_id is never changed, so shared data (the prefix index, endpoint
 * metrics) survives every swap (docs/reference/envoy-proxy-wasm.md#shared-data).
 *
 * Modules are written in place, not renamed into DIR: a rename in the watched
 * directory makes Envoy re-read llm-picker.yaml, which would be counted as a
 * (skipped) update while we wait for the verdict. A module is referenced only
 * after it is completely written and checked.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ECDS_FILE,
  ECDS_TEMPLATE,
  moduleFileName,
  publishEcdsResource,
  readEcdsResource,
  renderEcdsResource,
  sha256Hex,
  waitForEcdsVerdict,
  type EcdsCounters,
  type EcdsVerdict,
} from "../envoy/ecds.js";
import { ProxyWasmHost, ProxyWasmHostError, type LogEntry } from "../host/index.js";
import type { Command } from "./command.js";
import { bodyLimitProblems, probeAdmin } from "./deploy/admin.js";
import { DEFAULT_ADMIN, DEFAULT_TIMEOUT_S, EXIT, parseDeployArgs, USAGE, type DeployOptions } from "./deploy/args.js";
import { awaitEnvoyLogLines, logSize, notesOn } from "./deploy/envoy-log.js";
import {
  acquireLock,
  collectGarbage,
  HISTORY_DIR,
  historyEntries,
  joinEnvoyPath,
  loadSettings,
  pushHistory,
  readCurrent,
  writeModule,
  type Settings,
} from "./deploy/history.js";

export { DEFAULT_ADMIN, DEFAULT_TIMEOUT_S, EXIT, parseDeployArgs, type DeployOptions } from "./deploy/args.js";
export { envoyLogLines } from "./deploy/envoy-log.js";
export { HISTORY_DIR, HISTORY_LIMIT, historyEntries, SETTINGS_FILE } from "./deploy/history.js";

export type DeployStatus = "live" | "unchanged" | "published" | "refused" | "invalid" | "timeout" | "unreachable";

export interface DeployResult {
  exitCode: number;
  status: DeployStatus;
  /** version_info of the resource published (or that would have been). */
  version?: string;
  /** version_info of the resource in DIR before this run. */
  previousVersion?: string;
  /** The module file name in DIR. */
  module?: string;
  verdict?: EcdsVerdict;
  /** Why it was refused: the filter's lines (validation) or Envoy's log lines. */
  reason: string[];
}

// ------------------------------------------------------------------ command

export const deployCommand: Command = {
  run: runDeploy,
};

/** `llm-picker deploy ...`: parses argv, deploys, prints, resolves to the exit code. */
export async function runDeploy(argv: string[]): Promise<number> {
  const parsed = parseDeployArgs(argv);
  if (parsed === "help") {
    process.stdout.write(USAGE + "\n");
    return EXIT.OK;
  }
  if (typeof parsed === "string") {
    process.stderr.write(`llm-picker deploy: ${parsed}\n${USAGE}\n`);
    return EXIT.INVALID;
  }
  return (await deploy(parsed)).exitCode;
}

// ------------------------------------------------------------------ deploy

class Report {
  constructor(private readonly o: DeployOptions) {}
  info(line: string): void {
    (this.o.out ?? ((l) => process.stdout.write(l + "\n")))(`llm-picker deploy: ${line}`);
  }
  error(line: string): void {
    (this.o.err ?? ((l) => process.stderr.write(l + "\n")))(`llm-picker deploy: ${line}`);
  }
}

/** Deploys (or rolls back) as described in the file comment; never throws for expected failures. */
export async function deploy(options: DeployOptions): Promise<DeployResult> {
  const report = new Report(options);
  const dir = resolve(options.dir);
  const fail = (status: DeployStatus, exitCode: number, message: string, reason: string[] = []): DeployResult => {
    report.error(message);
    for (const line of reason) report.error(`  ${line}`);
    return { exitCode, status, reason };
  };
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    if (options.rollback) return fail("invalid", EXIT.INVALID, `${dir} is not a directory`);
    mkdirSync(dir, { recursive: true });
  }
  const settings = loadSettings(dir, options);
  const lock = acquireLock(dir);
  if (typeof lock === "string") return fail("invalid", EXIT.INVALID, lock);
  try {
    return options.rollback ? await rollback(dir, settings, options, report) : await rollout(dir, settings, options, report);
  } finally {
    lock.release();
  }
}

async function rollout(dir: string, settings: Settings, o: DeployOptions, report: Report): Promise<DeployResult> {
  const fail = (status: DeployStatus, exitCode: number, message: string, reason: string[] = []): DeployResult => {
    report.error(message);
    for (const line of reason) report.error(`  ${line}`);
    return { exitCode, status, reason };
  };
  // ---- inputs
  let wasm: Uint8Array;
  try {
    wasm = new Uint8Array(readFileSync(o.wasm!));
  } catch (error) {
    return fail("invalid", EXIT.INVALID, `cannot read the module ${o.wasm}: ${(error as Error).message}`);
  }
  const currentText = readCurrent(dir);
  const current = currentText === null ? null : readEcdsResource(currentText);
  if (currentText !== null && current === null) {
    return fail("invalid", EXIT.INVALID, `${join(dir, ECDS_FILE)} holds no llm-picker TypedExtensionConfig; fix or remove it first`);
  }
  let pluginConfig: string;
  if (o.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(o.config, "utf8");
    } catch (error) {
      return fail("invalid", EXIT.INVALID, `cannot read the configuration ${o.config}: ${(error as Error).message}`);
    }
    const normalized = normalizeConfig(text);
    if (normalized.error !== undefined) return fail("invalid", EXIT.INVALID, `${o.config}: ${normalized.error}`);
    pluginConfig = normalized.json;
  } else if (current) {
    pluginConfig = current.pluginConfig;
  } else {
    return fail("invalid", EXIT.INVALID, `--config FILE is required for the first deploy into ${dir}`);
  }

  // ---- 1. validate in the emulated Envoy
  if (o.validate !== false) {
    const refusal = await validateInHost(wasm, pluginConfig);
    if (refusal) return fail("invalid", EXIT.INVALID, `refused before publishing: ${refusal.summary}`, refusal.lines);
    report.info(`validated ${basename(o.wasm!)} with the configuration in the emulated Envoy`);
  }

  // ---- 2. the resource (based on the current one, so operator edits such as failure_policy are kept)
  const module = moduleFileName(wasm);
  const envoyDir = settings.envoyDir ?? dir;
  const version = `${module.replace(/\.wasm$/, "")}.cfg-${sha256Hex(pluginConfig).slice(0, 8)}`;
  const text = renderEcdsResource(
    { wasmPath: joinEnvoyPath(envoyDir, module), pluginConfig, versionInfo: version },
    currentText ?? readFileSync(ECDS_TEMPLATE, "utf8"),
  );
  const next = readEcdsResource(text)!;
  if (current && current.typedConfigKey === next.typedConfigKey) {
    report.info(`unchanged: ${ECDS_FILE} already holds this module and configuration (version ${current.versionInfo}); Envoy would skip it, nothing published`);
    return { exitCode: EXIT.OK, status: "unchanged", version: current.versionInfo, previousVersion: current.versionInfo, module, reason: [] };
  }

  // ---- 3. Envoy reachable? (before anything is written)
  const admin = settings.admin ?? DEFAULT_ADMIN;
  let before: EcdsCounters | null = null;
  if (o.wait !== false) {
    const probe = await probeAdmin(admin);
    if (typeof probe === "string") {
      if (current !== null) {
        return fail("unreachable", EXIT.NO_VERDICT, `${probe}; nothing published (pass --admin URL, or --no-wait to publish without a verdict)`);
      }
      report.info(`${probe}; first resource in ${dir}: publishing it for Envoy's next start`);
    } else before = probe;
  }
  if (before !== null) {
    const problems = await bodyLimitProblems(admin, pluginConfig);
    if (problems.length > 0)
      return fail("invalid", EXIT.INVALID, "refused before publishing: Envoy's buffer limit is not above the filter's maxBodyBytes", problems);
  }

  writeModule(dir, module, wasm);
  const kept = currentText !== null ? pushHistory(dir, currentText) : null;
  const envoyLogStart = logSize(settings.envoyLog);
  publishEcdsResource(dir, text);
  report.info(
    `published version ${version} (module ${module}) to ${join(dir, ECDS_FILE)}${kept ? `; previous version ${current!.versionInfo} kept as ${kept}` : ""}`,
  );
  const base = { version, previousVersion: current?.versionInfo, module };
  if (before === null) return { exitCode: EXIT.OK, status: "published", ...base, reason: [] };

  // ---- 4. Envoy's verdict
  const verdict = await waitForEcdsVerdict(admin, before, (o.timeoutS ?? DEFAULT_TIMEOUT_S) * 1000);
  return judge(verdict, admin, dir, settings, envoyLogStart, report, base, () => {
    // Refused: put the previous resource back so that a restart loads what runs now.
    if (currentText !== null && kept !== null) {
      publishEcdsResource(dir, currentText);
      rmSync(kept, { force: true });
    }
    return current?.versionInfo;
  });
}

async function rollback(dir: string, settings: Settings, o: DeployOptions, report: Report): Promise<DeployResult> {
  const history = historyEntries(dir);
  const previousPath = history.at(-1);
  if (!previousPath) {
    report.error(`nothing to roll back to: ${join(dir, HISTORY_DIR)} is empty`);
    return { exitCode: EXIT.INVALID, status: "invalid", reason: [] };
  }
  const previousText = readFileSync(previousPath, "utf8");
  const previous = readEcdsResource(previousText);
  const currentText = readCurrent(dir);
  const current = currentText === null ? null : readEcdsResource(currentText);
  if (!previous) {
    report.error(`${previousPath} holds no llm-picker TypedExtensionConfig`);
    return { exitCode: EXIT.INVALID, status: "invalid", reason: [] };
  }
  const base = { version: previous.versionInfo, previousVersion: current?.versionInfo, module: basename(previous.wasmFile) };
  if (current && current.typedConfigKey === previous.typedConfigKey) {
    rmSync(previousPath);
    report.info(`unchanged: the previous resource equals the current one (version ${current.versionInfo}); dropped it from the history`);
    return { exitCode: EXIT.OK, status: "unchanged", ...base, reason: [] };
  }
  const admin = settings.admin ?? DEFAULT_ADMIN;
  let before: EcdsCounters | null = null;
  if (o.wait !== false) {
    const probe = await probeAdmin(admin);
    if (typeof probe === "string") {
      report.error(`${probe}; nothing rolled back (pass --admin URL, or --no-wait)`);
      return { exitCode: EXIT.NO_VERDICT, status: "unreachable", ...base, reason: [] };
    }
    before = probe;
  }
  const envoyLogStart = logSize(settings.envoyLog);
  publishEcdsResource(dir, previousText);
  rmSync(previousPath);
  report.info(`rolled back to version ${previous.versionInfo} (from ${current?.versionInfo ?? "nothing"})`);
  if (before === null) return { exitCode: EXIT.OK, status: "published", ...base, reason: [] };
  const verdict = await waitForEcdsVerdict(admin, before, (o.timeoutS ?? DEFAULT_TIMEOUT_S) * 1000);
  return judge(verdict, admin, dir, settings, envoyLogStart, report, base, () => {
    if (currentText !== null) publishEcdsResource(dir, currentText);
    writeFileSync(previousPath, previousText);
    return current?.versionInfo;
  });
}

/** Turns Envoy's verdict into a result; `restore` undoes the publication after a refusal. */
async function judge(
  verdict: EcdsVerdict,
  admin: string,
  dir: string,
  settings: Settings,
  envoyLogStart: number | null,
  report: Report,
  base: { version?: string; previousVersion?: string; module?: string },
  restore: () => string | undefined,
): Promise<DeployResult> {
  const moved = (v: EcdsVerdict) =>
    v.after ? `config_reload ${v.before.reload} → ${v.after.reload}, config_fail ${v.before.fail} → ${v.after.fail}` : "no counters read";
  switch (verdict.kind) {
    case "live":
      collectGarbage(dir);
      report.info(`live: Envoy applied version ${base.version} in ${verdict.ms} ms (${moved(verdict)})`);
      return { exitCode: EXIT.OK, status: "live", verdict, ...base, reason: [] };
    case "skipped":
      report.info(`Envoy read version ${base.version} but skipped it: its typed_config equals the running one (${moved(verdict)})`);
      return { exitCode: EXIT.OK, status: "unchanged", verdict, ...base, reason: [] };
    case "refused": {
      // Lines stamped before the publication (minus clock rounding) belong to an earlier update.
      const reason = await awaitEnvoyLogLines(settings.envoyLog, envoyLogStart, Date.now() - verdict.ms - 100);
      const restored = restore();
      if (restored !== undefined && verdict.after) {
        // Envoy remembers the refused file's hash, so it re-reads the restored
        // one and applies it again (config_reload moves once more, harmlessly).
        // Wait for that, so that the next deploy's baseline is settled.
        await waitForEcdsVerdict(admin, verdict.after, 5000);
      }
      report.error(
        `Envoy refused version ${base.version} (${moved(verdict)}); the running filter keeps serving` +
          (restored !== undefined ? `; ${join(dir, ECDS_FILE)} restored to version ${restored}` : ""),
      );
      if (reason.length > 0) {
        report.error("Envoy's log:");
        for (const line of reason) report.error(`  ${line}`);
        for (const note of notesOn(reason)) report.error(note);
      } else if (!settings.envoyLog) {
        report.error("(Envoy's admin does not say why; pass --envoy-log FILE, or see Envoy's log for \"config update rejected\")");
      }
      return { exitCode: EXIT.REFUSED, status: "refused", verdict, ...base, reason };
    }
    case "timeout":
      report.error(
        `no verdict from Envoy within ${Math.round(verdict.ms / 1000)} s (${moved(verdict)}): is it watching ${dir}? ` +
          `version ${base.version} stays published; \`llm-picker deploy --rollback --dir ${dir}\` restores the previous one`,
      );
      return { exitCode: EXIT.NO_VERDICT, status: "timeout", verdict, ...base, reason: [] };
  }
}

// ------------------------------------------------------------------ validation

/** JSON text → compact JSON of an object, or an error. Compact so whitespace edits are no change. */
export function normalizeConfig(text: string): { json: string; error?: undefined } | { json?: undefined; error: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { error: `not valid JSON: ${(error as Error).message}` };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return { error: "the configuration must be a JSON object" };
  return { json: JSON.stringify(parsed) };
}

/** Loads and configures the module in the emulated Envoy; null when it is accepted, else the filter's own lines. */
export async function validateInHost(wasm: Uint8Array, pluginConfig: string): Promise<{ summary: string; lines: string[] } | null> {
  let host: ProxyWasmHost;
  try {
    host = await ProxyWasmHost.create({ wasm, pluginConfig, logLevel: "warn" });
  } catch (error) {
    if (error instanceof ProxyWasmHostError) {
      const critical = filterLines(error.logs, "critical");
      if (critical.length > 0) return { summary: "the filter refused the configuration", lines: critical };
      const first = error.message.split("\n--- VM logs ---")[0];
      return { summary: "the module does not load in Envoy", lines: [first, ...filterLines(error.logs, "error")] };
    }
    return { summary: "the module is not a valid WebAssembly module", lines: [(error as Error).message] };
  }
  host.close();
  return null;
}

/** De-duplicated messages at `level` or above (each VM logs the same line). */
function filterLines(logs: LogEntry[], level: "critical" | "error"): string[] {
  const levels = level === "critical" ? ["critical"] : ["critical", "error"];
  return [...new Set(logs.filter((l) => levels.includes(l.levelName)).map((l) => l.message))];
}

// ------------------------------------------------------------------ standalone

function isEntry(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntry()) {
  process.exitCode = await runDeploy(process.argv.slice(2));
}
