// Unit-test entry for assembly/scoring and assembly/metrics (built to
// build/units-scoring.wasm, loaded by test/unit through test/unit/units.ts).
// Exports thin wrappers over the pure functions of these folders; never
// imported by the filter.
import { writeJsonText, writeNumber } from "../json/writer";
import { parseVllmMetrics } from "../metrics/prometheus";
import { EndpointMetrics } from "../metrics/signals";
import { parseGoFloat, ParsedNumber } from "../metrics/numbers";
import { readEndpointsSnapshot, writeEndpointsSnapshot } from "../pool/snapshot";
import { EndpointState } from "../pool/endpoint_state";
import { decodeState, decodeStates, encodeState, encodeStates } from "../pool/state_codec";
import { ClockPerToken } from "../pool/clock_per_token";
import { RoutedClocks, UnexpectedPrefill } from "../pool/unexpected_prefill";
import { ByteWriter } from "../util/bytes";
import { MemoryStore } from "../util/store";
import { METRICS_KEY, publishScrape } from "../pool/shared_state";
import { changeInFlight, InFlightDelta, pruneInFlight, readInFlight } from "../pool/in_flight";
import { DECODE_ENTRY, DecodeChange, decodeFields } from "../pool/decode_ends";
import { endpointId } from "../prefix/endpoint_id";
import { ScoringConfig } from "./config";
import { decide, writeDecisionFields } from "./decide";
import { pickMaxScore } from "./picker";
import { Pcg32 } from "./rng";
import { PastHashed, ScoringRequest } from "./scorer";

export function selfCheck(input: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  w.bytes(input);
  return w.toBytes();
}

function names(w: ByteWriter, list: Array<string>): void {
  w.byte(0x5b);
  for (let i = 0; i < list.length; i++) {
    if (i > 0) w.byte(0x2c);
    writeJsonText(w, list[i]);
  }
  w.byte(0x5d);
}

function field(w: ByteWriter, name: string, known: bool, value: f64): void {
  w.str(',"' + name + '":');
  if (known) writeNumber(w, value);
  else w.str("null");
}

/** parseVllmMetrics as JSON: unknown fields are null. */
export function parseMetrics(body: Uint8Array): string {
  const m: EndpointMetrics = parseVllmMetrics(body);
  const w = new ByteWriter();
  w.str('{"samples":' + m.samples.toString() + ',"rejectedLines":' + m.rejectedLines.toString());
  field(w, "waiting", m.hasWaiting, m.waiting);
  field(w, "running", m.hasRunning, m.running);
  field(w, "kvCacheUsage", m.hasKvCacheUsage, m.kvCacheUsage);
  field(w, "maxLoras", m.hasMaxLoras, <f64>m.maxLoras);
  field(w, "blockSize", m.hasBlockSize, <f64>m.blockSize);
  field(w, "numGpuBlocks", m.hasNumGpuBlocks, <f64>m.numGpuBlocks);
  field(w, "promptTokens", m.hasPromptTokens, m.promptTokens);
  field(w, "prefixQueries", m.hasPrefixQueries, m.prefixQueries);
  field(w, "prefixHits", m.hasPrefixHits, m.prefixHits);
  field(w, "generationTokens", m.hasGenerationTokens, m.generationTokens);
  w.str(',"runningLoras":');
  if (m.hasLoras) names(w, m.runningLoras);
  else w.str("null");
  w.str(',"waitingLoras":');
  if (m.hasLoras) names(w, m.waitingLoras);
  else w.str("null");
  w.byte(0x7d);
  return String.UTF8.decodeUnsafe(w.view().dataStart, <usize>w.length);
}

/**
 * parseVllmMetrics's numbers bit-exact: samples, rejectedLines, then waiting,
 * running, kvCacheUsage, maxLoras, blockSize, numGpuBlocks, promptTokens,
 * prefixQueries, prefixHits, generationTokens, cacheWrites (NaN: unknown).
 */
