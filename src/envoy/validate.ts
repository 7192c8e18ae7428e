/**
 * `npm run envoy:validate`: runs `envoy --mode validate` on every Envoy config
 * in envoy/ (after template rendering, so relative wasm paths point into the
 * repository) and exits non-zero when any fails, so a config that Envoy
 * would refuse never reaches a commit unnoticed.
 * Validation loads the wasm module and runs its on_configure, so it needs
 * `npm run build` first. ECDS resource files (envoy/ecds/) are validated
 * inlined into envoy.yaml; other files (the compose file, Kubernetes
 * manifests) are listed as skipped.
 *
 * Usage: tsx src/envoy/validate.ts [--wasm FILE] [FILE...]
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { isEnvoyBootstrap, renderEnvoyConfig, type EnvoySubstitutions } from "./config.js";
import { findEnvoy, PROJECT_ROOT } from "./locate.js";
import { bootstrapBodyLimitProblems } from "./limits.js";
import { isMap, isSeq, parseDocument } from "yaml";

export const ENVOY_CONFIG_DIR = resolve(PROJECT_ROOT, "envoy");

export interface ValidationResult {
  file: string;
  /** "ok", "failed", or "skipped" (not an Envoy bootstrap). */
  status: "ok" | "failed" | "skipped";
  /** Envoy's output (the last lines on failure), or why it was skipped. */
  detail: string;
}

const isYaml = (f: string) => f.endsWith(".yaml") || f.endsWith(".yml");

/** The YAML files of envoy/ and envoy/ecds/ (ECDS resources), sorted. */
export function envoyConfigFiles(dir = ENVOY_CONFIG_DIR): string[] {
  const top = readdirSync(dir)
    .filter(isYaml)
    .sort()
    .map((f) => join(dir, f));
  const ecdsDir = join(dir, "ecds");
  const ecds = existsSync(ecdsDir)
    ? readdirSync(ecdsDir)
        .filter(isYaml)
        .sort()
        .map((f) => join(ecdsDir, f))
    : [];
  return [...top, ...ecds];
}

/**
 * `envoy --mode validate` does not read ECDS files, so an ECDS resource is
 * checked inside envoy.yaml: the http filter of the same name gets the
 * resource's typed_config (the module loads and configures as it would on a
 * swap). Returns null when the text is not an ECDS resource file.
 */
export function ecdsResourceAsBootstrap(resourceText: string, bootstrapText: string): string | null {
  const resource = parseDocument(resourceText).toJS() as {
    resources?: Array<{ "@type"?: string; name?: string; typed_config?: unknown }>;
  } | null;
  const extension = resource?.resources?.find((r) => r["@type"]?.endsWith("envoy.config.core.v3.TypedExtensionConfig"));
  if (!extension?.name || !extension.typed_config) return null;
  const doc = parseDocument(bootstrapText);
  let replaced = false;
  const listeners = doc.getIn(["static_resources", "listeners"]);
  for (const listener of isSeq(listeners) ? listeners.items : []) {
    const chains = isMap(listener) ? listener.get("filter_chains") : null;
    for (const chain of isSeq(chains) ? chains.items : []) {
      const filters = isMap(chain) ? chain.get("filters") : null;
      for (const filter of isSeq(filters) ? filters.items : []) {
        const httpFilters = isMap(filter) ? filter.getIn(["typed_config", "http_filters"]) : null;
        for (const http of isSeq(httpFilters) ? httpFilters.items : []) {
          if (isMap(http) && http.get("name") === extension.name) {
            http.set("typed_config", doc.createNode(extension.typed_config));
            http.delete("config_discovery");
            replaced = true;
          }
        }
      }
    }
  }
  return replaced ? doc.toString({ lineWidth: 0 }) : null;
}

/** Validates one config file (a template) with `envoy --mode validate`. */
export function validateEnvoyConfig(file: string, substitutions: EnvoySubstitutions = {}, envoyBin?: string): ValidationResult {
  let text = readFileSync(file, "utf8");
  if (!isEnvoyBootstrap(text)) {
    const inlined = ecdsResourceAsBootstrap(text, readFileSync(join(ENVOY_CONFIG_DIR, "envoy.yaml"), "utf8"));
    if (inlined === null) {
      return { file, status: "skipped", detail: "neither an Envoy bootstrap nor an ECDS resource for a filter of envoy.yaml" };
    }
    text = inlined;
  }
  const bin = envoyBin ?? findEnvoy();
  if (!bin) return { file, status: "failed", detail: "no Envoy binary: run `npm run envoy:install` or set ENVOY_BIN" };
  const dir = mkdtempSync(join(tmpdir(), "llm-picker-validate-"));
  try {
    const rendered = join(dir, basename(file));
    const renderedText = renderEnvoyConfig(text, substitutions);
    // Envoy accepts a buffer limit below the filter's body bound; we do not.
    const problems = bootstrapBodyLimitProblems(renderedText);
    if (problems.length > 0) return { file, status: "failed", detail: problems.join("\n") };
    writeFileSync(rendered, renderedText);
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
