/**
 * What one routing-bench run needs around its replay: request bodies as sent,
 * the simulators' tokenizer warmed up, the filter's scrapes landed, a progress
 * bar, percentiles of the outcomes and the per-request log of the servers.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EnvoyProcess } from "../envoy/process.js";
import type { SimPool } from "../sim/server.js";
import { postJson } from "./routing-client.js";
import { WARM_SKIP_SHARE } from "./routing-types.js";

/** The trace being replayed: its requests (paths and bodies). */
interface WarmTrace {
  requests: Array<{ path: string }>;
}

/** Trace requests, some of them warm-up (traces/trace.ts). */
type Timed = { requests: Array<{ t: number; warmup?: boolean }> };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `v` to `d` decimals for a report (NaN stays NaN, so a missing figure is not read as 0). */
export function roundTo(v: number, d = 1): number {
  return Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : NaN;
}

/** Nearest-rank percentile of an ascending list (NaN when empty). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/** Requests each simulated server admitted since the pool's last reset (warm-up left out), and the busiest one's count over the mean (1 = even). */
export function loadSpread(pool: SimPool): { served: number[]; maxOverMean: number } {
  const served = pool.stats().map((s) => s.requests - s.warmup.requests);
  const mean = served.reduce((a, b) => a + b, 0) / Math.max(1, served.length);
  return { served, maxOverMean: mean > 0 ? Math.max(...served) / mean : 0 };
}

/** A progress bar of `width` characters. */
export function bar(done: number, total: number, width = 30): string {
  const filled = Math.round((done / Math.max(1, total)) * width);
  return "█".repeat(filled) + "░".repeat(width - filled);
}

/** Request body as sent: the trace's body asking for streaming (TTFT is measured on the stream). */
export function streamingBody(body: Record<string, unknown>): string {
  return JSON.stringify({ ...body, stream: true });
}

/** Tokenizes every prompt once (memoised in the simulators) so the first policy does not pay it during its run. */
export async function warmTokenizer(pool: SimPool, trace: WarmTrace, bodies: string[]): Promise<void> {
  let next = 0;
  const url = pool.urls[0];
  const worker = async () => {
    for (let i = next++; i < bodies.length; i = next++) {
      await postJson(`${url}/sim/prefix?path=${encodeURIComponent(trace.requests[i].path)}`, bodies[i]);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

/** Waits until the filter reports every endpoint healthy (its scrapes have landed), at most `timeoutMs`. */
export async function waitFilterHealthy(envoy: EnvoyProcess, endpoints: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const stats = await envoy.stats("llm_picker\\.endpoint\\.healthy\\.");
    const values = Object.values(stats);
    if (values.length >= endpoints && values.every((v) => v === 1)) return true;
    await sleep(50);
  }
  return false;
}

/** The outcomes of the measured requests due after the first WARM_SKIP_SHARE of them (ties at the cut included; warm-up requests left out). */
export function warmOutcomes<T>(trace: Timed, outcomes: T[]): T[] {
  const measured = (i: number) => trace.requests[i].warmup !== true;
  const times = trace.requests
    .filter((_, i) => measured(i))
    .map((r) => r.t)
    .sort((a, b) => a - b);
  if (times.length === 0) return [];
  const cut = times[Math.floor(times.length * WARM_SKIP_SHARE)];
  return outcomes.filter((_, i) => measured(i) && trace.requests[i].t >= cut);
}

/** Starts (dir given) or stops recording every request the pool's servers serve (SimEngine.servedLog). */
export function recordServed(pool: SimPool, on: boolean): void {
  const engines = pool.servers.map((s) => s.engine);
  for (const e of engines) {
    e.servedLog = on ? [] : null;
    e.peers = on ? engines : null;
  }
}

/**
 * Writes what the pool's servers recorded as `dir/<trace>-<policy>.jsonl`:
 * one line per request, in order of first token, model ms from the run's
 * first arrival: the server (index in the pool), arrival, admission, prefill
 * start, first token, prompt, cached and output tokens, and for a request that
 * ended, its end and the KV blocks free just before. Returns the file.
 */
export function writeServedLog(pool: SimPool, dir: string, trace: string, policy: string): string {
  const rows = pool.servers.flatMap((s, server) => (s.engine.servedLog ?? []).map((r) => ({ server, ...r })));
  // A loop, not Math.min(...rows): a long run's rows overflow the call's arguments.
  const t0 = rows.reduce((m, r) => Math.min(m, r.arrivalMs), Infinity);
  const at = (v: number) => Math.round((v - t0) * 100) / 100;
  rows.sort((a, b) => a.firstTokenMs - b.firstTokenMs);
  const lines = rows.map((r) =>
    JSON.stringify({
      server: r.server,
      arrivalMs: at(r.arrivalMs),
      admittedMs: at(r.admittedMs),
      prefillStartMs: at(r.prefillStartMs),
      firstTokenMs: at(r.firstTokenMs),
      promptTokens: r.promptTokens,
      cachedTokens: r.cachedTokens,
      outputTokens: r.outputTokens,
      runningAtArrival: r.runningAtArrival,
      waitingAtArrival: r.waitingAtArrival,
      freeBlocksAtArrival: r.freeBlocksAtArrival,
      ...(r.doneMs === undefined ? {} : { doneMs: at(r.doneMs), freeBlocksBeforeDone: r.freeBlocksBeforeDone }),
      ...(r.cachedAtArrivalByServer === undefined ? {} : { cachedAtArrivalByServer: r.cachedAtArrivalByServer }),
      ...(r.predictedTtftMsByServer === undefined ? {} : { predictedTtftMsByServer: r.predictedTtftMsByServer }),
      ...(r.tag === undefined ? {} : { tag: r.tag }),
      ...(r.decision === undefined ? {} : { decision: r.decision }),
      ...(r.warmup === undefined ? {} : { warmup: r.warmup }),
    }),
  );
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${trace}-${policy}.jsonl`);
  writeFileSync(file, lines.join("\n") + (lines.length > 0 ? "\n" : ""));
  return file;
}
