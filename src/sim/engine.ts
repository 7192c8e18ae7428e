// The simulated engine: a FIFO waiting queue, a bounded running batch, the
// prefix cache, and the latency model. All times are *model* milliseconds;
// the clock maps them to real time (timeScale) or, in tests, to a manual clock.
//
// Latency model for one request:
//   waiting   = time in the queue until a running slot (max_num_seqs), the KV
//               blocks it needs, and (LoRA) an adapter slot are available;
//   admission = the cache is consulted: cached = leading blocks already held;
//   prefill   = (promptTokens - cached) * prefillMsPerToken; with serialPrefill
//               the server runs one prefill at a time, so it starts when the
//               previous admitted prefill ends (a GPU busy with prefill work);
//   TTFT      = waiting + prefill wait + overheadMs + prefill;
//   decode    = each further token takes decodeMsPerToken * (1 + decodeBatchFactor
//               * (running - 1)), evaluated when a decode tick starts.
// The first token is emitted at TTFT; a request of n output tokens ends at
// TTFT + (n - 1) decode steps, then frees its blocks and the queue moves.
// Several tokens may be emitted per timer ("tick") so a busy server does not
// need one timer per token; the per-token time is the same.

import type { SimConfig } from "./config.js";
import { PrefixCache, type Allocation } from "./kvcache.js";

export interface Clock {
  /** Model milliseconds. */
  now(): number;
  /** Runs fn after delayMs model milliseconds; returns a cancel function. */
  schedule(fn: () => void, delayMs: number): () => void;
}

/** Real timers; model ms = real ms / timeScale. */
export function realClock(timeScale: number): Clock {
  const origin = performance.now();
  return {
    now: () => (performance.now() - origin) / timeScale,
    schedule: (fn, delayMs) => {
      const timer = setTimeout(fn, Math.max(0, delayMs * timeScale));
      return () => clearTimeout(timer);
    },
  };
}

/** A clock that only moves when told: for exact latency tests. */
export class ManualClock implements Clock {
  private time = 0;
  private seq = 0;
  private timers: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.time;
  }

  schedule(fn: () => void, delayMs: number): () => void {
    const timer = { at: this.time + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Advances time by ms, running due timers in time order (ties in scheduling order). */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (next === undefined || next.at > until) break;
      this.timers.shift();
      this.time = next.at;
      next.fn();
    }
    this.time = until;
  }

  /** Runs every pending timer (and those they schedule). */
  runAll(): void {
    for (let guard = 0; guard < 1_000_000; guard++) {
      const pending = this.timers.filter((t) => !t.cancelled);
      if (pending.length === 0) return;
      const next = Math.min(...pending.map((t) => t.at));
      this.advance(next - this.time);
    }
  }
}

export interface JobSpec {
  promptTokens: number;
  /** Hashes of the prompt's full blocks. */
  hashes: readonly string[];
  outputTokens: number;
  /** LoRA adapter name, or null for the base model. */
  lora: string | null;
  /** Hashes of blocks filled by output tokens (after the prompt's full blocks), computed at the end. */
  outputHashes?: () => string[];
  /** Shortest decode tick in model ms (0: one timer per token). */
  minTickMs?: number;
  /** Why generation ends ("length": max_tokens reached), for vllm:request_success_total. */
  finishReason?: "length" | "stop";
  /** The request's tag header (server.ts SIM_TAG_HEADER), kept in the served-request log. */
  tag?: string;
  /** The router's decision for it (the filter's scores header), kept in the served-request log. */
  decision?: string;
  /**
   * A benchmark's warm-up request (server.ts SIM_WARMUP_HEADER): served like
   * any other, its share of the counters also kept in `counters.warmup` and
   * its time to first token left out of `ttftSamples`, so a benchmark can
   * leave it out of its figures.
   */
  warmup?: boolean;
}

export interface JobEvents {
  /** Admitted to the running batch; `cachedTokens` came from the prefix cache. */
  onAdmitted?(job: Job): void;
  /** `emitted` output tokens exist now (cumulative). */
  onTokens?(job: Job, emitted: number): void;
  onDone?(job: Job): void;
}

export type JobState = "waiting" | "running" | "done" | "cancelled";

