// The state of one model server as the scheduler sees it: the last metrics
// scraped from it and what was learned from them, the requests this Envoy
// has in flight to it, and its health. The scraping VM publishes it in
// shared data (state_codec.ts).
import { EndpointMetrics, ServerSignals } from "../metrics/signals";
import { ClockPerToken } from "./clock_per_token";
import { RoutedClocks, UnexpectedPrefill } from "./unexpected_prefill";

/** Default staleness after which an endpoint is unhealthy. */
export const DEFAULT_STALE_AFTER_MS: i64 = 1000;
/**
 * Consecutive failed scrapes after which an endpoint is unhealthy even before
 * it is stale: a server whose /metrics fails gets no new requests after two
 * scrape intervals.
 */
export const DEFAULT_MAX_CONSECUTIVE_FAILURES: i32 = 2;
/** Upper bound on a learned slot capacity (keeps the encoded value sane). */
export const MAX_SLOT_CAPACITY: i32 = 1 << 20;
/**
 * KV use above which a scrape's waiting requests may be waiting for room in
 * the cache rather than for a place in the batch (the saturation
 * threshold's default, SaturationConfig.kvCacheThreshold): no slot
 * capacity is learnt from it.
 */
export const CACHE_BOUND_KV_USE: f64 = 0.8;

export class EndpointState extends ServerSignals {
  /** "ip:port", as in the plugin configuration. */
  address: string = "";
  /** Requests this Envoy routed there that have not finished (all workers). */
  inFlight: i32 = 0;
  hasInFlight: bool = false;
  /**
   * Prompt blocks this Envoy routed there whose first response byte has not
   * come back (all workers): the prefill queued ahead of a new request, in
   * the prefix index's blocks. Kept with the in-flight counts, not encoded.
   */
  pendingBlocks: i32 = 0;
  /**
   * The blocks this Envoy made the server write to its KV cache: a wrapping
   * clock (the prefix index stamps its entries with it; docs/hashing.md
   * "Evictions"). Kept with the in-flight counts, not encoded.
   */
  writtenBlocks: u32 = 0;
  /**
   * When the prefill at the head of its queue started (low 32 bits of ms),
   * and the prompt blocks it prefills per ms (0: not measured yet). Kept
   * with the in-flight counts, not encoded: remainingPrefill.
   */
  prefillSinceMs: u32 = 0;
  prefillBlocksPerMs: f32 = 0;
  /**
   * Of the pending blocks, how many are taken as already prefilled for this
   * decision (set per decision, not encoded; 0: none;
   * picker/prefill_running.ts estimateDrained); queuedBlocks is the rest.
   */
  drainedBlocks: f64 = 0;
  /**
   * When this decision took the whole queue as drained: the ms its blocks
   * took at the measured pace (set per decision with drainedBlocks; 0 while
   * the queue still runs). A request that joins the queue keeps that much
   * of the queue's start behind it (pool/in_flight.ts
   * InFlightDelta.queueCreditMs), not all the time since.
   */
  drainedMs: f64 = 0;
  /**
   * How long a running request keeps its place in the batch, ms: a moving
   * average of streamed requests' time from first token to end (0: not
   * measured). Kept with the in-flight counts, not encoded.
   */
  slotHoldMs: f32 = 0;
  /** Ms per output token of a request after its first token there, on average; 0: not measured. From the in-flight value, not published. */
  msPerToken: f32 = 0;
  /**
   * What this Envoy's written-blocks clock there advances while one of its
   * requests runs, from its routing to its end: a moving average (< 0: not
   * measured). Kept with the in-flight counts, not encoded.
   */
  lifeWrittenBlocks: f32 = -1;
  /**
   * The wait for a place in a full batch, in prefill blocks at the
   * pool's pace (set per decision, not encoded; 0: none;
   * picker/slot_wait.ts estimateSlotWait).
   */
  slotWaitBlocks: f64 = 0;
  /** Unknown health (hasHealthy = false) is treated as healthy. */
  healthy: bool = true;
  hasHealthy: bool = false;
  /** Time of the last successful scrape; 0 with hasScrapedAt = false: never. */
  scrapedAtMs: i64 = 0;
  hasScrapedAt: bool = false;
  consecutiveFailures: i32 = 0;
  /**
   * A request sent here just failed (Envoy retried it on another member):
   * stronger evidence than stale metrics, so such an endpoint is left out
   * even when every endpoint is unhealthy. Not encoded (set per decision
   * from the shared penalty list).
   */
  failedRequest: bool = false;
  /**
   * How many requests the server can run at once, as learned from its
   * scrapes: the most it reported running while it also reported requests
   * waiting with room in its KV cache (a server queues only when its batch
   * is full, max_num_seqs, or when its cache is: learnSlotCapacity). vLLM does not export its batch
   * size, so it is learned; 0 until a scrape has shown the server full. The
   * maximum over time, so a scrape taken while a long prefill held the
   * queue back can only raise it later, never lower it (docs/routing.md
   * "Full decode batches").
   */
  slotCapacity: i32 = 0;
  /**
   * What blocksPerToken is learned from (docs/hashing.md "Evictions"): the
   * advance of this Envoy's written-blocks clock against the tokens the
   * server reports writing into its KV cache (EndpointMetrics.cacheWrites).
   */
  writtenPerToken: ClockPerToken = new ClockPerToken();
  /** Prefill the server's prefix-cache counters show beyond what this Envoy expected (learned per scrape). */
  unexpected: UnexpectedPrefill = new UnexpectedPrefill();
  /**
   * What is left of that unexpected prefill for this decision, in blocks
   * (set per decision, not encoded; 0: none; picker/prefill_running.ts
   * estimateDrained): queued ahead of a new request like the pending blocks.
   */
  unexpectedBlocks: f64 = 0;

