/**
 * `llm-picker inspect`: runs the built filter in the emulated Envoy
 * (src/host) on one request and prints the filter's decision line, the
 * a stable contract (later fields are only ever added; README "Inspect a decision"):
 *
 *   {"decision":"route","request":{...},"prefix":{"blockSize":N,"hashes":[...]},
 *    "endpoint":"ip:port","scores":{...},"total":{...},...}
 *   {"decision":"reject","status":400,"error":{...the OpenAI error object...}}
 *   {"decision":"pass",...}
 *
 * The line is the filter's own (filter state `llm_picker.decision`, written
 * when the configuration says `"inspect": true`, see
 * assembly/picker/inspect.ts `inspectLine`); this command only builds the
 * configuration, replays `--state` and prints it unchanged.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { ProxyWasmHost, ProxyWasmHostError, runRequest, type LogEntry } from "../host/index.js";
import { CliError, type Command } from "./command.js";

/** Repository root (src/cli/ → ../..), so the default module is found from any directory. */
const ROOT = resolve(import.meta.dirname, "..", "..");
export const DEFAULT_WASM = resolve(ROOT, "build", "debug.wasm");
/** The pool when neither the configuration, --endpoints nor --state names one. */
export const DEFAULT_ENDPOINT = "127.0.0.1:8001";
/** Filter state the filter writes with `"inspect": true` (assembly/filter/stream.ts INSPECT_PROPERTY). */
export const DECISION_PROPERTY = "llm_picker.decision";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** Everything `inspect` needs, already read from files. */
export interface InspectOptions {
  /** The filter module (path or bytes). Default build/debug.wasm. */
  wasm?: string | Uint8Array;
  /** The user's plugin configuration text (`--config FILE`), or undefined. */
  configText?: string;
  /** `:path` of the request. Default "/" (the API is chosen by body shape, as the seed does). */
  path?: string;
  /** `:method`. Default POST. */
  method?: string;
  /** Extra request headers, in order. */
  headers?: Array<[string, string]>;
  /** The request body; undefined sends a request without a body. */
  body?: Uint8Array;
  /** Endpoint states (`--endpoints FILE`), passed to the filter as `snapshot`. */
  endpoints?: Json;
  /** Bodies already routed to each endpoint, in order (`--state FILE`). */
  state?: Record<string, Json[]>;
  /** Tie-break seed (the filter's `seed`; must be ≥ 1, 0 means "from the clock" there). */
  seed?: number;
}

/** The result: the printed line, its parsed form and the filter's warnings. */
export interface InspectResult {
  line: string;
  decision: JsonObject;
  /** Log lines at warn or above (printed on stderr by the command). */
  warnings: LogEntry[];
}

const USAGE = `usage: llm-picker inspect [options] [FILE|-]

Runs the built filter in the emulated Envoy on one request body (FILE, or
stdin with -, or no body at all when neither is given) and prints the
filter's decision as one JSON line.

options:
  --config FILE      plugin configuration (JSON) to run the filter with
  --path PATH        request :path (default "/": the API is chosen by body shape)
  --method M         request :method (default POST)
  --header 'k: v'    add a request header (repeatable)
  --endpoints FILE   endpoint states {"ip:port":{"waiting":n,...}}; their
                     addresses are the pool unless the configuration lists one
  --state FILE       {"ip:port":[<body>,...]}: bodies already routed to each
                     endpoint, replayed into the prefix index first
  --seed N           tie-break seed (N >= 1) for a deterministic choice
  --wasm FILE        filter module (default build/debug.wasm)
  -h, --help         this help

exit status: 0 with a decision line (route, reject or pass), 2 for bad
arguments or input (the filter's own message for a refused configuration),
1 when the filter produced no decision.`;

export const inspectCommand: Command = {
  async run(argv: string[]): Promise<number> {
    const parsed = parseInspectArgs(argv);
    if (parsed === "help") {
      process.stdout.write(USAGE + "\n");
      return 0;
    }
    const result = await inspect(parsed);
    for (const w of result.warnings) process.stderr.write(`llm-picker inspect: [${w.levelName}] ${w.message}\n`);
    process.stdout.write(result.line + "\n");
    return 0;
  },
};

// ------------------------------------------------------------------ arguments