/** One request as a server served it, in model ms (SimEngine.servedLog): where its time to first token went. */
export interface ServedRecord {
  arrivalMs: number;
  /** Admitted to the running batch (after waiting for a slot, KV blocks or a LoRA slot). */
  admittedMs: number;
  /** Its prefill began (after the prefill admitted before it, when prefill is serial). */
  prefillStartMs: number;
  firstTokenMs: number;
  promptTokens: number;
  cachedTokens: number;
  /** The tokens it generates (its KV blocks are allocated for prompt and output at admission). */
  outputTokens: number;
  /** The batch it found on arrival: requests running, requests waiting and KV blocks free. */
  runningAtArrival: number;
  waitingAtArrival: number;
  freeBlocksAtArrival: number;
  /** When it ended and freed its blocks, and the KV blocks free just before (absent until it ends). */
  doneMs?: number;
  freeBlocksBeforeDone?: number;
  /** Per server of the pool (SimEngine.peers): the prompt tokens it had cached when this request arrived. */
  cachedAtArrivalByServer?: number[];
  /** Per server of the pool: the time to first token predictTtftMs gave there when this request arrived (the oracle's view). */
  predictedTtftMsByServer?: number[];
  /** The request's tag header (SIM_TAG_HEADER), when it had one. */
  tag?: string;
  /** The router's decision (the filter's scores header), when it sent one. */
  decision?: string;
  /** A warm-up request (JobSpec.warmup). */
  warmup?: true;
}

/** Per server of a pool, in its order: the prompt tokens of a request it holds and the time to first token it predicts for it. */
interface PoolView {
  cached: number[];
  predicted: number[];
}

/** `spec` as every engine of `peers` sees it now (SimEngine.predictTtftMs, rounded to 0.01 ms). */
function poolViewOf(spec: JobSpec, peers: SimEngine[]): PoolView {
  const cached = peers.map((p) => p.cache.cachedTokens(spec.hashes, spec.promptTokens));
  const predicted = peers.map(
    (p, i) => Math.round(p.predictTtftMs({ promptTokens: spec.promptTokens, cachedTokens: cached[i], outputTokens: spec.outputTokens }) * 100) / 100,
  );
  return { cached, predicted };
}

export class Job {
  state: JobState = "waiting";
  admittedMs = NaN;
  prefillStartMs = NaN;
  firstTokenMs = NaN;
  doneMs = NaN;
  cachedTokens = 0;
  emitted = 0;
  /** The batch it found on arrival (ServedRecord). */
  runningAtArrival = 0;
  waitingAtArrival = 0;
  freeBlocksAtArrival = 0;
  /** What the pool's servers held of its prompt and predicted for it when it arrived (SimEngine.peers), when recorded. */
  poolView: PoolView | null = null;
  /** Its entry in the served-request log, completed when it ends. */
  served: ServedRecord | null = null;
  allocation: Allocation | null = null;
  cancelTimer: (() => void) | null = null;
  constructor(
    readonly spec: JobSpec,
    readonly events: JobEvents,
    readonly arrivalMs: number,
  ) {}
  get ttftMs(): number {
    return this.firstTokenMs - this.arrivalMs;
  }
}

export interface EngineCounters {
  /** Requests admitted (their prompt was looked up in the cache). */
  requests: number;
  completed: number;
  cancelled: number;
  /** Prompt tokens of admitted requests (= vllm:prefix_cache_queries). */
  promptTokens: number;
  /** Of those, tokens served from the cache (= vllm:prefix_cache_hits). */
  cachedTokens: number;
  generationTokens: number;
  finishedLength: number;
  finishedStop: number;
  /** Model ms of prefill work admitted (busy time of a serial-prefill server). */
  prefillMs: number;
  /** ∫ KV blocks in use dt (block·model ms), for the mean KV-cache usage. */
  kvBlockMs: number;
  /** ∫ running requests dt (request·model ms), for the mean running-slot usage. */
  runningMs: number;
  /** Model ms since the counters were reset (the span kvBlockMs covers). */
  spanMs: number;
  /** The share of warm-up requests (JobSpec.warmup) in the counters above. */
  warmup: WarmupCounters;
}

export interface WarmupCounters {
  requests: number;
  promptTokens: number;
  cachedTokens: number;
  prefillMs: number;
}

function zeroCounters(): EngineCounters {
  return {
    requests: 0,
    completed: 0,
    cancelled: 0,
    promptTokens: 0,
    cachedTokens: 0,
    generationTokens: 0,
    finishedLength: 0,
    finishedStop: 0,
    prefillMs: 0,
    kvBlockMs: 0,
    runningMs: 0,
    spanMs: 0,
    warmup: { requests: 0, promptTokens: 0, cachedTokens: 0, prefillMs: 0 },
  };
}

export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
  return { count: sorted.length, mean, p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: sorted[sorted.length - 1] };
}

/** Time of one decode step with `running` requests in the batch. */
export function decodeStepMs(config: SimConfig, running: number): number {
  return config.decodeMsPerToken * (1 + config.decodeBatchFactor * Math.max(0, running - 1));
}

