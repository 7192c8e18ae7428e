// The state of one model server as the scheduler sees it: the last metrics scraped from it, the requests this Envoy has in
// flight to it, and its health. Plus a compact, versioned binary encoding so
// the scraping VM can publish it in proxy-wasm shared data and every worker
// VM can read it; decoding never traps and returns null on anything it does
// not recognise (short, garbled or future-version bytes).
import { EndpointMetrics, MAX_ADAPTERS, MAX_ADAPTER_NAME_BYTES, ServerSignals } from "../metrics/signals";

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
/** Tokens a server writes into its KV cache in one learning window of blocksPerToken. */
export const LEARN_WINDOW_TOKENS: f64 = 16384;
/** Weight of the windows before the one that closes: the sums remember about eight windows. */
export const LEARN_DECAY: f64 = 0.875;
/** A window above this (a 64-byte block per token) is not a rate but a reset clock. */
export const MAX_BLOCKS_PER_TOKEN: f64 = 1;

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
   * advance of this Envoy's written-blocks clock and the tokens the server
   * reports writing into its KV cache (EndpointMetrics.cacheWrites) over the
   * learning windows closed so far, each older window weighted LEARN_DECAY
   * less. Both 0 until a window has closed.
   */
  clockSum: f64 = 0;
  tokensSum: f64 = 0;
  /** Where the open learning window started: the server's cache writes and this Envoy's clock then. */
  tokensMark: f64 = 0;
  clockMark: u32 = 0;
  hasMark: bool = false;

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
    return this.tokensSum > 0 ? this.clockSum / this.tokensSum : 0;
  }

  /** Whether blocksPerToken is learned (a window has closed). */
  get hasBlocksPerToken(): bool {
    return this.tokensSum > 0;
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

  /** The prefill queued ahead of a new request, in blocks: the pending blocks less drainedBlocks. */
  get queuedBlocks(): f64 {
    const left = <f64>this.pendingBlocks - this.drainedBlocks;
    return left > 0 ? left : 0;
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
   * got), fields the page did not carry keep their last value.
   */
  applyScrape(m: EndpointMetrics, nowMs: i64, writtenClock: u32 = 0): void {
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
    if (!isNaN(writes)) this.learnBlocksPerToken(writes, writtenClock);
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

  /**
   * One step of learning blocksPerToken from the server's cache writes
   * (`tokens`, a counter) and this Envoy's written-blocks clock (`clock`, a
   * wrapping u32). A window closes once the server has written
   * LEARN_WINDOW_TOKENS since it opened, and adds its blocks and tokens to
   * the sums. A counter that went back (the server restarted) or a clock
   * that moved by more than a block per token (this Envoy's in-flight value
   * was reset) opens a new window without adding anything.
   */
  learnBlocksPerToken(tokens: f64, clock: u32): void {
    if (!this.wantsClock(tokens)) return;
    if (!this.hasMark || tokens < this.tokensMark) {
      this.markWindow(tokens, clock);
      return;
    }
    const dTokens = tokens - this.tokensMark;
    const dClock = <f64>(clock - this.clockMark);
    this.markWindow(tokens, clock);
    if (dClock > MAX_BLOCKS_PER_TOKEN * dTokens) return;
    this.clockSum = this.clockSum * LEARN_DECAY + dClock;
    this.tokensSum = this.tokensSum * LEARN_DECAY + dTokens;
  }

  /**
   * Whether learnBlocksPerToken(tokens, clock) would use the clock: to open
   * the first window, after a counter reset, or to close a window. The
   * clock is a shared-data read; most scrapes need none.
   */
  wantsClock(tokens: f64): bool {
    if (!isFinite(tokens) || tokens < 0) return false;
    return !this.hasMark || tokens < this.tokensMark || tokens - this.tokensMark >= LEARN_WINDOW_TOKENS;
  }

  private markWindow(tokens: f64, clock: u32): void {
    this.tokensMark = tokens;
    this.clockMark = clock;
    this.hasMark = true;
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

// ---------------------------------------------------------------------------
// Binary encoding (little-endian), version 3:
//   u8  version = 1
//   u16 flags (FLAG_* below)
//   str address
//   f64 waiting, f64 running, f64 kvCacheUsage
//   i32 maxLoras, i32 inFlight, u8 healthy, i64 scrapedAtMs,
//   i32 consecutiveFailures, i32 blockSize, i32 numGpuBlocks,
//   i32 slotCapacity (0: not learned)
//   f64 clockSum, f64 tokensSum, f64 tokensMark, u32 clockMark
//   list runningLoras, list waitingLoras
// str = u16 byte length + UTF-8 bytes; list = u16 count + str*.
// A pool is: u8 version = 2, u32 count, then count × (u32 length + state).
// Unknown fields are written as 0 with their flag clear.
// Version 1 had no slotCapacity, version 2 no blocks-per-token sums and
// window marks; the published key changed with each (shared_state.ts), so a VM of
// a previous build never reads this layout.

export const STATE_VERSION: u8 = 3;
const FLAG_WAITING: u16 = 1 << 0;
const FLAG_RUNNING: u16 = 1 << 1;
const FLAG_KV: u16 = 1 << 2;
const FLAG_LORAS: u16 = 1 << 3;
const FLAG_MAX_LORAS: u16 = 1 << 4;
const FLAG_IN_FLIGHT: u16 = 1 << 5;
const FLAG_HEALTHY: u16 = 1 << 6;
const FLAG_SCRAPED_AT: u16 = 1 << 7;
const FLAG_BLOCK_SIZE: u16 = 1 << 8;
const FLAG_NUM_GPU_BLOCKS: u16 = 1 << 9;
const FLAG_LEARNED: u16 = 1 << 10;
const FLAG_MARK: u16 = 1 << 11;
const FLAGS_KNOWN: u16 = (1 << 12) - 1;
const MAX_ADDRESS_BYTES: i32 = 1024;
/** Upper bound on endpoints in an encoded pool (keeps decode bounded). */
export const MAX_POOL_SIZE: i32 = 4096;

function flagsOf(s: EndpointState): u16 {
  let f: u16 = 0;
  if (s.hasWaiting) f |= FLAG_WAITING;
  if (s.hasRunning) f |= FLAG_RUNNING;
  if (s.hasKvCacheUsage) f |= FLAG_KV;
  if (s.hasLoras) f |= FLAG_LORAS;
  if (s.hasMaxLoras) f |= FLAG_MAX_LORAS;
  if (s.hasInFlight) f |= FLAG_IN_FLIGHT;
  if (s.hasHealthy) f |= FLAG_HEALTHY;
  if (s.hasScrapedAt) f |= FLAG_SCRAPED_AT;
  if (s.hasBlockSize) f |= FLAG_BLOCK_SIZE;
  if (s.hasNumGpuBlocks) f |= FLAG_NUM_GPU_BLOCKS;
  if (s.hasBlocksPerToken) f |= FLAG_LEARNED;
  if (s.hasMark) f |= FLAG_MARK;
  return f;
}

// The encoder sizes the value first and writes it with plain stores into one
// allocation: the scraping VM encodes the whole pool on every scrape, and a
// byte-at-a-time writer with a copy per state cost more than the rest of
// publishing (docs/benchmarks.md "Fourth pass: scrape").

/** Bytes of a state besides its address and lists: version, flags, 3 f64, 4 + 4 + 1 + 8 + 4 × 4, 3 f64 + 4. */
const STATE_FIXED_BYTES: i32 = 88;

/** Encoded size of a string: u16 length + UTF-8 bytes (empty when over `max`). */
function strSize(s: string, max: i32): i32 {
  const n = String.UTF8.byteLength(s);
  return 2 + (n > max ? 0 : n);
}

function listCount(list: Array<string>): i32 {
  return list.length < MAX_ADAPTERS ? list.length : MAX_ADAPTERS;
}

function listSize(list: Array<string>): i32 {
  let size = 2;
  const n = listCount(list);
  for (let i = 0; i < n; i++) size += strSize(unchecked(list[i]), MAX_ADAPTER_NAME_BYTES);
  return size;
}

/** Encoded size of a state (what writeStateAt writes). */
function stateSize(s: EndpointState): i32 {
  return STATE_FIXED_BYTES + strSize(s.address, MAX_ADDRESS_BYTES) + listSize(s.runningLoras) + listSize(s.waitingLoras);
}

/** Strings longer than `max` bytes are written empty (cannot happen for states we built). Returns the end. */
function writeStrAt(p: usize, s: string, max: i32): usize {
  const n = String.UTF8.byteLength(s);
  if (n > max) {
    store<u16>(p, 0);
    return p + 2;
  }
  store<u16>(p, <u16>n);
  return p + 2 + String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, p + 2);
}

function writeListAt(p: usize, list: Array<string>): usize {
  const n = listCount(list);
  store<u16>(p, <u16>n);
  p += 2;
  for (let i = 0; i < n; i++) p = writeStrAt(p, unchecked(list[i]), MAX_ADAPTER_NAME_BYTES);
  return p;
}

/**
 * Writes stateSize(s) bytes at `p` and returns the end. Values that could
 * not be decoded back (NaN, negative, out of range) are written as unknown.
 */
function writeStateAt(p: usize, s: EndpointState): usize {
  let f = flagsOf(s);
  if (!validCount(s.waiting)) f &= ~FLAG_WAITING;
  if (!validCount(s.running)) f &= ~FLAG_RUNNING;
  if (!validFraction(s.kvCacheUsage)) f &= ~FLAG_KV;
  if (!validSums(s.clockSum, s.tokensSum)) f &= ~FLAG_LEARNED;
  if (!validCount(s.tokensMark)) f &= ~FLAG_MARK;
  store<u8>(p, STATE_VERSION);
  store<u16>(p, f, 1);
  p = writeStrAt(p + 3, s.address, MAX_ADDRESS_BYTES);
  store<f64>(p, f & FLAG_WAITING ? s.waiting : 0);
  store<f64>(p, f & FLAG_RUNNING ? s.running : 0, 8);
  store<f64>(p, f & FLAG_KV ? s.kvCacheUsage : 0, 16);
  store<u32>(p, <u32>s.maxLoras, 24);
  store<u32>(p, <u32>s.inFlight, 28);
  store<u8>(p, s.healthy ? 1 : 0, 32);
  store<u64>(p, <u64>s.scrapedAtMs, 33);
  store<u32>(p, <u32>s.consecutiveFailures, 41);
  store<u32>(p, <u32>s.blockSize, 45);
  store<u32>(p, <u32>s.numGpuBlocks, 49);
  store<u32>(p, <u32>(s.slotCapacity > 0 && s.slotCapacity <= MAX_SLOT_CAPACITY ? s.slotCapacity : 0), 53);
  store<f64>(p, f & FLAG_LEARNED ? s.clockSum : 0, 57);
  store<f64>(p, f & FLAG_LEARNED ? s.tokensSum : 0, 65);
  store<f64>(p, f & FLAG_MARK ? s.tokensMark : 0, 73);
  store<u32>(p, f & FLAG_MARK ? s.clockMark : 0, 81);
  p = writeListAt(p + 85, s.runningLoras);
  return writeListAt(p, s.waitingLoras);
}

export function encodeState(s: EndpointState): Uint8Array {
  const out = new Uint8Array(stateSize(s));
  writeStateAt(out.dataStart, s);
  return out;
}

export function encodeStates(states: Array<EndpointState>): Uint8Array {
  const n = states.length < MAX_POOL_SIZE ? states.length : MAX_POOL_SIZE;
  let total = 5;
  for (let i = 0; i < n; i++) total += 4 + stateSize(unchecked(states[i]));
  const out = new Uint8Array(total);
  let p = out.dataStart;
  store<u8>(p, STATE_VERSION);
  store<u32>(p, <u32>n, 1);
  p += 5;
  for (let i = 0; i < n; i++) {
    const s = unchecked(states[i]);
    store<u32>(p, <u32>stateSize(s));
    p = writeStateAt(p + 4, s);
  }
  return out;
}

function validCount(v: f64): bool {
  return isFinite(v) && v >= 0;
}

function validFraction(v: f64): bool {
  return isFinite(v) && v >= 0 && v <= 1;
}

/** Learned sums as learnBlocksPerToken leaves them: at least a token (a window has thousands), blocks at most one per token. */
function validSums(clock: f64, tokens: f64): bool {
  return isFinite(tokens) && tokens >= 1 && isFinite(clock) && clock >= 0 && clock <= MAX_BLOCKS_PER_TOKEN * tokens;
}

/** Bounds-checked reader; any short read sets `bad` and returns 0/"". */
class Reader {
  pos: i32;
  bad: bool = false;
  constructor(public b: Uint8Array, start: i32, public end: i32) {
    this.pos = start;
  }
  private take(n: i32): bool {
    if (this.bad || n < 0 || this.end - this.pos < n) {
      this.bad = true;
      return false;
    }
    return true;
  }
  u8(): u8 {
    if (!this.take(1)) return 0;
    const v = load<u8>(this.b.dataStart + <usize>this.pos);
    this.pos += 1;
    return v;
  }
  u16(): u16 {
    if (!this.take(2)) return 0;
    const v = load<u16>(this.b.dataStart + <usize>this.pos);
    this.pos += 2;
    return v;
  }
  u32(): u32 {
    if (!this.take(4)) return 0;
    const v = load<u32>(this.b.dataStart + <usize>this.pos);
    this.pos += 4;
    return v;
  }
  u64(): u64 {
    if (!this.take(8)) return 0;
    const v = load<u64>(this.b.dataStart + <usize>this.pos);
    this.pos += 8;
    return v;
  }
  f64(): f64 {
    return reinterpret<f64>(this.u64());
  }
  str(max: i32): string {
    const n = <i32>this.u16();
    if (n > max) this.bad = true;
    if (!this.take(n)) return "";
    const s = String.UTF8.decodeUnsafe(this.b.dataStart + <usize>this.pos, <usize>n);
    this.pos += n;
    return s;
  }
  list(): Array<string> {
    const out = new Array<string>();
    const n = <i32>this.u16();
    if (n > MAX_ADAPTERS) this.bad = true;
    for (let i = 0; i < n && !this.bad; i++) out.push(this.str(MAX_ADAPTER_NAME_BYTES));
    return out;
  }
}

function readState(r: Reader): EndpointState | null {
  if (r.u8() != STATE_VERSION) return null;
  const f = r.u16();
  if (r.bad || (f & ~FLAGS_KNOWN) != 0) return null;
  const s = new EndpointState(r.str(MAX_ADDRESS_BYTES));
  s.waiting = r.f64();
  s.running = r.f64();
  s.kvCacheUsage = r.f64();
  s.maxLoras = <i32>r.u32();
  s.inFlight = <i32>r.u32();
  const healthy = r.u8();
  s.scrapedAtMs = <i64>r.u64();
  s.consecutiveFailures = <i32>r.u32();
  s.blockSize = <i32>r.u32();
  s.numGpuBlocks = <i32>r.u32();
  const slots = r.u32();
  s.slotCapacity = slots <= <u32>MAX_SLOT_CAPACITY ? <i32>slots : 0;
  s.clockSum = r.f64();
  s.tokensSum = r.f64();
  s.tokensMark = r.f64();
  s.clockMark = r.u32();
  s.runningLoras = r.list();
  s.waitingLoras = r.list();
  if (r.bad || healthy > 1) return null;
  if (!validCount(s.waiting) || !validCount(s.running) || !validFraction(s.kvCacheUsage)) return null;
  if (!validCount(s.tokensMark)) return null;
  s.healthy = healthy == 1;
  s.hasWaiting = (f & FLAG_WAITING) != 0;
  s.hasRunning = (f & FLAG_RUNNING) != 0;
  s.hasKvCacheUsage = (f & FLAG_KV) != 0;
  s.hasLoras = (f & FLAG_LORAS) != 0;
  s.hasMaxLoras = (f & FLAG_MAX_LORAS) != 0;
  s.hasInFlight = (f & FLAG_IN_FLIGHT) != 0;
  s.hasHealthy = (f & FLAG_HEALTHY) != 0;
  s.hasScrapedAt = (f & FLAG_SCRAPED_AT) != 0;
  s.hasBlockSize = (f & FLAG_BLOCK_SIZE) != 0;
  s.hasNumGpuBlocks = (f & FLAG_NUM_GPU_BLOCKS) != 0;
  if ((f & FLAG_LEARNED) != 0 ? !validSums(s.clockSum, s.tokensSum) : s.clockSum != 0 || s.tokensSum != 0) return null;
  s.hasMark = (f & FLAG_MARK) != 0;
  return s;
}

/** Decodes one state; null on anything but exactly one well-formed state of this version. */
export function decodeState(b: Uint8Array): EndpointState | null {
  const r = new Reader(b, 0, b.length);
  const s = readState(r);
  if (s == null || r.pos != b.length) return null;
  return s;
}

/** Decodes a pool written by encodeStates; null on any defect. */
export function decodeStates(b: Uint8Array): Array<EndpointState> | null {
  const r = new Reader(b, 0, b.length);
  if (r.u8() != STATE_VERSION) return null;
  const n = r.u32();
  if (r.bad || n > <u32>MAX_POOL_SIZE) return null;
  const out = new Array<EndpointState>();
  for (let i: u32 = 0; i < n; i++) {
    const len = r.u32();
    if (r.bad || len > <u32>(r.end - r.pos)) return null;
    const sub = new Reader(b, r.pos, r.pos + <i32>len);
    const s = readState(sub);
    if (s == null || sub.pos != sub.end) return null;
    out.push(s);
    r.pos += <i32>len;
  }
  if (r.pos != b.length) return null;
  return out;
}