export function parseMetricsValues(body: Uint8Array): StaticArray<f64> {
  const m = parseVllmMetrics(body);
  const out = new StaticArray<f64>(13);
  out[0] = <f64>m.samples;
  out[1] = <f64>m.rejectedLines;
  out[2] = m.hasWaiting ? m.waiting : NaN;
  out[3] = m.hasRunning ? m.running : NaN;
  out[4] = m.hasKvCacheUsage ? m.kvCacheUsage : NaN;
  out[5] = m.hasMaxLoras ? <f64>m.maxLoras : NaN;
  out[6] = m.hasBlockSize ? <f64>m.blockSize : NaN;
  out[7] = m.hasNumGpuBlocks ? <f64>m.numGpuBlocks : NaN;
  out[8] = m.hasPromptTokens ? m.promptTokens : NaN;
  out[9] = m.hasPrefixQueries ? m.prefixQueries : NaN;
  out[10] = m.hasPrefixHits ? m.prefixHits : NaN;
  out[11] = m.hasGenerationTokens ? m.generationTokens : NaN;
  out[12] = m.cacheWrites;
  return out;
}

/** A sample value token through the page parser's number reader: [1, value] or [0, 0] when it is not Go float syntax. */
export function parseSampleValue(text: Uint8Array): StaticArray<f64> {
  const n = new ParsedNumber();
  const ok = parseGoFloat(text, 0, text.length, n);
  const out = new StaticArray<f64>(2);
  out[0] = ok ? 1 : 0;
  out[1] = n.value;
  return out;
}

/** A learned ratio's sums (null until learned) and window mark (null without one), keys prefixed with `prefix` (camel case). */
function ratioJson(w: ByteWriter, prefix: string, r: ClockPerToken): void {
  field(w, prefixed(prefix, "clockSum"), r.learned, r.clockSum);
  field(w, prefixed(prefix, "tokensSum"), r.learned, r.tokensSum);
  field(w, prefixed(prefix, "tokensMark"), r.hasMark, r.tokensMark);
  field(w, prefixed(prefix, "clockMark"), r.hasMark, <f64>r.clockMark);
}

/** `name` after `prefix` in camel case ("prompt", "clockSum" → "promptClockSum"). */
function prefixed(prefix: string, name: string): string {
  return prefix.length == 0 ? name : prefix + name.charAt(0).toUpperCase() + name.slice(1);
}

/** Sets a learned ratio from nums[at..at+3] (sums learned when nums[at+1] is not NaN; a mark when nums[at+2] is not NaN). */
function ratioFrom(r: ClockPerToken, nums: Float64Array, at: i32): void {
  const learned = nums.length > at + 1 && !isNaN(nums[at + 1]);
  r.clockSum = learned ? nums[at] : 0;
  r.tokensSum = learned ? nums[at + 1] : 0;
  r.hasMark = nums.length > at + 3 && !isNaN(nums[at + 2]);
  r.tokensMark = r.hasMark ? nums[at + 2] : 0;
  r.clockMark = r.hasMark ? <u32>nums[at + 3] : 0;
}

/** Every field of a state, unknown ones null (round-trip tests). */
function stateJson(w: ByteWriter, s: EndpointState): void {
  w.str('{"address":');
  writeJsonText(w, s.address);
  field(w, "waiting", s.hasWaiting, s.waiting);
  field(w, "running", s.hasRunning, s.running);
  field(w, "kvCacheUsage", s.hasKvCacheUsage, s.kvCacheUsage);
  field(w, "maxLoras", s.hasMaxLoras, <f64>s.maxLoras);
  field(w, "inFlight", s.hasInFlight, <f64>s.inFlight);
  field(w, "scrapedAtMs", s.hasScrapedAt, <f64>s.scrapedAtMs);
  field(w, "blockSize", s.hasBlockSize, <f64>s.blockSize);
  field(w, "numGpuBlocks", s.hasNumGpuBlocks, <f64>s.numGpuBlocks);
  w.str(',"slotCapacity":' + s.slotCapacity.toString());
  ratioJson(w, "", s.writtenPerToken);
  const u = s.unexpected;
  ratioJson(w, "prompt", u.promptBlocks);
  field(w, "missesSeen", u.hasSeen, u.missesSeen);
  field(w, "writtenSeen", u.hasSeen, <f64>u.writtenSeen);
  field(w, "owed", u.hasSeen, u.owed);
  field(w, "unexpectedBlocks", u.hasSeen, u.blocks);
  field(w, "unexpectedAtMs", u.hasSeen, <f64>u.atMs);
  w.str(',"consecutiveFailures":' + s.consecutiveFailures.toString());
  w.str(',"healthy":' + (s.hasHealthy ? (s.healthy ? "true" : "false") : "null"));
  w.str(',"runningLoras":');
  if (s.hasLoras) names(w, s.runningLoras);
  else w.str("null");
  w.str(',"waitingLoras":');
  if (s.hasLoras) names(w, s.waitingLoras);
  else w.str("null");
  w.byte(0x7d);
}