/** Prefill time of `uncachedTokens` prompt tokens. */
export function prefillMs(config: SimConfig, uncachedTokens: number): number {
  return uncachedTokens * config.prefillMsPerToken;
}

const MAX_SAMPLES = 1_000_000;

/** vLLM's TTFT histogram buckets (seconds), for vllm:time_to_first_token_seconds. */
export const TTFT_BUCKETS_SECONDS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];

export interface Histogram {
  /** Cumulative counts per bucket of TTFT_BUCKETS_SECONDS (value <= bound). */
  buckets: number[];
  count: number;
  sum: number;
}

function emptyHistogram(): Histogram {
  return { buckets: TTFT_BUCKETS_SECONDS.map(() => 0), count: 0, sum: 0 };
}

function observe(histogram: Histogram, value: number): void {
  for (let i = 0; i < TTFT_BUCKETS_SECONDS.length; i++) if (value <= TTFT_BUCKETS_SECONDS[i]) histogram.buckets[i]++;
  histogram.count++;
  histogram.sum += value;
}

export class SimEngine {
  readonly cache: PrefixCache;
  counters: EngineCounters = zeroCounters();
  ttftSamples: number[] = [];
  /** TTFT in seconds of *model* time. */
  ttftHistogram: Histogram = emptyHistogram();
  private waitingQueue: Job[] = [];
  private runningJobs = new Set<Job>();
  private prefillBusyUntil = 0;
  /** When not null, every request's first token appends its ServedRecord here (benchmarks' per-request logs). */
  servedLog: ServedRecord[] | null = null;
  /**
   * The pool this engine serves in, when a benchmark wants the log to say
   * where else a request's prompt was cached when it arrived (where the
   * router could have sent it): ServedRecord.cachedAtArrivalByServer.
   */
  peers: SimEngine[] | null = null;
  /** Requests ever submitted (not reset): lets a router tell which of its picks have arrived. */
  submitted = 0;
  private accountedAt = 0;

  constructor(
    readonly config: SimConfig,
    readonly clock: Clock,
  ) {
    this.cache = new PrefixCache(config.numGpuBlocks, config.blockSize);
  }

  get running(): number {
    return this.runningJobs.size;
  }

  get waiting(): number {
    return this.waitingQueue.length;
  }

  /** Adapters of running / waiting requests (for vllm:lora_requests_info). */
  loraAdapters(): { running: string[]; waiting: string[] } {
    const running = new Set<string>();
    const waiting = new Set<string>();
    for (const job of this.runningJobs) if (job.spec.lora !== null) running.add(job.spec.lora);
    for (const job of this.waitingQueue) if (job.spec.lora !== null) waiting.add(job.spec.lora);
    return { running: [...running].sort(), waiting: [...waiting].sort() };
  }

  /** True if a request of this size can ever run (fits the KV cache). */
  fits(promptTokens: number, outputTokens: number): boolean {
    return this.cache.blocksFor(promptTokens + outputTokens) <= this.config.numGpuBlocks;
  }

  submit(spec: JobSpec, events: JobEvents = {}): Job {
    this.account();
    // The pool's view first: the time it takes to compute is not this request's.
    const pool = this.servedLog !== null && this.peers !== null ? poolViewOf(spec, this.peers) : null;
    const job = new Job(spec, events, this.clock.now());
    job.runningAtArrival = this.runningJobs.size;
    job.waitingAtArrival = this.waitingQueue.length;
    job.freeBlocksAtArrival = this.cache.freeBlocks;
    job.poolView = pool;
    this.submitted++;
    this.waitingQueue.push(job);
    this.admit();
    return job;
  }

  /** Client went away: drop from the queue, or stop and free its blocks. */
  cancel(job: Job): void {
    this.account();
    if (job.state === "waiting") {
      this.waitingQueue = this.waitingQueue.filter((j) => j !== job);
      job.cancelTimer = null;
    } else if (job.state === "running") {
      job.cancelTimer?.();
      this.runningJobs.delete(job);
      if (job.allocation !== null) this.cache.release(job.allocation);
    } else {
      return;
    }
    job.state = "cancelled";
    this.counters.cancelled++;
    this.admit();
  }

