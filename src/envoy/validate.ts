/**
 * `npm run envoy:validate`: runs `envoy --mode validate` on every Envoy config
 * in envoy/ (after template rendering, so relative wasm paths point into the
 * repository) and exits non-zero when any fails (style.md practice 10).
 * Validation loads the wasm module and runs its on_configure, so it needs
 * `npm run build` first. Files that are not Envoy bootstraps (the compose
 * file, ECDS resource files, Kubernetes manifests) are listed as skipped.
 *
 * Usage: tsx src/envoy/validate.ts [--wasm FILE] [FILE...]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { isEnvoyBootstrap, renderEnvoyConfig, type EnvoySubstitutions } from "./config.js";
import { findEnvoy, PROJECT_ROOT } from "./locate.js";

export const ENVOY_CONFIG_DIR = resolve(PROJECT_ROOT, "envoy");

export interface ValidationResult {
  file: string;
  /** "ok", "failed", or "skipped" (not an Envoy bootstrap). */
  status: "ok" | "failed" | "skipped";
  /** Envoy's output (the last lines on failure), or why it was skipped. */
  detail: string;
}

/** The YAML files of envoy/, sorted. */
export function envoyConfigFiles(dir = ENVOY_CONFIG_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort()
    .map((f) => join(dir, f));
}

/** Validates one config file (a template) with `envoy --mode validate`. */
export function validateEnvoyConfig(file: string, substitutions: EnvoySubstitutions = {}, envoyBin?: string): ValidationResult {
  const text = readFileSync(file, "utf8");
  if (!isEnvoyBootstrap(text)) {
    return { file, status: "skipped", detail: "not an Envoy bootstrap (no static_resources/dynamic_resources)" };
  }
  const bin = envoyBin ?? findEnvoy();
  if (!bin) return { file, status: "failed", detail: "no Envoy binary: run `npm run envoy:install` or set ENVOY_BIN" };
  const dir = mkdtempSync(join(tmpdir(), "llm-picker-validate-"));
  try {
    const rendered = join(dir, basename(file));
    writeFileSync(rendered, renderEnvoyConfig(text, substitutions));
    const run = spawnSync(bin, ["--mode", "validate", "-c", rendered, "-l", "warn"], {
      encoding: "utf8",
      cwd: PROJECT_ROOT,
      timeout: 120_000,
    });
    const output = `${run.stdout ?? ""}${run.stderr ?? ""}`.trim();
    const ok = run.status === 0 && /OK\s*$/.test(output);
    const detail = ok ? output.split("\n").pop()! : output.split("\n").slice(-20).join("\n") || String(run.error ?? `exit ${run.status}`);
    return { file, status: ok ? "ok" : "failed", detail };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function validateAll(files = envoyConfigFiles(), substitutions: EnvoySubstitutions = {}): ValidationResult[] {
  return files.map((f) => validateEnvoyConfig(f, substitutions));
}

function main(argv: string[]): number {
  const substitutions: EnvoySubstitutions = {};
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--wasm") substitutions.wasmPath = resolve(argv[++i] ?? "");
    else files.push(resolve(argv[i]));
  }
  const results = validateAll(files.length > 0 ? files : envoyConfigFiles(), substitutions);
  for (const r of results) {
    const name = r.file.startsWith(PROJECT_ROOT) ? r.file.slice(PROJECT_ROOT.length + 1) : r.file;
    console.log(`${r.status.padEnd(7)} ${name}${r.status === "ok" ? "" : `\n  ${r.detail.replace(/\n/g, "\n  ")}`}`);
  }
  const failed = results.filter((r) => r.status === "failed").length;
  const checked = results.filter((r) => r.status !== "skipped").length;
  console.log(`envoy --mode validate: ${checked - failed}/${checked} configs OK`);
  return failed > 0 || checked === 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = main(process.argv.slice(2));
}