function text(w: ByteWriter): string {
  return String.UTF8.decodeUnsafe(w.view().dataStart, <usize>w.length);
}

function splitLines(s: string): Array<string> {
  if (s.length == 0) return [];
  return s.split("\n");
}

/**
 * Builds a state from flat arguments (NaN = unknown) and encodes it.
 * nums: [waiting, running, kvCacheUsage, maxLoras, inFlight, healthy(0/1),
 * scrapedAtMs, consecutiveFailures, blockSize, numGpuBlocks, slotCapacity
 * (optional, 0 = not learned), clockSum and tokensSum (optional, learned
 * when tokensSum is not NaN), tokensMark and clockMark (optional, a window
 * mark when tokensMark is not NaN), the same four of the prompt blocks per
 * token (UnexpectedPrefill.promptBlocks), then missesSeen, writtenSeen,
 * owed, blocks and atMs (optional, seen when missesSeen is not NaN)]; loras: names
 * joined by "\n", hasLoras separately.
 */
export function encodeStateFrom(address: string, nums: Float64Array, hasLoras: bool, running: string, waiting: string): Uint8Array {
  const s = new EndpointState(address);
  if (nums.length < 10) return new Uint8Array(0);
  s.hasWaiting = !isNaN(nums[0]);
  s.waiting = s.hasWaiting ? nums[0] : 0;
  s.hasRunning = !isNaN(nums[1]);
  s.running = s.hasRunning ? nums[1] : 0;
  s.hasKvCacheUsage = !isNaN(nums[2]);
  s.kvCacheUsage = s.hasKvCacheUsage ? nums[2] : 0;
  s.hasMaxLoras = !isNaN(nums[3]);
  s.maxLoras = s.hasMaxLoras ? <i32>nums[3] : 0;
  s.hasInFlight = !isNaN(nums[4]);
  s.inFlight = s.hasInFlight ? <i32>nums[4] : 0;
  s.hasHealthy = !isNaN(nums[5]);
  s.healthy = s.hasHealthy ? nums[5] != 0 : true;
  s.hasScrapedAt = !isNaN(nums[6]);
  s.scrapedAtMs = s.hasScrapedAt ? <i64>nums[6] : 0;
  s.consecutiveFailures = isNaN(nums[7]) ? 0 : <i32>nums[7];
  s.hasBlockSize = !isNaN(nums[8]);
  s.blockSize = s.hasBlockSize ? <i32>nums[8] : 0;
  s.hasNumGpuBlocks = !isNaN(nums[9]);
  s.numGpuBlocks = s.hasNumGpuBlocks ? <i32>nums[9] : 0;
  s.slotCapacity = nums.length > 10 && nums[10] > 0 ? <i32>nums[10] : 0;
  ratioFrom(s.writtenPerToken, nums, 11);
  const u = s.unexpected;
  ratioFrom(u.promptBlocks, nums, 15);
  u.hasSeen = nums.length > 23 && !isNaN(nums[19]);
  if (u.hasSeen) {
    u.missesSeen = nums[19];
    u.writtenSeen = <u32>nums[20];
    u.owed = nums[21];
    u.blocks = nums[22];
    u.atMs = <i64>nums[23];
  }
  s.hasLoras = hasLoras;
  if (hasLoras) {
    s.runningLoras = splitLines(running);
    s.waitingLoras = splitLines(waiting);
  }
  return encodeState(s);
}

/** decodeState as JSON ("null" when refused). */
export function decodeStateJson(bytes: Uint8Array): string {
  const s = decodeState(bytes);
  if (s == null) return "null";
  const w = new ByteWriter();
  stateJson(w, s);
  return text(w);
}

/** decodeStates as a JSON array ("null" when refused). */
export function decodeStatesJson(bytes: Uint8Array): string {
  const list = decodeStates(bytes);
  if (list == null) return "null";
  const w = new ByteWriter();
  w.byte(0x5b);
  for (let i = 0; i < list.length; i++) {
    if (i > 0) w.byte(0x2c);
    stateJson(w, list[i]);
  }
  w.byte(0x5d);
  return text(w);
}

/** {"error":"<error>"}: what the snapshot-reading exports return when the snapshot does not read. */
function errorJson(error: string): string {
  const w = new ByteWriter();
  w.str('{"error":');
  writeJsonText(w, error);
  w.byte(0x7d);
  return text(w);
}