/** Parses the command line and reads the files it names. */
export function parseInspectArgs(argv: string[]): InspectOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: "string" },
        path: { type: "string" },
        method: { type: "string" },
        header: { type: "string", multiple: true },
        endpoints: { type: "string" },
        state: { type: "string" },
        seed: { type: "string" },
        wasm: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  if (positionals.length > 1) throw new CliError(`expected at most one body FILE, got ${positionals.length}: ${positionals.join(" ")}`);
  const options: InspectOptions = {
    path: values.path,
    method: values.method,
    headers: (values.header ?? []).map(parseHeader),
    wasm: values.wasm,
  };
  if (values.config !== undefined) options.configText = readText(values.config, "--config");
  if (values.endpoints !== undefined) options.endpoints = readJson(values.endpoints, "--endpoints");
  if (values.state !== undefined) options.state = readState(values.state);
  if (values.seed !== undefined) options.seed = parseSeed(values.seed);
  const file = positionals[0];
  if (file !== undefined) options.body = file === "-" ? readStdin() : readBytes(file, "body FILE");
  if (values.wasm !== undefined) readBytes(values.wasm, "--wasm"); // fail early with a clear message
  return options;
}

/** "k: v" → ["k", "v"]; pseudo-headers keep their leading colon (":authority: x"). */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(":", text.startsWith(":") ? 1 : 0);
  const name = colon > 0 ? text.slice(0, colon).trim().toLowerCase() : "";
  if (name.length === 0 || name === ":") throw new CliError(`--header "${text}": expected 'name: value'`);
  return [name, text.slice(colon + 1).trim()];
}

function parseSeed(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new CliError(`--seed "${text}": expected an integer from 1 to 2^53-1 (the filter reads seed 0 as "seed from the clock")`);
  }
  return n;
}

function readBytes(file: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new CliError(`${what} ${file}: cannot read (${e.code === "ENOENT" ? "no such file" : e.message})`);
  }
}

function readText(file: string, what: string): string {
  return new TextDecoder().decode(readBytes(file, what));
}

function readStdin(): Uint8Array {
  try {
    return new Uint8Array(readFileSync(0));
  } catch (error) {
    throw new CliError(`cannot read the body from stdin: ${(error as Error).message}`);
  }
}

function readJson(file: string, what: string): Json {
  const text = readText(file, what);
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new CliError(`${what} ${file}: invalid JSON (${(error as Error).message})`);
  }
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function readState(file: string): Record<string, Json[]> {
  const state = readJson(file, "--state");
  if (!isObject(state)) throw new CliError(`--state ${file}: expected an object {"ip:port": [<body>, ...]}`);
  for (const [address, bodies] of Object.entries(state)) {
    if (!Array.isArray(bodies)) throw new CliError(`--state ${file}: "${address}" must map to an array of request bodies`);
  }
  return state as Record<string, Json[]>;
}

// ------------------------------------------------------------------ configuration

/**
 * The plugin configuration the filter runs with: the user's, plus
 * `inspect: true`, the seed, the endpoints snapshot, scraping off unless the
 * user set `metrics.enabled` (nothing answers callouts here), and a pool.
 * Returns null when the user's text is not a JSON object: the filter then
 * gets the text unchanged so that its own error message is reported.
 */
export function buildConfig(options: InspectOptions): JsonObject | null {
  let user: JsonObject = {};
  if (options.configText !== undefined && options.configText.trim().length > 0) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(options.configText);
    } catch {
      return null;
    }
    if (!isObject(parsed)) return null;
    user = parsed;
  }
  // `endpoints` goes first: the filter takes the snapshot's addresses as the
  // pool only when no endpoint was read before the snapshot.
  const config: JsonObject = { endpoints: user.endpoints ?? poolOf(options, user) };
  for (const [key, value] of Object.entries(user)) if (key !== "endpoints") config[key] = value;
  config.inspect = true;
  if (options.seed !== undefined) config.seed = options.seed;
  if (options.endpoints !== undefined) config.snapshot = options.endpoints;
  const metrics = config.metrics;
  if (metrics === undefined) config.metrics = { enabled: false };
  else if (isObject(metrics) && !("enabled" in metrics)) config.metrics = { ...metrics, enabled: false };
  return config;
}

/** Union of the --endpoints (or configured snapshot) and --state addresses, in order; else the default. */
function poolOf(options: InspectOptions, user: JsonObject): Json {
  const addresses: string[] = [];
  const add = (a: string) => {
    if (!addresses.includes(a)) addresses.push(a);
  };
  const snapshot = options.endpoints ?? user.snapshot;
  if (isObject(snapshot)) Object.keys(snapshot).forEach(add);
  if (options.state) Object.keys(options.state).forEach(add);
  if (addresses.length === 0) add(DEFAULT_ENDPOINT);
  return addresses.map((address) => ({ address }));
}

/** The configuration for replaying one endpoint's bodies: same index layout, a pool of just that endpoint. */
function replayConfig(config: JsonObject, address: string): JsonObject {
  const configured = Array.isArray(config.endpoints) ? config.endpoints.find((e) => isObject(e) && e.address === address) : undefined;
  const replay: JsonObject = { ...config, endpoints: [configured ?? { address }], inspect: false };
  delete replay.snapshot;
  return replay;
}