  /**
   * TTFT this server would give a request arriving now, by this engine's own
   * latency model: the wait until it can be admitted (a running slot, and
   * the KV blocks it and the requests waiting ahead of it need: until enough
   * running requests end), the prefill work queued ahead of it (serial
   * prefill: the prefill in progress plus every waiting request's uncached
   * tokens), the overhead and its own prefill. `extraQueuedMs` is prefill
   * work already routed here that has not arrived yet. An estimate: running
   * requests are assumed to free all their blocks when they end.
   */
  predictTtftMs(req: { promptTokens: number; cachedTokens: number; outputTokens: number }, extraQueuedMs = 0): number {
    const now = this.clock.now();
    const c = this.config;
    let queued = extraQueuedMs;
    let blocksNeeded = this.cache.blocksFor(req.promptTokens + req.outputTokens) - Math.floor(req.cachedTokens / c.blockSize);
    for (const job of this.waitingQueue) {
      const hit = this.cache.hitBlocks(job.spec.hashes, job.spec.promptTokens);
      queued += prefillMs(c, job.spec.promptTokens - hit * c.blockSize);
      blocksNeeded += this.cache.blocksFor(job.spec.promptTokens + job.spec.outputTokens) - hit;
    }
    const slotsNeeded = this.waitingQueue.length + 1;
    let admitWait = 0;
    const slotsFree = c.maxNumSeqs - this.runningJobs.size;
    if (slotsNeeded > slotsFree || blocksNeeded > this.cache.freeBlocks) {
      // Running requests by predicted end; admit once enough of them have ended.
      const step = decodeStepMs(c, this.runningJobs.size);
      const ends: { at: number; blocks: number }[] = [];
      for (const job of this.runningJobs) {
        const first = Number.isNaN(job.firstTokenMs) ? now + prefillMs(c, job.spec.promptTokens - job.cachedTokens) : job.firstTokenMs;
        ends.push({
          at: Math.max(now, first) + Math.max(0, job.spec.outputTokens - Math.max(1, job.emitted)) * step,
          blocks: job.allocation?.blocks.length ?? 0,
        });
      }
      ends.sort((a, b) => a.at - b.at);
      let slots = slotsFree;
      let blocks = this.cache.freeBlocks;
      admitWait = Infinity;
      for (const e of ends) {
        slots++;
        blocks += e.blocks;
        if (slots >= slotsNeeded && blocks >= blocksNeeded) {
          admitWait = e.at - now;
          break;
        }
      }
      if (admitWait === Infinity) admitWait = ends.length > 0 ? ends[ends.length - 1].at - now : 0;
    }
    const prefillWait = c.serialPrefill ? Math.max(now, this.prefillBusyUntil) - now + queued : 0;
    return Math.max(admitWait, prefillWait) + c.overheadMs + prefillMs(c, req.promptTokens - req.cachedTokens);
  }

  /** Cancels every waiting and running request (server shutdown). */
  cancelAll(): void {
    const jobs = [...this.waitingQueue, ...this.runningJobs];
    this.waitingQueue = [];
    for (const job of jobs) this.cancel(job);
  }

  /** Adds the KV blocks in use since the last call to the usage integral (called before every change). */
  private account(): void {
    const now = this.clock.now();
    const dt = now - this.accountedAt;
    if (dt > 0) {
      this.counters.kvBlockMs += this.cache.usedBlocks * dt;
      this.counters.runningMs += this.runningJobs.size * dt;
      this.counters.spanMs += dt;
    }
    this.accountedAt = now;
  }

  /** Time-weighted mean KV-cache usage (0..1) since the counters were reset. */
  get meanKvUsage(): number {
    this.account();
    return this.counters.spanMs > 0 ? this.counters.kvBlockMs / (this.counters.spanMs * this.config.numGpuBlocks) : 0;
  }

  /** Time-weighted mean of running requests / maxNumSeqs (0..1) since the counters were reset: how full the batch was. */
  get meanSlotUsage(): number {
    this.account();
    return this.counters.spanMs > 0 ? this.counters.runningMs / (this.counters.spanMs * this.config.maxNumSeqs) : 0;
  }

  /** Empties the prefix cache and zeroes counters and samples (running requests keep running). */
  reset(): void {
    this.accountedAt = this.clock.now();
    this.cache.reset();
    this.counters = zeroCounters();
    this.ttftSamples = [];
    this.ttftHistogram = emptyHistogram();
  }

  /** Admits waiting requests in FIFO order while a slot, blocks and a LoRA slot allow. */
  private admit(): void {
    let i = 0;
    while (i < this.waitingQueue.length && this.runningJobs.size < this.config.maxNumSeqs) {
      const job = this.waitingQueue[i];
      if (!this.loraSlotFree(job.spec.lora)) {
        i++; // vLLM skips a request whose adapter cannot join the batch and looks further
        continue;
      }
      const { promptTokens, outputTokens, hashes } = job.spec;
      const allocation = this.cache.allocate(hashes, promptTokens, promptTokens + outputTokens);
      if (allocation === null) break; // not enough free blocks: the head waits for blocks to be freed
      this.waitingQueue.splice(i, 1);
      this.start(job, allocation);
    }
  }