/** Reads an endpoints snapshot and encodes the pool (empty on error). */
export function encodeSnapshot(json: Uint8Array): Uint8Array {
  const r = readEndpointsSnapshot(json);
  if (!r.ok) return new Uint8Array(0);
  return encodeStates(r.states);
}

/** Reads an endpoints snapshot; returns {"error":...} or the snapshot written back. */
export function snapshotRoundTrip(json: Uint8Array): string {
  const r = readEndpointsSnapshot(json);
  if (!r.ok) return errorJson(r.error);
  const w = new ByteWriter();
  writeEndpointsSnapshot(w, r.states);
  return text(w);
}

/** Values per scrape in observeUnexpectedPrefill's result. */
const UNEXPECTED_OUT: i32 = 6;

/**
 * Drives UnexpectedPrefill through scrapes. `steps` holds 7 numbers per
 * scrape: the server's prefix-cache queries and hits, this Envoy's written
 * and prompt clocks, its pending blocks and pace, and the scrape's time
 * (ms). The written clock each scrape reads also carries what earlier
 * scrapes folded into it, as the scraper adds it (publishScrape). Returns 6
 * per scrape: owed, blocks, atMs, what remains at that time and pace, the
 * learned prompt blocks per token (NaN until learned), and the blocks
 * folded into the clock.
 */
export function observeUnexpectedPrefill(steps: Float64Array): Float64Array {
  const u = new UnexpectedPrefill();
  const n = steps.length / 7;
  const out = new Float64Array(n * UNEXPECTED_OUT);
  let folded: u32 = 0;
  for (let i = 0; i < n; i++) {
    const at = i * 7;
    const written = <u32>(<u64>steps[at + 2]) + folded; // wrapping clock
    const clocks = new RoutedClocks(written, <u32>(<u64>steps[at + 3]), <i32>steps[at + 4], steps[at + 5]);
    const now = <i64>steps[at + 6];
    u.observe(steps[at], steps[at + 1], clocks, now);
    folded += u.foundBlocks();
    const o = i * UNEXPECTED_OUT;
    out[o] = u.owed;
    out[o + 1] = u.blocks;
    out[o + 2] = <f64>u.atMs;
    out[o + 3] = u.remaining(now, clocks.pace);
    out[o + 4] = u.promptBlocks.learned ? u.promptBlocks.ratio : NaN;
    out[o + 5] = <f64>u.foundBlocks();
  }
  return out;
}

/**
 * Applies scrape pages in order ("\u0000"-separated list of pages; an empty
 * page is a failed scrape) at times nowMs = 1000 × (i + 1), then refreshes
 * health at `checkAtMs` and returns the state as JSON.
 */
export function scrapeSequence(pages: Uint8Array, checkAtMs: f64, staleAfterMs: f64, maxFailures: i32): string {
  const s = new EndpointState("10.0.0.1:8000");
  let start = 0;
  let i = 0;
  for (let p = 0; p <= pages.length; p++) {
    if (p < pages.length && pages[p] != 0) continue;
    const page = pages.subarray(start, p);
    if (page.length == 0) s.recordFailure();
    else s.applyScrape(parseVllmMetrics(page), <i64>(1000 * (i + 1)));
    start = p + 1;
    i++;
  }
  s.refreshHealth(<i64>checkAtMs, <i64>staleAfterMs, maxFailures);
  const w = new ByteWriter();
  stateJson(w, s);
  return text(w);
}

/**
 * Feeds (cache-writes counter, written-blocks clock) pairs to one state's
 * learning, in order; returns blocksPerToken after each (NaN: not learned).
 */
export function learnBlocksPerToken(tokens: Float64Array, clock: Float64Array): Float64Array {
  const s = new EndpointState("10.0.0.1:8000");
  const n = tokens.length < clock.length ? tokens.length : clock.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s.learnBlocksPerToken(tokens[i], <u32>(<u64>clock[i]));
    out[i] = s.hasBlocksPerToken ? s.blocksPerToken : NaN;
  }
  return out;
}

/** The decision over a snapshot's endpoints as JSON, or {"error":…} when the snapshot does not read. */
function decisionOver(json: Uint8Array, req: ScoringRequest, cfg: ScoringConfig, seed: u32): string {
  const r = readEndpointsSnapshot(json);
  if (!r.ok) return errorJson(r.error);
  const w = new ByteWriter();
  const d = decide(r.states, req, cfg, new Pcg32(<u64>seed));
  w.byte(0x7b);
  writeDecisionFields(w, d, r.states);
  w.byte(0x7d);
  return text(w);
}

