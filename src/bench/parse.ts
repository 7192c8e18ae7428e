/**
 * `npm run bench:parse`: µs per request and MB/s for 2 KB,
 * 100 KB and 1 MB chat-completions bodies through the release filter
 * (build/llm_picker.wasm) in the emulated Envoy (src/host), next to V8's
 * native JSON.parse on the same bodies as the ceiling, in the same run.
 *
 * One filter request = request headers, the body (copied across the ABI by
 * proxy_get_buffer_bytes), the decision (parse, hash, prefix index, pool
 * state, scoring, routing header), a 200 response's headers and the end of
 * the stream. So the figure includes everything the filter does for a
 * request plus the emulator's own JavaScript; it is an upper bound of the
 * filter's cost. Host calls per request come from host.hostCallCounts().
 *
 * Timing: the filter, JSON.parse, decode+JSON.parse and the parser alone run
 * in interleaved rounds (ROUNDS); each figure is its best round, and the
 * "same-round ratio" column is filter / JSON.parse throughput per round
 * (median, min–max), steadier on a shared machine than a ratio of bests.
 *
 * Options: --iterations-scale X (default 1) scales the iteration counts;
 * --wasm PATH times another build of the filter instead of build/llm_picker.wasm;
 * --baseline-wasm PATH also times that build in the same rounds (before/after
 * in the same conditions: a second table with the per-round ratio).
 */
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { ProxyWasmHost, type HeaderPairs } from "../host/index.js";
import { sizedChatBody } from "../requests/bodies.js";
import { ensureBuilt, outputOf } from "../wasm/build.js";
import { loadUnits } from "../wasm/units.js";

export const RELEASE_WASM = outputOf("release");
export const KB = 1024;
export const MB = 1024 * 1024;

// ------------------------------------------------------------------ running requests

export const CHAT_HEADERS: HeaderPairs = [
  [":method", "POST"],
  [":path", "/v1/chat/completions"],
  [":authority", "llm.local"],
  [":scheme", "http"],
  ["content-type", "application/json"],
  ["x-request-id", "bench"],
];

/** One request through the filter, synchronously: headers, body, a 200 response, end. Returns the routed endpoint. */
export function sendRequest(host: ProxyWasmHost, headers: HeaderPairs, body: Uint8Array): string | undefined {
  const s = host.newHttpStream();
  s.sendRequestHeaders(headers, false);
  s.sendRequestBody(body, true);
  // requestHeaders(), not forwardedRequest(): the latter decodes the whole body to text (emulator cost, not the filter's).
  const routed = s.requestHeaders()?.find(([k]) => k === "x-gateway-destination-endpoint")?.[1];
  // As envoy/envoy.yaml's route answers: the member that served the request in x-llm-picker-upstream.
  s.sendResponseHeaders(
    routed !== undefined
      ? [
          [":status", "200"],
          ["x-llm-picker-upstream", routed],
        ]
      : [[":status", "200"]],
    true,
  );
  s.end("complete");
  return routed;
}

/** Host calls made while `fn` ran, by import name. */
export function countCalls(host: ProxyWasmHost, fn: () => void): Map<string, number> {
  const before = host.hostCallCounts();
  fn();
  const after = host.hostCallCounts();
  const diff = new Map<string, number>();
  for (const [name, n] of after) {
    const d = n - (before.get(name) ?? 0);
    if (d !== 0) diff.set(name, d);
  }
  return diff;
}

/**
 * Mean ns per call of `fn` over `n` calls, after `warmup` calls; the best of
 * `rounds` rounds (the machine is shared: the minimum is the least disturbed).
 */
export function timeNs(n: number, warmup: number, fn: (i: number) => void, rounds = 3): number {
  for (let i = 0; i < warmup; i++) fn(i);
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / n);
  }
  return best;
}

/**
 * Like timeNs for several functions at once, their rounds interleaved
 * (A B C, A B C, ...) so that load from other processes on a shared machine
 * hits all of them alike; the best round of each.
 */
export function timeInterleaved(n: number, warmup: number, fns: Array<(i: number) => void>, rounds = 5): number[] {
  return timeInterleavedRounds(n, warmup, fns, rounds).map((perRound) => Math.min(...perRound));
}

/**
 * The rounds behind timeInterleaved: [fn][round] = mean ns per call in that
 * round. Functions timed side by side in one round saw about the same load,
 * so a ratio per round (then its median) is steadier than a ratio of bests.
 */
export function timeInterleavedRounds(n: number, warmup: number, fns: Array<(i: number) => void>, rounds = 5): number[][] {
  for (const fn of fns) for (let i = 0; i < warmup; i++) fn(i);
  const all = fns.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, k) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) fn(i);
      all[k].push(Number(process.hrtime.bigint() - start) / n);
    });
  }
  return all;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function createHost(config: Record<string, unknown>, wasm = RELEASE_WASM): Promise<ProxyWasmHost> {
  if (wasm === RELEASE_WASM) ensureBuilt("release");
  return ProxyWasmHost.create({ wasm, pluginConfig: JSON.stringify(config), bufferLimitBytes: 64 * MB, logLevel: "warn" });
}