  private loraSlotFree(lora: string | null): boolean {
    if (lora === null) return true;
    const running = new Set<string>();
    for (const job of this.runningJobs) if (job.spec.lora !== null) running.add(job.spec.lora);
    return running.has(lora) || running.size < this.config.maxLoras;
  }

  private start(job: Job, allocation: Allocation): void {
    const now = this.clock.now();
    job.state = "running";
    job.allocation = allocation;
    job.admittedMs = now;
    job.cachedTokens = allocation.hitBlocks * this.config.blockSize;
    this.runningJobs.add(job);
    this.counters.requests++;
    this.counters.promptTokens += job.spec.promptTokens;
    this.counters.cachedTokens += job.cachedTokens;

    const prefill = prefillMs(this.config, job.spec.promptTokens - job.cachedTokens);
    this.counters.prefillMs += prefill;
    if (job.spec.warmup === true) {
      const w = this.counters.warmup;
      w.requests++;
      w.promptTokens += job.spec.promptTokens;
      w.cachedTokens += job.cachedTokens;
      w.prefillMs += prefill;
    }
    const prefillStart = this.config.serialPrefill ? Math.max(now, this.prefillBusyUntil) : now;
    if (this.config.serialPrefill) this.prefillBusyUntil = prefillStart + prefill;
    job.prefillStartMs = prefillStart;
    const firstTokenAt = prefillStart + prefill + this.config.overheadMs;
    job.events.onAdmitted?.(job);
    job.cancelTimer = this.clock.schedule(() => this.firstToken(job, firstTokenAt), firstTokenAt - now);
  }

  /** `plannedMs`: when the model says the token exists; recorded instead of the timer's firing time,
   *  whose jitter (~1 ms real) would be magnified by 1/timeScale in model time. */
  private firstToken(job: Job, plannedMs: number): void {
    job.firstTokenMs = plannedMs;
    if (job.spec.warmup !== true && this.ttftSamples.length < MAX_SAMPLES) this.ttftSamples.push(job.ttftMs);
    if (this.servedLog !== null && this.servedLog.length < MAX_SAMPLES) {
      const { arrivalMs, admittedMs, prefillStartMs, cachedTokens, runningAtArrival, waitingAtArrival, freeBlocksAtArrival, poolView } = job;
      const { promptTokens, outputTokens, tag, decision, warmup } = job.spec;
      job.served = {
        arrivalMs,
        admittedMs,
        prefillStartMs,
        firstTokenMs: plannedMs,
        promptTokens,
        cachedTokens,
        outputTokens,
        runningAtArrival,
        waitingAtArrival,
        freeBlocksAtArrival,
        ...(poolView === null ? {} : { cachedAtArrivalByServer: poolView.cached, predictedTtftMsByServer: poolView.predicted }),
        ...(tag === undefined ? {} : { tag }),
        ...(decision === undefined ? {} : { decision }),
        ...(warmup === true ? { warmup } : {}),
      };
      this.servedLog.push(job.served);
    }
    observe(this.ttftHistogram, job.ttftMs / 1000);
    this.emit(job, 1);
    this.decodeTick(job);
  }

  private emit(job: Job, count: number): void {
    job.emitted += count;
    this.counters.generationTokens += count;
    job.events.onTokens?.(job, job.emitted);
  }

  private decodeTick(job: Job): void {
    const remaining = job.spec.outputTokens - job.emitted;
    if (remaining <= 0) {
      this.finish(job);
      return;
    }
    const step = decodeStepMs(this.config, this.runningJobs.size);
    const minTick = job.spec.minTickMs ?? 0;
    const count = step > 0 ? Math.min(remaining, Math.max(1, Math.floor(minTick / step))) : remaining;
    job.cancelTimer = this.clock.schedule(() => {
      this.emit(job, count);
      this.decodeTick(job);
    }, count * step);
  }

  private finish(job: Job): void {
    this.account();
    job.state = "done";
    job.doneMs = this.clock.now();
    job.cancelTimer = null;
    this.runningJobs.delete(job);
    if (job.served !== null) {
      job.served.doneMs = job.doneMs;
      job.served.freeBlocksBeforeDone = this.cache.freeBlocks;
    }
    if (job.allocation !== null) this.cache.release(job.allocation, job.spec.outputHashes?.() ?? []);
    this.counters.completed++;
    if (job.spec.finishReason === "length") this.counters.finishedLength++;
    else this.counters.finishedStop++;
    job.events.onDone?.(job);
    this.admit();
  }
}