/**
 * Runs the decision over a snapshot. weights: one per registered scorer in
 * registry order ([prefix, queue, kvCache, loraAffinity, inFlight]); guard: [enabled, abs, rel]; saturation:
 * [queue, kv]; prefix: per-endpoint prefix scores, empty = no prefix scorer.
 */
export function decideSnapshot(
  json: Uint8Array,
  adapter: string,
  priority: i32,
  prefix: Float64Array,
  seed: u32,
  weights: Float64Array,
  guard: Float64Array,
  saturation: Float64Array,
): string {
  const cfg = new ScoringConfig();
  cfg.selectProfile("seed");
  const scorers = cfg.profile.scorers;
  if (weights.length == scorers.length) {
    for (let i = 0; i < scorers.length; i++) scorers[i].weight = weights[i];
  }
  if (guard.length == 3) {
    cfg.guard.enabled = guard[0] != 0;
    cfg.guard.absThreshold = guard[1];
    cfg.guard.relThreshold = guard[2];
  }
  if (saturation.length == 2) {
    cfg.saturation.queueThreshold = saturation[0];
    cfg.saturation.kvCacheThreshold = saturation[1];
  }
  const req = new ScoringRequest();
  req.adapter = adapter;
  req.priority = priority;
  if (prefix.length > 0) req.prefixScores = prefix;
  return decisionOver(json, req, cfg, seed);
}

/**
 * Runs the default profile's decision over a snapshot (pendingBlocks in the
 * snapshot are the queued prefill): `matched` leading blocks held per
 * endpoint (empty = request not hashed), `hashed` blocks hashed, `prompt`
 * blocks estimated for the whole prompt, `loadFactor` and `waitRatio` the
 * bounds (0: default),
 * `placement` the fleet's preference for a new prefix per endpoint (empty: none),
 * `loadYieldRatio` the load bound's yield (negative: default),
 * `pastHolder` the endpoint known to hold the prompt past its hashed blocks
 * (negative: none), `pastLacks` the blocks past them it lacks and
 * `pastOthersLack` what the other endpoints holding the hashed ones lack.
 */
export function decideDefault(
  json: Uint8Array,
  adapter: string,
  priority: i32,
  matched: Int32Array,
  hashed: i32,
  prompt: i32,
  loadFactor: f64,
  waitRatio: f64,
  seed: u32,
  placement: Float64Array,
  loadYieldRatio: f64,
  pastHolder: i32,
  pastLacks: i32,
  pastOthersLack: i32,
): string {
  const cfg = new ScoringConfig();
  if (loadFactor > 0) cfg.bound.loadFactor = loadFactor;
  if (waitRatio > 0) cfg.bound.waitRatio = waitRatio;
  if (loadYieldRatio >= 0) cfg.bound.loadYieldRatio = loadYieldRatio;
  const req = new ScoringRequest();
  req.adapter = adapter;
  req.priority = priority;
  if (matched.length > 0) req.matchedBlocks = matched;
  req.hashedBlocks = hashed;
  req.promptBlocks = prompt;
  if (placement.length > 0) req.placement = placement;
  if (pastHolder >= 0) req.pastHashed = new PastHashed(pastHolder, pastLacks, pastOthersLack);
  return decisionOver(json, req, cfg, seed);
}

/** Runs the picker `draws` times with one PRNG; returns how often each index won. */
export function pickCounts(totals: Float64Array, seed: u32, draws: i32): Int32Array {
  const counts = new Int32Array(totals.length);
  const rng = new Pcg32(<u64>seed);
  for (let i = 0; i < draws; i++) {
    const k = pickMaxScore(totals, rng);
    if (k >= 0 && k < counts.length) counts[k]++;
  }
  return counts;
}

/** First `n` outputs of Pcg32(seed).below(bound). */
export function rngBelow(seed: u32, bound: u32, n: i32): Uint32Array {
  const out = new Uint32Array(n > 0 ? n : 0);
  const rng = new Pcg32(<u64>seed);
  for (let i = 0; i < out.length; i++) out[i] = rng.below(bound);
  return out;
}

/** For timing decide() alone: reads the snapshot once, decides `n` times; returns Σ chosen. */
export function decideRepeat(json: Uint8Array, adapter: string, prefix: Float64Array, n: i32): i32 {
  const r = readEndpointsSnapshot(json);
  if (!r.ok) return -1;
  const cfg = new ScoringConfig();
  const req = new ScoringRequest();
  req.adapter = adapter;
  if (prefix.length > 0) req.prefixScores = prefix;
  const rng = new Pcg32(1);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += decide(r.states, req, cfg, rng).chosen;
  return sum;
}