  constructor(address: string = "") {
    super();
    this.address = address;
  }

  /**
   * How far this Envoy's written-blocks clock advances per token the server
   * writes into its KV cache: the ratio of the learned sums. The server's
   * cache, in tokens, times this is its eviction horizon in clock blocks,
   * whatever its tokenizer, whatever share of its traffic this Envoy sends,
   * and counting what the clock does not see (the tokens the server
   * generates). A ratio of sums rather than an average of ratios: a window
   * that caught a few long prompts on one side of the lag between routing
   * and prefill weighs only as much as its tokens.
   */
  get blocksPerToken(): f64 {
    return this.writtenPerToken.ratio;
  }

  /** Whether blocksPerToken is learned (a window has closed). */
  get hasBlocksPerToken(): bool {
    return this.writtenPerToken.learned;
  }

  /**
   * The pending blocks not yet prefilled at `nowMs` at `blocksPerMs`: the
   * pending blocks less what that pace has prefilled since the head of its
   * queue started. All of them when the pace is not positive.
   */
  remainingPrefill(nowMs: i64, blocksPerMs: f64): f64 {
    const pending = <f64>this.pendingBlocks;
    if (pending <= 0 || !(blocksPerMs > 0)) return pending;
    const left = pending - blocksPerMs * this.queueAgeMs(nowMs);
    return left > 0 ? left : 0;
  }

  /** Ms since the head of the queue started at `nowMs` (a wrapping clock); 0 without a queue. */
  queueAgeMs(nowMs: i64): f64 {
    if (this.pendingBlocks <= 0) return 0;
    const elapsed = <i32>(<u32>nowMs - this.prefillSinceMs); // wrapping ms
    return elapsed > 0 ? <f64>elapsed : 0;
  }

  /** The prefill queued ahead of a new request, in blocks: the pending blocks less drainedBlocks, and what is left of unexpected prefill. */
  get queuedBlocks(): f64 {
    const left = <f64>this.pendingBlocks - this.drainedBlocks;
    return (left > 0 ? left : 0) + this.unexpectedBlocks;
  }

  /** What a new request waits for before its own prefill, in blocks: the prefill queued ahead and, at a full batch, a place in it. */
  get waitAheadBlocks(): f64 {
    return this.queuedBlocks + this.slotWaitBlocks;
  }

  /** The server's KV cache in tokens, `num_gpu_blocks` × `block_size` (vllm:cache_config_info), or 0 when unknown. */
  get cacheTokens(): f64 {
    if (!this.hasNumGpuBlocks || !this.hasBlockSize || this.numGpuBlocks <= 0 || this.blockSize <= 0) return 0;
    return <f64>this.numGpuBlocks * <f64>this.blockSize;
  }

  /** Health as the filters use it: unknown counts as healthy. */
  get isHealthy(): bool {
    return !this.hasHealthy || this.healthy;
  }

  /**
   * Requests on the server as best known: this Envoy's in flight, or what
   * the server reports (waiting + running) when that is more (other routers'
   * traffic). Not their sum: ours are part of what the server reports.
   */
  get occupancy(): f64 {
    let reported: f64 = 0;
    if (this.hasWaiting) reported += this.waiting;
    if (this.hasRunning) reported += this.running;
    const ours: f64 = this.hasInFlight ? <f64>this.inFlight : 0;
    return reported > ours ? reported : ours;
  }

  /** waiting + running + inFlight, unknown parts counted as 0 (hot-spot guard, least-loaded). */
  get load(): f64 {
    let l: f64 = 0;
    if (this.hasWaiting) l += this.waiting;
    if (this.hasRunning) l += this.running;
    if (this.hasInFlight) l += <f64>this.inFlight;
    return l;
  }

