/**
 * The `oracle` reference policy: the bound the routers are measured
 * against. It knows each simulator's exact cache contents (POST /sim/prefix,
 * as `precise` asks) and exact state (queue, prefill in progress, running
 * batch, read in-process from the engines), and sends each request where the
 * simulator's own latency model predicts the lowest time to first token:
 * wait for a slot and KV blocks or for the prefill work queued ahead, plus
 * overhead, plus the prefill of the tokens not cached there
 * (SimEngine.predictTtftMs; the output length is the body's max_tokens, as
 * the benchmark's simulators use it).
 * Requests it has routed that have not reached their server yet count as
 * queued prefill there, so two picks in quick succession do not both take
 * the same idle server. Ties (equal predictions) go to the server with the
 * fewest running requests, then rotate.
 *
 * It is greedy (best for this request, blind to the requests that follow),
 * so it is a strong reference, not a proven optimum: a router that keeps
 * capacity free for later requests can beat it at the tail.
 */
import type { SimServer } from "../sim/server.js";
import { prefillMs } from "../sim/engine.js";
import { postJson } from "./routing-client.js";

export interface OracleCandidate {
  predictedTtftMs: number;
  running: number;
}

/** The index of the chosen candidate (pure: exported for tests). */
export function pickOracle(c: OracleCandidate[], rotation: number): number {
  const best = Math.min(...c.map((x) => x.predictedTtftMs));
  let tied = c.map((x, i) => (x.predictedTtftMs - best <= 1e-9 ? i : -1)).filter((i) => i >= 0);
  const fewest = Math.min(...tied.map((i) => c[i].running));
  tied = tied.filter((i) => c[i].running === fewest);
  return tied[rotation % tied.length];
}

/** max_tokens of the body (the simulators' output length in the benchmark's "maxTokens" mode); 128 when absent. */
function maxTokensOf(body: string): number {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    const v = parsed.max_tokens ?? parsed.max_output_tokens;
    return typeof v === "number" && v > 0 ? v : 128;
  } catch {
    return 128;
  }
}

export class OracleRouter {
  private rotation = 0;
  readonly inFlight: number[];
  /** Predicted prefill ms of picks not yet submitted to each engine, oldest first. */
  private inTransit: number[][];
  private sent: number[];
  private readonly submittedAtStart: number[];

  constructor(private readonly servers: SimServer[]) {
    this.inFlight = servers.map(() => 0);
    this.inTransit = servers.map(() => []);
    this.sent = servers.map(() => 0);
    this.submittedAtStart = servers.map((s) => s.engine.submitted);
  }

  /** Prefill ms routed to server i that has not arrived there yet. */
  private transitMs(i: number): number {
    const arrived = this.servers[i].engine.submitted - this.submittedAtStart[i];
    const outstanding = Math.max(0, this.sent[i] - arrived);
    const list = this.inTransit[i];
    if (list.length > outstanding) list.splice(0, list.length - outstanding);
    return list.reduce((a, b) => a + b, 0);
  }

  async pick(path: string, body: string): Promise<number> {
    const prefixes = await Promise.all(
      this.servers.map((s) => postJson<{ cachedTokens: number; promptTokens: number }>(`${s.url}/sim/prefix?path=${encodeURIComponent(path)}`, body)),
    );
    const outputTokens = maxTokensOf(body);
    const candidates = this.servers.map((s, i) => ({
      predictedTtftMs: s.engine.predictTtftMs({ ...prefixes[i], outputTokens }, this.transitMs(i)),
      running: s.engine.running,
    }));
    const chosen = pickOracle(candidates, this.rotation++);
    const uncached = prefixes[chosen].promptTokens - prefixes[chosen].cachedTokens;
    this.sent[chosen]++;
    this.inTransit[chosen].push(prefillMs(this.servers[chosen].config, uncached));
    return chosen;
  }
}
