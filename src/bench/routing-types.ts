// The routing benchmark's shapes: options, one run's result (the --json
// contract) and its detail. Kept apart from routing.ts so the modules that
// read results (the summary, the fleet benchmark) need not load the runner.
import type { SimConfig } from "../sim/config.js";
import type { PolicyName } from "./routing-policies.js";
import type { TraceRequest } from "./traces/trace.js";

export interface RoutingResult {
  policy: PolicyName;
  trace: string;
  /** Requests measured: the trace's, its warm-up left out. Every figure below but `errors` and `rps` is over them. */
  requests: number;
  /** Failed requests, warm-up included. */
  errors: number;
  /** Warm-up requests sent before the measured ones (traces/trace.ts), when the trace has any. */
  warmupRequests?: number;
  /** Prompt tokens served from the servers' prefix caches / all prompt tokens. */
  hitRate: number;
  ttftP50Ms: number;
  ttftP90Ms: number;
  ttftP99Ms: number;
  /** Completed requests per model second (warm-up included). */
  rps: number;
  /** Requests per server, busiest / mean (1 = even). */
  maxMeanLoad?: number;
  /** Filter policies: decisions where load overrode prefix affinity (bounded-load rule or hot-spot guard), from Envoy's /stats. */
  activations?: number;
  /** Prefill work / (servers × arrival window, first to last measured request sent): how busy the trace kept the servers' serial prefill. */
  busy?: number;
  /** Time-weighted KV-cache usage, mean over the servers (the other resource a request waits for). */
  kvUsage?: number;
  /** Time-weighted running requests / max_num_seqs, mean over the servers (the decode batch's fill; over the whole run). */
  slotUsage?: number;
  /**
   * TTFT by the simulators' own clocks (model ms from a request's arrival at
   * the server to its first token): what the routing decides, without the
   * client, Envoy and event-loop delays of a shared machine.
   */
  serverTtftP50Ms?: number;
  serverTtftP90Ms?: number;
  serverTtftP99Ms?: number;
  /** Mean requests per model second the trace asked for (after --load). */
  offeredRate?: number;
  /** The simulators' timeScale for this trace (real ms = model ms × timeScale). */
  timeScale?: number;
  /**
   * How late the harness sent requests (model ms past their due time, for
   * reasons of its own: timers and a busy event loop, not a turn waiting for
   * its previous reply): p50, p99 and max.
   */
  sendLateP50Ms?: number;
  sendLateP99Ms?: number;
  sendLateMaxMs?: number;
  /** The client process's event-loop delay during the replay, p99, model ms. */
  loopDelayP99Ms?: number;
  /** CPU the client process (client, closed loop, simulators) used, in cores (CPU seconds / real seconds); Envoy is a separate process. */
  harnessCpu?: number;
  /**
   * TTFT p90 and p99 (client, model ms) over the requests due after the
   * first WARM_SKIP_SHARE of the trace. Every run starts with empty caches,
   * so the first requests of a prompt that all share pay its whole prefill
   * on each server, and the requests that arrive meanwhile wait for it: a
   * one-time start that a long-running pool does not repeat, and that in a
   * short run can make its whole p99 (docs/routing.md "The cold start").
   */
  warmTtftP90Ms?: number;
  warmTtftP99Ms?: number;
}

/** Share of a trace's first requests (by due time) the warm percentiles leave out. */
export const WARM_SKIP_SHARE = 0.1;

/** Extra figures for the Markdown report (not in --json). */
export interface RoutingDetail {
  /** Requests per server, highest / mean (1 = even). */
  imbalance: number;
  /** The first failures, for the report. */
  errorSamples: string[];
  /** The filter's own prefix match ratio (matched / total blocks), filter policies only. */
  filterMatchRatio?: number;
  /** Decisions where the hot-spot guard dropped affinity (filter policies only). */
  guardFired?: number;
  /** The filter's eviction horizons at the end of the run, in index blocks: the smallest and largest over the servers (filter policies only). */
  evictionHorizon?: [number, number];
  /** Prefill the filter's scrapes found the servers did beyond what it routed there, in index blocks, summed over the servers (filter policies only). */
  unexpectedPrefill?: number;
  /** Decisions made again because another worker routed between their read and their write (filter policies only). */
  redecided?: number;
  /** What the closed loop did (routing-sessions.ts). */
  loop: LoopFigures;
  /** The measured requests' client TTFT (model ms, ascending): what the percentiles read, kept to pool seeds (routing-pooled.ts). */
  ttfts: number[];
  /** The same after the cold start (RoutingResult.warmTtftP90Ms). */
  warmTtfts: number[];
  /** The servers' own TTFT samples (model ms, ascending). */
  serverTtfts: number[];
  /** Prompt tokens of the measured requests, and of those the tokens the servers found cached (the hit rate). */
  promptTokens: number;
  cachedTokens: number;
}

/** Closed-loop replay figures of one run. */
export interface LoopFigures {
  closedLoop: boolean;
  /** Assistant messages whose content was replaced by the reply the server streamed. */
  substituted: number;
  /** Turns sent after their trace time because the session's previous turn had not finished. */
  delayed: number;
  /** Sum of those delays, model ms. */
  delayModelMs: number;
  /** Per request, model ms the harness sent it past its due time (timer and event-loop lag; ascending once sorted). */
  sendLateMs: number[];
}

export interface TraceSpec {
  name: string;
  requests: TraceRequest[];
  /** The simulators' timeScale for this trace (default: the run's sim config). */
  timeScale?: number;
  /** Mean requests per model second it was generated at (reported). */
  rate?: number;
}

export interface RoutingBenchOptions {
  traces: TraceSpec[];
  policies: PolicyName[];
  servers: number;
  sim: Partial<SimConfig>;
  /** Per-request timeout in real ms (default 120 s). */
  timeoutMs?: number;
  /** Filter module (default build/llm_picker.wasm). */
  wasmPath?: string;
  /** Merged into the filter policies' plugin configuration (--filter-config). */
  filterOverride?: Record<string, unknown>;
  /**
   * Replay assistant messages as the trace wrote them (default false: closed
   * loop, they carry the replies the servers streamed; routing-sessions.ts).
   */
  openLoop?: boolean;
  /** Progress bar on stderr (default: when stderr is a TTY; otherwise one line per run). */
  progress?: boolean;
  /** Log lines (default stderr). */
  log?: (line: string) => void;
  /** Write each run's per-request server log here (--request-log; routing-run.ts writeServedLog). */
  servedLogDir?: string;
  /** Envoy worker threads (--envoy-workers; default 1): with more, workers decide at once on one shared view. */
  envoyWorkers?: number;
}

export interface RoutingRun {
  result: RoutingResult;
  detail: RoutingDetail;
}