/**
 * publishScrape's reuse of its own last value: pages[i] (NUL-separated) is
 * published for address "10.0.0.<i % 2 + 1>:8000" at 1000 × (i + 1) ms;
 * before step `outsideAt` another writer replaces the value (the states
 * decoded, endpoint 10.0.0.9:8000 added, every `waiting` set to 77). Returns
 * the published value decoded (JSON list), then "|", then the health the
 * scraper read from each publish ("1"/"0"), so a test sees that the outside
 * write is kept and the scraper's health read left nothing behind.
 */
export function publishSequence(pages: Uint8Array, outsideAt: i32): string {
  const store = new MemoryStore();
  let start = 0;
  let i = 0;
  let health = "";
  for (let p = 0; p <= pages.length; p++) {
    if (p < pages.length && pages[p] != 0) continue;
    if (i == outsideAt) {
      const v = store.get(METRICS_KEY);
      const states = v.found ? decodeStates(v.bytes) : new Array<EndpointState>();
      if (states != null) {
        for (let k = 0; k < states.length; k++) {
          states[k].waiting = 77;
          states[k].hasWaiting = true;
        }
        states.push(new EndpointState("10.0.0.9:8000"));
        store.set(METRICS_KEY, encodeStates(states), 0);
      }
    }
    const page = pages.subarray(start, p);
    const address = "10.0.0." + (i % 2 + 1).toString() + ":8000";
    const s = publishScrape(store, address, page.length > 0 ? parseVllmMetrics(page) : null, <i64>(1000 * (i + 1)));
    health += s == null ? "-" : s.healthAt(<i64>(1000 * (i + 1)), 500) ? "1" : "0";
    start = p + 1;
    i++;
  }
  const v = store.get(METRICS_KEY);
  return (v.found ? decodeStatesJson(v.bytes) : "null") + "|" + health;
}

/**
 * Applies in-flight changes to one value (pool/in_flight.ts), five i32 per
 * change: kind (0 routed, 1 first token, 2 ended, 3 pool pruned to the
 * endpoints below `keep`), endpoint index (addresses "10.0.0.<i>:8000"), request key,
 * now (ms), output tokens (0: no max_tokens, not recorded). Returns per
 * endpoint index 0..7 its count, then "|", then the decoding requests as
 * "endpointIndex:key:firstMs:tokens" in value order, then "|", then the
 * wait until endpoint 0's first place frees at `placesAtMs` with 1 place
 * and 1 ms per token (-1: not known).
 */
export function inFlightSequence(changes: Int32Array, keep: i32, placesAtMs: i32): string {
  const store = new MemoryStore();
  const addresses = new Array<string>();
  const ids = new Array<u32>();
  for (let i = 0; i < 8; i++) {
    addresses.push("10.0.0." + i.toString() + ":8000");
    ids.push(endpointId(addresses[i]));
  }
  for (let c = 0; c + 5 <= changes.length; c += 5) {
    const kind = changes[c];
    const e = min(max(changes[c + 1], 0), 7);
    const key = <u32>changes[c + 2];
    const now = <i64>changes[c + 3];
    const tokens = changes[c + 4];
    if (kind == 3) {
      pruneInFlight(store, addresses.slice(0, min(max(keep, 0), 8)));
      continue;
    }
    const d = new InFlightDelta();
    d.count = kind == 0 ? 1 : kind == 2 ? -1 : 0;
    if (tokens > 0 || kind != 0) d.decode = kind == 0 ? DecodeChange.add(key, now, tokens) : kind == 1 ? DecodeChange.start(key, now) : DecodeChange.end(key);
    changeInFlight(store, addresses[e], d, null);
  }
  const inflight = readInFlight(store);
  let out = "";
  for (let i = 0; i < 8; i++) out += (i > 0 ? "," : "") + inflight.countOf(ids[i]).toString();
  out += "|";
  const decodes = inflight.decodes;
  for (let i = 0; i < decodes.length / DECODE_ENTRY; i++) {
    const f = decodeFields(decodes, i);
    out += (i > 0 ? "," : "") + ids.indexOf(f[0]).toString() + ":" + f[1].toString() + ":" + f[3].toString() + ":" + f[4].toString();
  }
  out += "|" + inflight.placeFreesInMs(ids[0], 1, 1, 1, <i64>placesAtMs, 0).toString();
  return out;
}
