// The compact, versioned binary encoding of endpoint states, so the scraping
// VM can publish them in proxy-wasm shared data and every worker VM can read
// them; decoding never traps and returns null on anything it does not
// recognise (short, garbled or future-version bytes).
import { MAX_ADAPTERS, MAX_ADAPTER_NAME_BYTES } from "../metrics/signals";
import { EndpointState, MAX_SLOT_CAPACITY } from "./endpoint_state";
import { ClockPerToken, validSums } from "./clock_per_token";
import { UnexpectedPrefill } from "./unexpected_prefill";

// ---------------------------------------------------------------------------
// Binary encoding (little-endian), version 4:
//   u8  version = 1
//   u16 flags (FLAG_* below)
//   str address
//   f64 waiting, f64 running, f64 kvCacheUsage
//   i32 maxLoras, i32 inFlight, u8 healthy, i64 scrapedAtMs,
//   i32 consecutiveFailures, i32 blockSize, i32 numGpuBlocks,
//   i32 slotCapacity (0: not learned)
//   f64 clockSum, f64 tokensSum, f64 tokensMark, u32 clockMark
//     (blocksPerToken: EndpointState.writtenPerToken)
//   f64 clockSum, f64 tokensSum, f64 tokensMark, u32 clockMark,
//   f64 missesSeen, u32 writtenSeen, f64 owed, f64 blocks, i64 atMs
//     (EndpointState.unexpected: its promptBlocks, then the rest)
//   list runningLoras, list waitingLoras
// str = u16 byte length + UTF-8 bytes; list = u16 count + str*.
// A pool is: u8 version = 2, u32 count, then count × (u32 length + state).
// Unknown fields are written as 0 with their flag clear.
// Version 1 had no slotCapacity, version 2 no blocks-per-token sums and
// window marks, version 3 no unexpected prefill; the published key changed with each (shared_state.ts), so a VM of
// a previous build never reads this layout.

export const STATE_VERSION: u8 = 4;
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
const FLAG_PROMPT_LEARNED: u16 = 1 << 12;
const FLAG_PROMPT_MARK: u16 = 1 << 13;
const FLAG_SEEN: u16 = 1 << 14;
const FLAGS_KNOWN: u16 = (1 << 15) - 1;
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
  if (s.writtenPerToken.learned) f |= FLAG_LEARNED;
  if (s.writtenPerToken.hasMark) f |= FLAG_MARK;
  const u = s.unexpected;
  if (u.promptBlocks.learned) f |= FLAG_PROMPT_LEARNED;
  if (u.promptBlocks.hasMark) f |= FLAG_PROMPT_MARK;
  if (u.hasSeen) f |= FLAG_SEEN;
  return f;
}

// The encoder sizes the value first and writes it with plain stores into one
// allocation: the scraping VM encodes the whole pool on every scrape, and a
// byte-at-a-time writer with a copy per state cost more than the rest of
// publishing (docs/benchmarks.md "Fourth pass: scrape").

/** Bytes of a state besides its address and lists: version, flags, 3 f64, 4 + 4 + 1 + 8 + 4 × 4, twice 3 f64 + 4, f64 + 4 + 2 f64 + 8. */
const STATE_FIXED_BYTES: i32 = 152;
/** Bytes of a learned ratio (ClockPerToken): 3 f64 + u32. */
const RATIO_BYTES: i32 = 28;

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
  const u = s.unexpected;
  if (!validSums(s.writtenPerToken.clockSum, s.writtenPerToken.tokensSum)) f &= ~FLAG_LEARNED;
  if (!validCount(s.writtenPerToken.tokensMark)) f &= ~FLAG_MARK;
  if (!validSums(u.promptBlocks.clockSum, u.promptBlocks.tokensSum)) f &= ~FLAG_PROMPT_LEARNED;
  if (!validCount(u.promptBlocks.tokensMark)) f &= ~FLAG_PROMPT_MARK;
  if (!validCount(u.missesSeen) || !validCount(u.owed) || !validCount(u.blocks)) f &= ~FLAG_SEEN;
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
  p = writeRatioAt(p + 57, s.writtenPerToken, (f & FLAG_LEARNED) != 0, (f & FLAG_MARK) != 0);
  p = writeRatioAt(p, u.promptBlocks, (f & FLAG_PROMPT_LEARNED) != 0, (f & FLAG_PROMPT_MARK) != 0);
  const seen = (f & FLAG_SEEN) != 0;
  store<f64>(p, seen ? u.missesSeen : 0);
  store<u32>(p, seen ? u.writtenSeen : 0, 8);
  store<f64>(p, seen ? u.owed : 0, 12);
  store<f64>(p, seen ? u.blocks : 0, 20);
  store<u64>(p, seen ? <u64>u.atMs : 0, 28);
  p = writeListAt(p + 36, s.runningLoras);
  return writeListAt(p, s.waitingLoras);
}

/** Writes a learned ratio's sums (0 unless `learned`) and window mark (0 unless `marked`); returns the end. */
function writeRatioAt(p: usize, r: ClockPerToken, learned: bool, marked: bool): usize {
  store<f64>(p, learned ? r.clockSum : 0);
  store<f64>(p, learned ? r.tokensSum : 0, 8);
  store<f64>(p, marked ? r.tokensMark : 0, 16);
  store<u32>(p, marked ? r.clockMark : 0, 24);
  return p + <usize>RATIO_BYTES;
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
  if (!readRatio(r, s.writtenPerToken, (f & FLAG_LEARNED) != 0, (f & FLAG_MARK) != 0)) return null;
  const u = s.unexpected;
  if (!readRatio(r, u.promptBlocks, (f & FLAG_PROMPT_LEARNED) != 0, (f & FLAG_PROMPT_MARK) != 0)) return null;
  if (!readSeen(r, u, (f & FLAG_SEEN) != 0)) return null;
  s.runningLoras = r.list();
  s.waitingLoras = r.list();
  if (r.bad || healthy > 1) return null;
  if (!validCount(s.waiting) || !validCount(s.running) || !validFraction(s.kvCacheUsage)) return null;
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
  return s;
}

/** Reads a learned ratio written by writeRatioAt into `into`; false when its values are not ones a ratio can hold. */
function readRatio(r: Reader, into: ClockPerToken, learned: bool, marked: bool): bool {
  into.clockSum = r.f64();
  into.tokensSum = r.f64();
  into.tokensMark = r.f64();
  into.clockMark = r.u32();
  into.hasMark = marked;
  if (!validCount(into.tokensMark)) return false;
  return learned ? validSums(into.clockSum, into.tokensSum) : into.clockSum == 0 && into.tokensSum == 0;
}

/** Reads what UnexpectedPrefill keeps between scrapes into `into`; false when a value is out of range. */
function readSeen(r: Reader, into: UnexpectedPrefill, seen: bool): bool {
  into.missesSeen = r.f64();
  into.writtenSeen = r.u32();
  into.owed = r.f64();
  into.blocks = r.f64();
  into.atMs = <i64>r.u64();
  into.hasSeen = seen;
  return validCount(into.missesSeen) && validCount(into.owed) && validCount(into.blocks);
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
