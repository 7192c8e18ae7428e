/**
 * ECDS resources for envoy/envoy-ecds.yaml (issue 6): render the filter's
 * TypedExtensionConfig from the template envoy/ecds/llm-picker.yaml, and
 * publish it atomically into the watched directory (write a temp file in the
 * same directory, then rename() over the watched path: Envoy reacts to moves).
 * Reference: envoy-proxy-wasm.md §3.3.
 */
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
