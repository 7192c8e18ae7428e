/**
 * The `precise` reference policy: a router fed with the
 * servers' actual cache contents, as routers driven by KV-cache events are.
 * For each request it asks every simulator how many prompt tokens it holds
 * (POST /sim/prefix, which looks the prompt up without serving it) and scores
 * the servers like the filter's defaults: prefix (cached share of the prompt,
 * weight 3), queue (waiting, min-max, 2), KV cache (1 − usage, 2), in flight
 * (requests this client has open there, min-max, 1), with the filter's
 * hot-spot guard (load = waiting + running + in flight; max − min > 64 and
 * max > 1.5 × min drops the prefix weight). Load is read live from the
 * simulators (no scrape delay): this is the upper reference.
 * Ties go to the lowest load, then rotate.
 */
import type { SimServer } from "../sim/server.js";
import { postJson } from "./routing-client.js";

export const PRECISE_WEIGHTS = { prefix: 3, queue: 2, kvCache: 2, inFlight: 1 };
const GUARD_ABS = 64;
const GUARD_REL = 1.5;

export interface PreciseCandidate {
  cachedTokens: number;
  promptTokens: number;
  waiting: number;
  running: number;
  kvUsage: number;
  inFlight: number;
}

function minMaxLowerIsBetter(values: number[]): number[] {
  const min = Math.min(...values);
  const max = Math.max(...values);
  return values.map((v) => (max === min ? 1 : (max - v) / (max - min)));
}

/** The index of the chosen candidate (pure: exported for tests). `rotation` breaks remaining ties. */
export function pickPrecise(c: PreciseCandidate[], rotation: number): number {
  const loads = c.map((x) => x.waiting + x.running + x.inFlight);
  const maxLoad = Math.max(...loads);
  const minLoad = Math.min(...loads);
  const guard = maxLoad - minLoad > GUARD_ABS && maxLoad > GUARD_REL * minLoad;
  const queue = minMaxLowerIsBetter(c.map((x) => x.waiting));
  const inFlight = minMaxLowerIsBetter(c.map((x) => x.inFlight));
  const totals = c.map(
    (x, i) =>
      (guard ? 0 : PRECISE_WEIGHTS.prefix) * (x.promptTokens > 0 ? x.cachedTokens / x.promptTokens : 0) +
      PRECISE_WEIGHTS.queue * queue[i] +
      PRECISE_WEIGHTS.kvCache * (1 - x.kvUsage) +
      PRECISE_WEIGHTS.inFlight * inFlight[i],
  );
  const best = Math.max(...totals);
  let tied = totals.map((t, i) => (best - t <= 1e-9 ? i : -1)).filter((i) => i >= 0);
  const lowest = Math.min(...tied.map((i) => loads[i]));
  tied = tied.filter((i) => loads[i] === lowest);
  return tied[rotation % tied.length];
}

export class PreciseRouter {
  private rotation = 0;
  readonly inFlight: number[];
  constructor(private readonly servers: SimServer[]) {
    this.inFlight = servers.map(() => 0);
  }

  /** Index of the server to use for this request body. */
  async pick(path: string, body: string): Promise<number> {
    const prefixes = await Promise.all(
      this.servers.map((s) => postJson<{ cachedTokens: number; promptTokens: number }>(`${s.url}/sim/prefix?path=${encodeURIComponent(path)}`, body)),
    );
    const candidates = this.servers.map((s, i) => {
      const engine = s.engine;
      return {
        cachedTokens: prefixes[i].cachedTokens,
        promptTokens: prefixes[i].promptTokens,
        waiting: engine.waiting,
        running: engine.running,
        kvUsage: engine.cache.usage,
        inFlight: this.inFlight[i],
      };
    });
    return pickPrecise(candidates, this.rotation++);
  }
}
