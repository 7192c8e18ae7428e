/**
 * `llm-picker deploy`: rolls a new filter build and/or plugin configuration
 * into a running Envoy without a restart (issue 6 point 2), through the ECDS
 * resource of envoy/envoy-ecds.yaml in a watched directory.
 *
 *   1. validate: the configuration must be a JSON object, and the module must
 *      link, start and configure with it in the emulated Envoy (src/host);
 *      a refusal prints the filter's own error lines and publishes nothing;
 *   2. write the module into DIR under a content-addressed name
 *      (`llm_picker-<sha256 prefix>.wasm`), so each build is a new file and
 *      Envoy never skips it as unchanged (envoy-proxy-wasm.md §3.3);
 *   3. keep the current resource in DIR/.history/ (for --rollback), then
 *      publish the new one atomically (temp file + rename over
 *      DIR/llm-picker.yaml; Envoy reacts to the move);
 *   4. wait for Envoy's verdict on its admin interface: config_reload moved
 *      (live) or config_fail moved (refused; Envoy keeps the running filter,
 *      and DIR is restored so that a restart does not load the refused file).
 *
 * The vm_id is never changed, so shared data (the prefix index, endpoint
 * metrics) survives every swap (envoy-proxy-wasm.md §1.3).
 *
 * Modules are written in place, not renamed into DIR: a rename in the watched
 * directory makes Envoy re-read llm-picker.yaml, which would be counted as a
 * (skipped) update while we wait for the verdict. A module is referenced only
 * after it is completely written and checked.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, readSync, realpathSync } from "node:fs";
import { basename, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  ECDS_FILE,
  ECDS_TEMPLATE,
  moduleFileName,
  publishEcdsResource,
  readEcdsCounters,
  readEcdsResource,
  renderEcdsResource,
  sha256Hex,
  waitForEcdsVerdict,
  type EcdsCounters,
  type EcdsVerdict,
} from "../envoy/ecds.js";
import { ProxyWasmHost, ProxyWasmHostError, type LogEntry } from "../host/index.js";
import { bodyLimitProblem, listenersFromConfigDump, listenersWithFilter, maxBodyBytesOf } from "../envoy/limits.js";
import type { Command } from "./command.js";

/** Exit codes (also in --help and docs/hot-swap.md). */
export const EXIT = {
  /** Live in Envoy, or nothing to do (unchanged), or published with --no-wait. */
  OK: 0,
  /** Envoy refused the update (config_fail): the running filter keeps serving, DIR restored. */
  REFUSED: 1,
  /** Usage or input error, refused by validation, nothing to roll back, or another deploy running: nothing published. */
  INVALID: 2,
  /** No verdict: Envoy's admin unreachable (nothing published) or no verdict in time (left published). */
  NO_VERDICT: 3,
} as const;

export const DEFAULT_ADMIN = "http://127.0.0.1:9901";
export const DEFAULT_TIMEOUT_S = 30;
/** Resources kept for --rollback. */
export const HISTORY_LIMIT = 10;
export const HISTORY_DIR = ".history";
/** Per-directory settings remembered from earlier runs (admin URL, Envoy's view of DIR, Envoy log). */
export const SETTINGS_FILE = ".llm-picker-deploy.json";
const LOCK_FILE = ".deploy.lock";
const MODULE_RE = /^llm_picker-[0-9a-f]{12}\.wasm$/;

export interface DeployOptions {
  /** The watched directory (holds llm-picker.yaml). */
  dir: string;
  /** The filter module to roll out (required unless rollback). */
  wasm?: string;
  /** The plugin configuration (JSON file). Default: the current resource's configuration. */
  config?: string;
  /** Envoy's admin URL. Default: remembered for DIR, else http://127.0.0.1:9901. */
  admin?: string;
  /** Seconds to wait for Envoy's verdict. Default 30. */
  timeoutS?: number;
  /** Restore the previous resource instead of deploying. */
  rollback?: boolean;
  /** Check the module + configuration in the emulated Envoy first. Default true. */
  validate?: boolean;
  /** Wait for Envoy's verdict. Default true. */
  wait?: boolean;
  /** DIR as Envoy sees it (e.g. the mount point in a container). Default: DIR. */
  envoyDir?: string;
  /** Envoy's log file: its lines about a refused update are reported. */
  envoyLog?: string;
  /** Output sinks (default process.stdout / process.stderr). */
  out?: (line: string) => void;
  err?: (line: string) => void;
}

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