  /**
   * A successful scrape. As upstream (partial scrapes still update what they
   * got), fields the page did not carry keep their last value. `clocks`:
   * this Envoy's in-flight entry for the endpoint, read after the page
   * (null: not read; the clocks count as 0 and no unexpected prefill is sought).
   */
  applyScrape(m: EndpointMetrics, nowMs: i64, clocks: RoutedClocks | null = null): void {
    if (m.hasWaiting) {
      this.waiting = m.waiting;
      this.hasWaiting = true;
    }
    if (m.hasRunning) {
      this.running = m.running;
      this.hasRunning = true;
    }
    if (m.hasKvCacheUsage) {
      this.kvCacheUsage = m.kvCacheUsage;
      this.hasKvCacheUsage = true;
    }
    if (m.hasLoras) {
      this.runningLoras = m.runningLoras;
      this.waitingLoras = m.waitingLoras;
      this.hasLoras = true;
    }
    if (m.hasMaxLoras) {
      this.maxLoras = m.maxLoras;
      this.hasMaxLoras = true;
    }
    if (m.hasBlockSize) {
      this.blockSize = m.blockSize;
      this.hasBlockSize = true;
    }
    if (m.hasNumGpuBlocks) {
      this.numGpuBlocks = m.numGpuBlocks;
      this.hasNumGpuBlocks = true;
    }
    this.learnSlotCapacity(m);
    const writes = m.cacheWrites;
    const written = clocks != null ? clocks.written : 0;
    if (!isNaN(writes)) this.learnBlocksPerToken(writes, written);
    if (clocks != null && m.hasPrefixQueries && m.hasPrefixHits) this.unexpected.observe(m.prefixQueries, m.prefixHits, clocks, nowMs);
    this.scrapedAtMs = nowMs;
    this.hasScrapedAt = true;
    this.consecutiveFailures = 0;
    this.healthy = true;
    this.hasHealthy = true;
  }

  /**
   * Raises slotCapacity when this scrape shows requests waiting beside more
   * running than seen so far, and a KV cache with room: a server whose
   * cache is nearly full queues for room there, at whatever running count
   * its requests' sizes allow, and that wait is the KV room's to model
   * (picker/kv_room.ts). Learnt from such a scrape, a capacity below the
   * batch's would stay (it never falls) and, as the pool's most, make
   * every server with that many requests look full.
   */
  private learnSlotCapacity(m: EndpointMetrics): void {
    if (!m.hasWaiting || !m.hasRunning || !(m.waiting >= 1) || !(m.running >= 1)) return;
    if (m.hasKvCacheUsage && m.kvCacheUsage > CACHE_BOUND_KV_USE) return;
    const running = m.running < <f64>MAX_SLOT_CAPACITY ? <i32>m.running : MAX_SLOT_CAPACITY;
    if (running > this.slotCapacity) this.slotCapacity = running;
  }

  /** One step of learning blocksPerToken from the server's cache writes (`tokens`, a counter) and the written-blocks clock (ClockPerToken.learn). */
  learnBlocksPerToken(tokens: f64, clock: u32): void {
    this.writtenPerToken.learn(tokens, clock);
  }

  /** A failed scrape (callout error, non-200, timeout). */
  recordFailure(): void {
    if (this.consecutiveFailures < i32.MAX_VALUE) this.consecutiveFailures++;
  }

  /**
   * Recomputes health. An endpoint that has never answered a scrape is
   * unknown (not unhealthy) until maxFailures scrapes have failed: right
   * after Envoy starts, before the first scrape has come back, every server
   * would otherwise count as unhealthy and prefix affinity would be ignored.
   * Otherwise unhealthy when the last good scrape is older than staleAfterMs
   * or after maxFailures failures in a row. Returns isHealthy.
   */
  refreshHealth(nowMs: i64, staleAfterMs: i64 = DEFAULT_STALE_AFTER_MS, maxFailures: i32 = DEFAULT_MAX_CONSECUTIVE_FAILURES): bool {
    const ok = this.healthAt(nowMs, staleAfterMs, maxFailures);
    this.healthy = ok;
    this.hasHealthy = this.hasScrapedAt || (maxFailures > 0 && this.consecutiveFailures >= maxFailures);
    return ok;
  }

  /** What refreshHealth returns, without changing the state. */
  healthAt(nowMs: i64, staleAfterMs: i64 = DEFAULT_STALE_AFTER_MS, maxFailures: i32 = DEFAULT_MAX_CONSECUTIVE_FAILURES): bool {
    const failedOut = maxFailures > 0 && this.consecutiveFailures >= maxFailures;
    if (!this.hasScrapedAt && !failedOut) return true;
    return this.hasScrapedAt && nowMs - this.scrapedAtMs <= staleAfterMs && !failedOut;
  }
}