export function machine(): string {
  let model = "unknown CPU";
  try {
    const lscpu = execFileSync("lscpu", { encoding: "utf8" });
    model = /Model name:\s*(.+)/.exec(lscpu)?.[1]?.trim() ?? model;
  } catch {
    // lscpu missing: keep "unknown CPU"
  }
  const cores = (() => {
    try {
      return execFileSync("nproc", { encoding: "utf8" }).trim();
    } catch {
      return "?";
    }
  })();
  return `${model}, ${cores} cores, Node ${process.version}`;
}

export function fmt(n: number, digits = 1): string {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

// ------------------------------------------------------------------ the benchmark

const SIZES: Array<{ label: string; bytes: number; iterations: number }> = [
  { label: "2 KB", bytes: 2 * KB, iterations: 3000 },
  { label: "100 KB", bytes: 100 * KB, iterations: 400 },
  { label: "1 MB", bytes: 1 * MB, iterations: 40 },
];

/** Requests over which host calls are counted. */
const CALL_SAMPLE = 20;
/** Interleaved timing rounds per body (the table keeps the best round of each, plus the per-round ratios). */
const ROUNDS = 7;

const USAGE = `Usage: npm run bench:parse -- [options]
  --iterations-scale X  scale the requests timed per body (default 1: 3000 at 2 KB, 400 at 100 KB, 40 at 1 MB)
  --wasm FILE           filter module to time (default build/llm_picker.wasm)
  --baseline-wasm FILE  another build timed in the same rounds (e.g. an older commit's), reported as a ratio
  -h, --help            this text`;

/**
 * The 100 KB body's message contents rewritten in one script, so the string
 * scan meets the text it is slow on: `mixed` is the body as generated (escapes
 * and non-ASCII words among English ones), `ascii` the same with every
 * non-ASCII character an "e" (escapes kept), `cjk` with every Latin letter a
 * CJK ideograph (3 bytes in UTF-8), `cjk-escaped` that text with every
 * non-ASCII character sent as a \uXXXX escape.
 */
export function scriptBody(body: Uint8Array, script: Script): Uint8Array {
  const doc = JSON.parse(new TextDecoder().decode(body)) as { messages: Array<{ content: string }> };
  for (const m of doc.messages) {
    if (script === "ascii") m.content = m.content.replace(/[^ -~\t\n\r]/gu, "e");
    if (script !== "mixed" && script !== "ascii") m.content = m.content.replace(/[a-zA-Z]/g, (c) => String.fromCharCode(0x4e00 + c.charCodeAt(0)));
  }
  const text = JSON.stringify(doc);
  // As Python's json.dumps sends it by default (ensure_ascii): every UTF-16 unit past ASCII as \uXXXX.
  const escaped = script === "cjk-escaped" ? text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) : text;
  return new TextEncoder().encode(escaped);
}

const SCRIPTS = ["mixed", "ascii", "cjk", "cjk-escaped"] as const;
type Script = (typeof SCRIPTS)[number];

/** The parser alone (build/units-request.wasm) on each script, next to JSON.parse on the same text in the same rounds. */
function printScripts(units: Awaited<ReturnType<typeof loadUnits<"request">>>, scale: number): void {
  console.log("\nthe parser alone by script (100 KB body's contents rewritten; JSON.parse on the same text, same rounds):");
  console.log("| script | bytes | parser µs | parser MB/s | JSON.parse µs | parser / JSON.parse time |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const script of SCRIPTS) {
    const body = scriptBody(sizedChatBody(100 * KB), script);
    const text = new TextDecoder().decode(body);
    const n = Math.max(3, Math.round(200 * scale));
    const rounds = timeInterleavedRounds(
      n,
      Math.max(2, Math.round(n / 10)),
      [
        (i) => {
          if (i === 0 && units.parseRepeat(body, 1, n) !== n) throw new Error(`the ${script} body did not parse`);
        },
        () => JSON.parse(text),
      ],
      ROUNDS,
    );
    const [parserNs, parseNs] = rounds.map((r) => Math.min(...r));
    console.log(
      `| ${script} | ${body.length} | ${fmt(parserNs / 1000)} | ${fmt(body.length / MB / (parserNs / 1e9))} | ${fmt(parseNs / 1000)} | ${fmt((100 * parserNs) / parseNs, 0)}% |`,
    );
  }
}