const USAGE = `usage: llm-picker deploy --wasm FILE [--config FILE] --dir DIR [options]
       llm-picker deploy --rollback --dir DIR [options]

Rolls a filter module and/or plugin configuration into a running Envoy that
reads the llm-picker filter through ECDS from DIR (envoy/envoy-ecds.yaml),
without a restart. The module must load and configure in the emulated Envoy
first; it is written to DIR as llm_picker-<sha256>.wasm, the current resource
is kept in DIR/${HISTORY_DIR}/ for --rollback, and DIR/${ECDS_FILE} is replaced
atomically. Then Envoy's extension_config_discovery.http_filter.llm-picker
counters give the verdict: config_reload (live) or config_fail (refused).

options:
  --wasm FILE        filter module to roll out
  --config FILE      plugin configuration (JSON); default: keep the current one
  --dir DIR          the directory Envoy watches
  --admin URL        Envoy's admin (default: remembered for DIR, else ${DEFAULT_ADMIN})
  --timeout S        seconds to wait for Envoy's verdict (default ${DEFAULT_TIMEOUT_S})
  --rollback         publish the previous resource again
  --envoy-dir PATH   DIR as Envoy sees it, e.g. a container mount (default DIR)
  --envoy-log FILE   Envoy's log file: its lines about a refusal are reported
  --no-validate      skip the emulated-Envoy check (Envoy is then the only judge)
  --no-wait          publish without waiting for Envoy (e.g. before it starts)
  -h, --help         this help

--admin, --envoy-dir and --envoy-log are remembered in DIR/${SETTINGS_FILE}.

exit status:
  0  live in Envoy; or unchanged (nothing published: Envoy would skip it);
     or published with --no-wait
  1  Envoy refused it (config_fail): the running filter keeps serving and DIR
     is restored to the previous resource
  2  bad arguments or input, refused by the validation (the filter's own
     message), nothing to roll back, or another deploy running; nothing published
  3  no verdict: Envoy's admin unreachable (nothing published), or no verdict
     within --timeout (left published; --rollback restores the previous one)`;

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

/** argv → options, "help", or an error message. */
export function parseDeployArgs(argv: string[]): DeployOptions | "help" | string {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        wasm: { type: "string" },
        config: { type: "string" },
        dir: { type: "string" },
        admin: { type: "string" },
        timeout: { type: "string" },
        rollback: { type: "boolean" },
        "envoy-dir": { type: "string" },
        "envoy-log": { type: "string" },
        "no-validate": { type: "boolean" },
        "no-wait": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (values.help) return "help";
  if (!values.dir) return "--dir DIR is required";
  if (values.rollback && (values.wasm || values.config)) return "--rollback takes no --wasm or --config";
  if (!values.rollback && !values.wasm) return "--wasm FILE is required (or --rollback)";
  let timeoutS: number | undefined;
  if (values.timeout !== undefined) {
    timeoutS = Number(values.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0) return `--timeout must be a positive number of seconds, got "${values.timeout}"`;
  }
  return {
    dir: values.dir,
    wasm: values.wasm,
    config: values.config,
    admin: values.admin,
    timeoutS,
    rollback: values.rollback ?? false,
    validate: !values["no-validate"],
    wait: !values["no-wait"],
    envoyDir: values["envoy-dir"],
    envoyLog: values["envoy-log"],
  };
}

// ------------------------------------------------------------------ deploy

interface Settings {
  admin?: string;
  envoyDir?: string;
  envoyLog?: string;
}

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

// ------------------------------------------------------------------ Envoy

/**
 * Envoy lines that read as something they are not. "Plugin configured to
 * fail closed failed to load" is logged by Envoy 1.40 for every module that
 * does not load, whatever `failure_policy` says: it tests the deprecated
 * `fail_open` flag, which FAIL_OPEN does not set. On an update the policy
 * does not come into play: the module never served, Envoy refuses the
 * update and the running filter keeps serving.
 */
export function notesOn(lines: string[]): string[] {
  if (!lines.some((l) => l.includes("fail closed failed to load"))) return [];
  return [
    'note: "Plugin configured to fail closed failed to load" is Envoy\'s wording for any module that does not load; ' +
      "it reads the deprecated fail_open flag, not failure_policy (FAIL_OPEN here). Nothing failed closed: " +
      "the update was refused before the module served a request, and the running filter keeps serving.",
  ];
}

/**
 * The running Envoy's listeners that carry the filter must buffer more than
 * the new configuration's maxBodyBytes (src/envoy/limits.ts). An admin whose
 * config dump cannot be read is not a refusal (the verdict step reports it).
 */
