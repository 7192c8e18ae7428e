// The requests each endpoint is decoding for this Envoy, and how many output
// tokens each asked for (its max_tokens): from them, when its running
// requests end, which is when places in a full batch free (docs/routing.md
// "When places free"). They are the tail of the in-flight value
// (pool/in_flight.ts), so recording, starting and ending one rides on the
// in-flight change the request makes anyway (no host call of its own):
//   entries of DECODE_ENTRY bytes: u32 endpoint id, u32 request key,
//   u32 routed at (ms, low 32 bits), u32 first token at (ms, low 32 bits;
//   0: not seen), u32 output tokens asked for.
// A request without max_tokens has no entry. An entry goes when its stream
// ends; one left behind (its VM replaced mid-stream) is dropped once older
// than STALE_MS, and at most MAX_ENTRIES are kept, so the value stays bounded.

export const DECODE_ENTRY: i32 = 20;
const AT_KEY: i32 = 4;
const AT_ROUTED: i32 = 8;
const AT_FIRST: i32 = 12;
const AT_TOKENS: i32 = 16;
/** An entry older than this is taken as left behind by a replaced VM. */
const STALE_MS: u32 = 600_000;
/**
 * At most this many entries, 20 KB: every in-flight change copies the whole
 * value, so its size is a cost per request. A request beyond it is not
 * recorded, and its endpoint falls back to the average hold.
 */
export const MAX_ENTRIES: i32 = 1024;

export enum DecodeOp {
  /** A request was routed (its entry appended). */
  Add,
  /** Its first token came back (it runs from now). */
  Start,
  /** Its stream ended (its entry goes). */
  End,
  /** The pool changed: only the entries of `endpoints` stay. */
  KeepEndpoints,
}

/** One change to the decoding requests, applied with the in-flight change it rides on. */
export class DecodeChange {
  /** KeepEndpoints: the endpoint ids whose entries stay. */
  endpoints: Array<u32> | null = null;

  constructor(
    public op: DecodeOp,
    public key: u32,
    /** Now (ms); entries older than STALE_MS at this time are dropped. < 0: none dropped. */
    public nowMs: i64,
    public tokens: i32,
  ) {}

  /** A request routed to the endpoint of the in-flight change it rides on. */
  static add(key: u32, nowMs: i64, tokens: i32): DecodeChange {
    return new DecodeChange(DecodeOp.Add, key, nowMs, tokens);
  }

  static start(key: u32, nowMs: i64): DecodeChange {
    return new DecodeChange(DecodeOp.Start, key, nowMs, 0);
  }

  static end(key: u32): DecodeChange {
    return new DecodeChange(DecodeOp.End, key, -1, 0);
  }

  static keep(endpoints: Array<u32>): DecodeChange {
    const c = new DecodeChange(DecodeOp.KeepEndpoints, 0, -1, 0);
    c.endpoints = endpoints;
    return c;
  }

  /** Whether the entry at `at` goes. */
  drops(at: usize): bool {
    if (this.nowMs >= 0 && <u32>this.nowMs - load<u32>(at, AT_ROUTED) > STALE_MS) return true;
    if (this.op == DecodeOp.End) return load<u32>(at, AT_KEY) == this.key;
    if (this.op == DecodeOp.KeepEndpoints) {
      const keep = this.endpoints;
      return keep == null || !keep.includes(load<u32>(at));
    }
    return false;
  }
}

/** The decoding requests `decodes` (whole entries; a partial one is dropped) with `change` applied, an added one at endpoint `id`; `decodes` itself when there is no change. */
export function withDecodeChange(decodes: Uint8Array, change: DecodeChange | null, id: u32): Uint8Array {
  if (change == null) return decodes;
  const n = decodes.length / DECODE_ENTRY;
  const adds = change.op == DecodeOp.Add ? 1 : 0;
  const out = new Uint8Array((n + adds) * DECODE_ENTRY);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const from = decodes.dataStart + <usize>(i * DECODE_ENTRY);
    if (change.drops(from)) continue;
    const to = out.dataStart + <usize>(m * DECODE_ENTRY);
    memory.copy(to, from, <usize>DECODE_ENTRY);
    if (change.op == DecodeOp.Start && load<u32>(to, AT_KEY) == change.key) store<u32>(to, max<u32>(<u32>change.nowMs, 1), AT_FIRST);
    m++;
  }
  if (adds > 0 && m < MAX_ENTRIES) {
    const to = out.dataStart + <usize>(m * DECODE_ENTRY);
    store<u32>(to, id);
    store<u32>(to, change.key, AT_KEY);
    store<u32>(to, <u32>change.nowMs, AT_ROUTED);
    store<u32>(to, 0, AT_FIRST);
    store<u32>(to, <u32>max(change.tokens, 0), AT_TOKENS);
    m++;
  }
  return m * DECODE_ENTRY == out.length ? out : out.slice(0, m * DECODE_ENTRY);
}

