/**
 * What one routing-bench run needs around its replay: request bodies as sent,
 * the simulators' tokenizer warmed up, the filter's scrapes landed, a progress
 * bar and percentiles of the outcomes.
 */
import type { EnvoyProcess } from "../envoy/process.js";
import type { SimPool } from "../sim/server.js";
import { postJson } from "./routing-client.js";

/** The trace being replayed: its requests (paths and bodies). */
interface WarmTrace {
  requests: Array<{ path: string }>;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Nearest-rank percentile of an ascending list (NaN when empty). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/** Requests each simulated server admitted since the pool's last reset, and the busiest one's count over the mean (1 = even). */
export function loadSpread(pool: SimPool): { served: number[]; maxOverMean: number } {
  const served = pool.stats().map((s) => s.requests);
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
