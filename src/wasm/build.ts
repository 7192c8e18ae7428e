/**
 * The AssemblyScript builds as files: which asconfig.json target writes which
 * `.wasm`, whether that file is older than the sources, and a rebuild when it
 * is. Tests, benchmarks and the typecheck call `ensureBuilt` so that an edit
 * under assembly/ is never exercised through a stale build.
 *
 * Run as a script (`tsx src/wasm/build.ts units-request …`) it brings the
 * named targets up to date; with no argument, every target.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PROJECT_ROOT } from "../envoy/locate.js";

/** The asconfig.json targets; each has an npm script `asbuild:<target>`. */
export const TARGETS = ["debug", "release", "units-request", "units-hashing", "units-scoring"] as const;
export type Target = (typeof TARGETS)[number];
/** The unit-test modules, one per pure AssemblyScript package (`assembly/<name>/testing.ts`). */
export type UnitsName = "request" | "hashing" | "scoring";

const ASCONFIG = resolve(PROJECT_ROOT, "asconfig.json");
const SOURCES = resolve(PROJECT_ROOT, "assembly");
/** How long a build lock may stand before it is taken for one a killed process left. */
const LOCK_STALE_MS = 10 * 60_000;

/** The file a target writes (asconfig.json `outFile`), absolute. */
export function outputOf(target: Target): string {
  const config = JSON.parse(readFileSync(ASCONFIG, "utf8")) as { targets: Record<string, { outFile?: string }> };
  const outFile = config.targets[target]?.outFile;
  if (!outFile) throw new Error(`asconfig.json: target "${target}" has no outFile`);
  return resolve(PROJECT_ROOT, outFile);
}

/**
 * The newest modification time among the build's inputs: every file and folder
 * under assembly/ (a folder's time moves when a file in it is added, removed or
 * renamed) and asconfig.json.
 */
export function newestSourceMs(): number {
  let newest = statSync(ASCONFIG).mtimeMs;
  const walk = (dir: string): void => {
    newest = Math.max(newest, statSync(dir).mtimeMs);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(SOURCES);
  return newest;
}

/** True when the target's output is missing or older than any source. */
export function isStale(target: Target, sourcesMs = newestSourceMs()): boolean {
  try {
    return statSync(outputOf(target)).mtimeMs < sourcesMs;
  } catch {
    return true;
  }
}

/**
 * Rebuilds each target whose output is missing or older than the sources.
 * Test files run in parallel processes: a lock folder per target makes one of
 * them build while the others wait, then find the output fresh.
 */
export function ensureBuilt(...targets: Target[]): void {
  for (const target of targets) {
    if (!isStale(target)) continue;
    withLock(`${outputOf(target)}.lock`, () => {
      if (isStale(target)) execFileSync("npm", ["run", "--silent", `asbuild:${target}`], { cwd: PROJECT_ROOT, stdio: "inherit" });
    });
  }
}

function withLock(lock: string, body: () => void): void {
  mkdirSync(dirname(lock), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > LOCK_STALE_MS) rmdirSync(lock);
      else sleepSync(100);
    }
  }
  try {
    body();
  } finally {
    rmdirSync(lock);
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((t) => !(TARGETS as readonly string[]).includes(t));
  if (unknown.length > 0) {
    console.error(`unknown target(s) ${unknown.join(", ")}; known: ${TARGETS.join(", ")}`);
    process.exit(2);
  }
  ensureBuilt(...((asked.length > 0 ? asked : TARGETS) as Target[]));
}