/** The fields of entry `i` of `decodes`: endpoint id, request key, routed at, first token at, tokens (diagnostics and tests). */
export function decodeFields(decodes: Uint8Array, i: i32): StaticArray<u32> {
  const out = new StaticArray<u32>(5);
  if (i < 0 || (i + 1) * DECODE_ENTRY > decodes.length) return out;
  const at = decodes.dataStart + <usize>(i * DECODE_ENTRY);
  for (let f = 0; f < 5; f++) unchecked((out[f] = load<u32>(at + <usize>(f * 4))));
  return out;
}

/**
 * Ms until the `k`-th place frees at endpoint `id` (k ≥ 1), from the
 * decoding requests `decodes`: its requests in routing order, the first `places` of
 * them taken as running (a server admits in arrival order), each ending
 * `tokens × msPerToken` after its first token (after its routing when none
 * was seen). When more than a batch is waiting (k > places), the places
 * that free go to the waiting requests in routing order, each then running
 * its own tokens (freesAfterQueue). -1 when the entries do not cover the
 * endpoint (fewer than `inFlight`, this Envoy's requests there, or than
 * the requests ahead) or a figure is missing: the caller then falls back
 * to the average hold.
 */
export function placeFreesInMs(decodes: Uint8Array, id: u32, k: i32, places: i32, msPerToken: f64, nowMs: i64, inFlight: i32): f64 {
  if (k < 1 || places < 1 || !(msPerToken > 0) || !isFinite(msPerToken)) return -1;
  const now = <u32>nowMs;
  const at = decodes.dataStart;
  const m = decodes.length / DECODE_ENTRY;
  // Ages since routing of this endpoint's requests, oldest first.
  const ages = new Array<u32>();
  for (let i = 0; i < m; i++) {
    const e = at + <usize>(i * DECODE_ENTRY);
    if (load<u32>(e) == id) ages.push(now - load<u32>(e, AT_ROUTED));
  }
  if (ages.length < k || ages.length < inFlight) return -1;
  ages.sort((a: u32, b: u32): i32 => (a > b ? -1 : a < b ? 1 : 0));
  // The `places` oldest run; a newer one waits for a place.
  const youngestRunning = unchecked(ages[min(places, ages.length) - 1]);
  const ends = new Array<f64>();
  // Run ms of the requests waiting for a place, in routing order (the entries' order).
  const queued = new Array<f64>();
  for (let i = 0; i < m; i++) {
    const e = at + <usize>(i * DECODE_ENTRY);
    if (load<u32>(e) != id) continue;
    const age = now - load<u32>(e, AT_ROUTED);
    const runMs = <f64>load<u32>(e, AT_TOKENS) * msPerToken;
    if (age < youngestRunning) {
      queued.push(runMs);
      continue;
    }
    const first = load<u32>(e, AT_FIRST);
    const running: f64 = first != 0 ? <f64>(<i32>(now - first)) : <f64>age;
    ends.push(max(0, runMs - running));
  }
  ends.sort((a: f64, b: f64): i32 => (a < b ? -1 : a > b ? 1 : 0));
  if (ends.length >= k) return unchecked(ends[k - 1]);
  return freesAfterQueue(ends, queued, k);
}

/**
 * The `k`-th place to free, with the running requests ending at `ends`
 * (ascending; changed here) and `waiting` (run ms, in the order they get
 * places) taking the first places that free: each place freed goes to the
 * next waiting request, which frees it again after its run. -1 when fewer
 * than k − 1 wait (the queue is not all known) or nothing runs (the
 * caller's entries always include a running one; a shift from an empty
 * array would abort the VM).
 */
function freesAfterQueue(ends: Array<f64>, waiting: Array<f64>, k: i32): f64 {
  if (ends.length == 0 || waiting.length < k - 1) return -1;
  for (let i = 0; i < k - 1; i++) {
    const freed = ends.shift();
    insertSorted(ends, freed + unchecked(waiting[i]));
  }
  return unchecked(ends[0]);
}

/** Inserts `v` into the ascending `a`, keeping it ascending. */
function insertSorted(a: Array<f64>, v: f64): void {
  let i = a.length;
  a.push(v);
  while (i > 0 && unchecked(a[i - 1]) > v) {
    unchecked((a[i] = a[i - 1]));
    i--;
  }
  unchecked((a[i] = v));
}