async function bodyLimitProblems(admin: string, pluginConfig: string): Promise<string[]> {
  let dump: unknown;
  try {
    const res = await fetch(`${admin}/config_dump`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return [];
    dump = await res.json();
  } catch {
    return [];
  }
  const maxBody = maxBodyBytesOf(pluginConfig);
  const problems: string[] = [];
  for (const l of listenersWithFilter(listenersFromConfigDump(dump))) {
    const p = bodyLimitProblem(l.name, l.bufferLimit, maxBody);
    if (p) problems.push(p);
  }
  return problems;
}

async function probeAdmin(admin: string): Promise<EcdsCounters | string> {
  try {
    const counters = await readEcdsCounters(admin);
    if (counters === null) return `Envoy at ${admin} has no ECDS filter named llm-picker (is it running envoy-ecds.yaml?)`;
    return counters;
  } catch (error) {
    return `cannot reach Envoy's admin at ${admin} (${(error as Error).message})`;
  }
}

function logSize(file: string | undefined): number | null {
  if (!file) return null;
  try {
    return statSync(file).size;
  } catch {
    return null;
  }
}

/**
 * Envoy may write (and flush) its log a moment after the counters move: wait
 * for the first lines, then up to 300 ms more for the "config update
 * rejected" line (Envoy's file log is flushed at once for critical lines only,
 * so that warning can stay buffered), 2 s at most.
 */
async function awaitEnvoyLogLines(file: string | undefined, from: number | null, since: number): Promise<string[]> {
  if (!file) return [];
  const start = Date.now();
  let firstSeen: number | null = null;
  let lines = envoyLogLines(file, from, since);
  while (!lines.some((l) => /rejected/i.test(l))) {
    const now = Date.now();
    if (lines.length > 0) firstSeen ??= now;
    if (now - start > 2000 || (firstSeen !== null && now - firstSeen > 300)) break;
    await new Promise((r) => setTimeout(r, 50));
    lines = envoyLogLines(file, from, since);
  }
  return lines;
}

/**
 * Envoy's log lines about the refused update (wasm/config warnings and worse)
 * written after byte `from`, dropping lines stamped before `sinceMs` (a line
 * of an earlier update can be flushed late). Envoy stamps local time; a line
 * is dropped only when it is older under both the local and the UTC reading
 * (a container's time zone may differ from ours).
 */
export function envoyLogLines(file: string | undefined, from: number | null, sinceMs = 0): string[] {
  if (!file) return [];
  let text: string;
  try {
    const fd = openSync(file, "r");
    try {
      const size = statSync(file).size;
      const start = from !== null && from <= size ? from : 0;
      const buffer = Buffer.alloc(Math.min(size - start, 4 * 1024 * 1024));
      readSync(fd, buffer, 0, buffer.length, start);
      text = buffer.toString("utf8");
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split("\n")) {
    // [2026-01-01 00:00:00.000][123][critical][wasm] [source/...:626] Plugin llm-picker failed to load
    const m = /^\[([^\]]*)\]\[\d+\]\[(warning|error|critical)\]\[(wasm|config)\] \[[^\]]*\] (.*)$/.exec(line);
    if (m && !stampedBefore(m[1], sinceMs)) out.push(`[${m[2]}][${m[3]}] ${m[4]}`);
  }
  return [...new Set(out)];
}

/** "2026-01-01 00:00:00.000" is before `ms` whether read as local time or as UTC. */
function stampedBefore(stamp: string, ms: number): boolean {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3})/.exec(stamp);
  if (!m) return false;
  const [y, mo, d, h, mi, sec, milli] = m.slice(1).map(Number);
  const local = new Date(y, mo - 1, d, h, mi, sec, milli).getTime();
  const utc = Date.UTC(y, mo - 1, d, h, mi, sec, milli);
  return local < ms && utc < ms;
}

// ------------------------------------------------------------------ the directory

function readCurrent(dir: string): string | null {
  const path = join(dir, ECDS_FILE);
  return existsSync(path) ? readFileSync(path, "utf8") : null;
}

/** Joins without resolving against this machine (Envoy's path may not exist here). */
function joinEnvoyPath(envoyDir: string, file: string): string {
  return `${envoyDir.replace(/\/+$/, "")}/${file}`;
}

function writeModule(dir: string, name: string, bytes: Uint8Array): void {
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

function pushHistory(dir: string, text: string): string {
  const h = join(dir, HISTORY_DIR);
  mkdirSync(h, { recursive: true });
  const last = historyEntries(dir).at(-1);
  const n = last ? Number(basename(last, ".yaml")) + 1 : 1;
  const path = join(h, `${String(n).padStart(6, "0")}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** Keeps the newest HISTORY_LIMIT history entries and the modules that they or the current resource name. */
function collectGarbage(dir: string): void {
  const history = historyEntries(dir);
  for (const old of history.slice(0, Math.max(0, history.length - HISTORY_LIMIT))) rmSync(old, { force: true });
  const referenced = new Set<string>();
  for (const path of [join(dir, ECDS_FILE), ...historyEntries(dir)]) {
    const info = existsSync(path) ? readEcdsResource(readFileSync(path, "utf8")) : null;
    if (info) referenced.add(basename(info.wasmFile));
  }
  for (const f of readdirSync(dir)) if (MODULE_RE.test(f) && !referenced.has(f)) rmSync(join(dir, f), { force: true });
}

function loadSettings(dir: string, o: DeployOptions): Settings {
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
function acquireLock(dir: string): { release(): void } | string {
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
