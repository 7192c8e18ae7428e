/**
 * The deploy directory: the current ECDS resource, content-addressed modules,
 * the history kept for --rollback (and its garbage collection), the settings
 * remembered per directory, and the lock that lets one deploy run at a time.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, isAbsolute, join, resolve } from "node:path";
import { ECDS_FILE, readEcdsResource, sha256Hex } from "../../envoy/ecds.js";

/** Resources kept for --rollback. */
export const HISTORY_LIMIT = 10;
export const HISTORY_DIR = ".history";
/** Per-directory settings remembered from earlier runs (admin URL, Envoy's view of DIR, Envoy log). */
export const SETTINGS_FILE = ".llm-picker-deploy.json";
const LOCK_FILE = ".deploy.lock";
const MODULE_RE = /^llm_picker-[0-9a-f]{12}\.wasm$/;

/** What a deploy remembers for its directory (given options win, and are saved). */
export interface Settings {
  admin?: string;
  envoyDir?: string;
  envoyLog?: string;
}

export function readCurrent(dir: string): string | null {
  const path = join(dir, ECDS_FILE);
  return existsSync(path) ? readFileSync(path, "utf8") : null;
}

/** Joins without resolving against this machine (Envoy's path may not exist here). */
export function joinEnvoyPath(envoyDir: string, file: string): string {
  return `${envoyDir.replace(/\/+$/, "")}/${file}`;
}

export function writeModule(dir: string, name: string, bytes: Uint8Array): void {
  const path = join(dir, name);
  if (existsSync(path) && sha256Hex(readFileSync(path)) === sha256Hex(bytes)) return;
  writeFileSync(path, bytes);
  if (sha256Hex(readFileSync(path)) !== sha256Hex(bytes)) throw new Error(`${path}: written bytes differ (disk full?)`);
}

/** History entries, oldest first. */
export function historyEntries(dir: string): string[] {
  const h = join(dir, HISTORY_DIR);
  if (!existsSync(h)) return [];
  return readdirSync(h)
    .filter((f) => /^\d{6}\.yaml$/.test(f))
    .sort()
    .map((f) => join(h, f));
}

export function pushHistory(dir: string, text: string): string {
  const h = join(dir, HISTORY_DIR);
  mkdirSync(h, { recursive: true });
  const last = historyEntries(dir).at(-1);
  const n = last ? Number(basename(last, ".yaml")) + 1 : 1;
  const path = join(h, `${String(n).padStart(6, "0")}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** Keeps the newest HISTORY_LIMIT history entries and the modules that they or the current resource name. */
export function collectGarbage(dir: string): void {
  const history = historyEntries(dir);
  for (const old of history.slice(0, Math.max(0, history.length - HISTORY_LIMIT))) rmSync(old, { force: true });
  const referenced = new Set<string>();
  for (const path of [join(dir, ECDS_FILE), ...historyEntries(dir)]) {
    const info = existsSync(path) ? readEcdsResource(readFileSync(path, "utf8")) : null;
    if (info) referenced.add(basename(info.wasmFile));
  }
  for (const f of readdirSync(dir)) if (MODULE_RE.test(f) && !referenced.has(f)) rmSync(join(dir, f), { force: true });
}

export function loadSettings(dir: string, o: Settings): Settings {
  const path = join(dir, SETTINGS_FILE);
  let saved: Settings = {};
  try {
    saved = JSON.parse(readFileSync(path, "utf8")) as Settings;
  } catch {
    // none yet
  }
  const given: Settings = {
    admin: o.admin?.replace(/\/+$/, ""),
    envoyDir: o.envoyDir,
    envoyLog: o.envoyLog === undefined ? undefined : resolve(o.envoyLog),
  };
  const merged: Settings = { ...saved };
  for (const [k, v] of Object.entries(given) as Array<[keyof Settings, string | undefined]>) if (v !== undefined) merged[k] = v;
  if (merged.envoyDir !== undefined && !isAbsolute(merged.envoyDir)) merged.envoyDir = resolve(merged.envoyDir);
  if (JSON.stringify(merged) !== JSON.stringify(saved)) writeFileSync(path, JSON.stringify(merged, null, 2) + "\n");
  return merged;
}

/** One deploy per directory at a time; a lock left by a dead process is taken over. */
export function acquireLock(dir: string): { release(): void } | string {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return { release: () => rmSync(path, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") return `cannot lock ${dir}: ${(error as Error).message}`;
      const pid = Number(readFileSafe(path));
      if (Number.isInteger(pid) && pid > 0 && (pid === process.pid || alive(pid))) {
        return `another deploy (pid ${pid}) is running on ${dir}`;
      }
      rmSync(path, { force: true });
    }
  }
  return `cannot lock ${dir}`;
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