async function main(): Promise<void> {
  let values: { "iterations-scale"?: string; wasm?: string; "baseline-wasm"?: string; help?: boolean };
  try {
    values = parseArgs({
      options: { "iterations-scale": { type: "string" }, wasm: { type: "string" }, "baseline-wasm": { type: "string" }, help: { type: "boolean", short: "h" } },
    }).values;
  } catch (err) {
    console.error(`bench:parse: ${(err as Error).message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const scale = Number(values["iterations-scale"] ?? "1");
  // --wasm: another build of the filter (e.g. an older commit's, for a before/after in the same conditions).
  const wasm = values.wasm ? resolve(values.wasm) : RELEASE_WASM;
  const config = { endpoints: [{ address: "10.0.0.1:8000" }], metrics: { enabled: false }, seed: 1 };
  const host = await createHost(config, wasm);
  const baseline = values["baseline-wasm"] ? await createHost(config, resolve(values["baseline-wasm"])) : null;
  const versus: string[] = [];
  console.log(`bench:parse on ${machine()}`);
  console.log(`filter: ${wasm} in src/host; config ${JSON.stringify(config)}\n`);
  const units = await loadUnits("request");
  console.log(
    "| body | filter µs/req | filter MB/s | JSON.parse µs | JSON.parse MB/s | filter / JSON.parse | same-round ratio, median (min–max) | parser alone MB/s | decode+JSON.parse MB/s | host calls/req |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  const perCall = new Map<string, { calls: Map<string, number>; n: number }>();
  for (const size of SIZES) {
    const body = sizedChatBody(size.bytes);
    const text = new TextDecoder().decode(body);
    const n = Math.max(3, Math.round(size.iterations * scale));
    const warmup = Math.max(2, Math.round(n / 10));
    if (sendRequest(host, CHAT_HEADERS, body) !== "10.0.0.1:8000") throw new Error(`the ${size.label} body was not routed`);
    // The parser alone: assembly/request/parse.ts parseBody in build/units-request.wasm, body copied in once per call of n parses.
    const parseRepeat = () => {
      if (units.parseRepeat(body, 1, n) !== n) throw new Error("parseRepeat failed");
    };
    const rounds = timeInterleavedRounds(
      n,
      warmup,
      [
        () => sendRequest(host, CHAT_HEADERS, body),
        () => JSON.parse(text),
        () => JSON.parse(new TextDecoder().decode(body)),
        (i) => i === 0 && parseRepeat(),
        ...(baseline ? [() => sendRequest(baseline, CHAT_HEADERS, body)] : []),
      ],
      ROUNDS,
    );
    if (baseline) {
      const baseNs = Math.min(...rounds[4]);
      const perRound = rounds[0].map((f, r) => (100 * f) / rounds[4][r]);
      versus.push(
        `| ${size.label} | ${fmt(Math.min(...rounds[0]) / 1000)} | ${fmt(baseNs / 1000)} | ${fmt((100 * Math.min(...rounds[0])) / baseNs, 0)}% | ${fmt(median(perRound), 0)}% (${fmt(Math.min(...perRound), 0)}–${fmt(Math.max(...perRound), 0)}%) |`,
      );
    }
    const [filterNs, parseNs, decodeParseNs, parserBatchNs] = rounds.map((r) => Math.min(...r));
    // Throughput ratio filter / JSON.parse within each round (both timed back to back).
    const roundRatios = rounds[0].map((f, r) => (100 * rounds[1][r]) / f);
    const parserNs = parserBatchNs; // a round is one batch of n parses, timed over n calls
    const calls = countCalls(host, () => {
      for (let i = 0; i < CALL_SAMPLE; i++) sendRequest(host, CHAT_HEADERS, body);
    });
    const mbps = (ns: number) => body.length / MB / (ns / 1e9);
    let totalCalls = 0;
    for (const v of calls.values()) totalCalls += v;
    console.log(
      `| ${size.label} (${body.length} B) | ${fmt(filterNs / 1000)} | ${fmt(mbps(filterNs))} | ${fmt(parseNs / 1000)} | ${fmt(mbps(parseNs))} | ` +
        `${fmt((100 * parseNs) / filterNs, 0)}% | ${fmt(median(roundRatios), 0)}% (${fmt(Math.min(...roundRatios), 0)}–${fmt(Math.max(...roundRatios), 0)}%) | ` +
        `${fmt(mbps(parserNs))} | ${fmt(mbps(decodeParseNs))} | ${fmt(totalCalls / CALL_SAMPLE)} |`,
    );
    perCall.set(size.label, { calls, n: CALL_SAMPLE });
  }
  printScripts(units, scale);
  if (baseline) {
    console.log(`\nthis build against ${values["baseline-wasm"]}, timed in the same rounds (time per request; 100% = equal):`);
    console.log("| body | filter µs/req (best round) | baseline µs/req (best round) | filter / baseline, best rounds | same-round ratio, median (min–max) |");
    console.log("|---|---:|---:|---:|---:|");
    for (const line of versus) console.log(line);
    baseline.close();
  }
  for (const [label, { calls, n }] of perCall) {
    console.log(`\nhost calls per request (${label}):`);
    for (const [name, v] of [...calls].sort()) console.log(`  ${name}: ${fmt(v / n, 2)}`);
  }
  if (host.traps().length > 0) throw new Error(`the filter trapped: ${JSON.stringify(host.traps())}`);
  host.close();
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await main();