// ------------------------------------------------------------------ running the filter

/** Runs the filter on one request and returns its decision line. Throws `CliError`. */
export async function inspect(options: InspectOptions): Promise<InspectResult> {
  const config = buildConfig(options);
  const configText = config === null ? (options.configText ?? "") : JSON.stringify(config);
  const host = await createHost(options, configText);
  try {
    if (options.state) await replayState(host, config!, options);
    if (options.state && !host.reconfigure(configText)) {
      throw new CliError(`the filter refused the configuration after the --state replay:\n${criticalLines(host.logs())}`);
    }
    const { stream, localResponse } = await runRequest(host, {
      method: options.method ?? "POST",
      path: options.path ?? "/",
      headers: options.headers ?? [],
      body: options.body,
    });
    const state = stream.filterState(DECISION_PROPERTY);
    if (state === undefined) {
      const why =
        host
          .traps()
          .map((t) => `trap in ${t.callback}: ${t.message}`)
          .join("; ") ||
        (localResponse ? `a ${localResponse.status} reply (${localResponse.details}) came before the filter decided` : "no filter state was written");
      throw new CliError(`the filter produced no decision: ${why}`, 1);
    }
    const line = new TextDecoder().decode(state);
    let decision: JsonObject;
    try {
      decision = JSON.parse(line) as JsonObject;
    } catch (error) {
      throw new CliError(`the filter's decision line is not JSON (${(error as Error).message}): ${line}`, 1);
    }
    return { line, decision, warnings: host.logs("warn").filter((l) => !isConfigNotice(l)) };
  } finally {
    host.close();
  }
}

async function createHost(options: InspectOptions, configText: string): Promise<ProxyWasmHost> {
  const wasm = options.wasm ?? DEFAULT_WASM;
  if (typeof wasm === "string") {
    try {
      readFileSync(wasm, { flag: "r" });
    } catch {
      throw new CliError(`filter module ${wasm} not found (build it with \`npm run asbuild:debug\`, or pass --wasm FILE)`);
    }
  }
  try {
    return await ProxyWasmHost.create({
      wasm,
      pluginConfig: configText,
      logLevel: "warn",
      // The filter, not the emulated Envoy buffer, should judge the body's size.
      bufferLimitBytes: Math.max(64 * 1024 * 1024, (options.body?.length ?? 0) + 1024 * 1024),
    });
  } catch (error) {
    if (error instanceof ProxyWasmHostError) {
      const lines = criticalLines(error.logs);
      if (lines) throw new CliError(`the filter refused the configuration:\n${lines}`);
      throw new CliError(`the filter did not start: ${error.message}`, 1);
    }
    throw error;
  }
}

/** The filter's critical log lines (it names the offending field there), de-duplicated across VMs. */
function criticalLines(logs: LogEntry[]): string {
  return [...new Set(logs.filter((l) => l.levelName === "critical").map((l) => l.message))].join("\n");
}

/** Envoy's own note about a rejected update is not news to the user. */
function isConfigNotice(entry: LogEntry): boolean {
  return entry.message.startsWith("config update rejected");
}

/**
 * Replays `--state` into the prefix index: for each endpoint,
 * a pool of just that endpoint, then its bodies in order, each answered 200 so
 * the filter keeps the credit. Shared data (the index) survives reconfiguring
 * because the vm_id stays the same.
 */
async function replayState(host: ProxyWasmHost, config: JsonObject, options: InspectOptions): Promise<void> {
  for (const [address, bodies] of Object.entries(options.state!)) {
    if (!host.reconfigure(JSON.stringify(replayConfig(config, address)))) {
      throw new CliError(`--state: the filter refused a pool of "${address}":\n${criticalLines(host.logs())}`);
    }
    for (let i = 0; i < bodies.length; i++) {
      const body = bodies[i];
      const { stream, forwarded, localResponse } = await runRequest(host, {
        method: options.method ?? "POST",
        path: options.path ?? "/",
        headers: options.headers ?? [],
        body: typeof body === "string" ? body : JSON.stringify(body),
        keepOpen: true,
      });
      if (localResponse) {
        stream.end("complete");
        throw new CliError(`--state: body ${i} of "${address}" was refused with ${localResponse.status}: ${localResponse.bodyText}`);
      }
      const routed = forwarded?.headers.find(([k]) => k === "x-gateway-destination-endpoint")?.[1];
      stream.sendResponseHeaders([[":status", "200"]], true);
      stream.end("complete");
      if (routed !== address)
        throw new CliError(
          `--state: body ${i} of "${address}" was routed to ${routed ?? "nowhere"} (is it an inference request for --path ${options.path ?? "/"}?)`,
        );
    }
  }
}
