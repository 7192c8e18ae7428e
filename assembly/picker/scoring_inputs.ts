// What the scorers are given for a request beyond the endpoints' states:
// the index's matches with what else says an endpoint holds the prompt
// (a fleet's placement hint, the previous reply), a new prefix's placement
// weights, the prompt's size, its priority and its LoRA adapter.
import { Header } from "../request/types";
import { HEADER_PRIORITY } from "../request/headers";
import { PrefixIndex } from "../prefix/prefix_index";
import { endpointId } from "../prefix/endpoint_id";
import { EndpointState } from "../pool/endpoint_state";
import { Placement } from "../fleet/placements";

/**
 * Blocks of the whole prompt, estimated from the body size (hashing stops
 * at prefix.maxBlocks, so the hashes alone undercount long prompts; the JSON
 * body is within a few percent of the rendered prompt for text-heavy bodies).
 */
export function promptBlocksOf(bodyBytes: i32, blockSize: i32, hashed: i32): i32 {
  const size = blockSize > 0 ? blockSize : 64;
  const fromBody = (bodyBytes + size - 1) / size;
  return fromBody > hashed ? fromBody : hashed;
}

/**
 * The chained hash at this block keys where a new prefix is placed: 8 blocks
 * of 64 bytes, about 128 tokens. A shorter key would send different prompts
 * that merely open alike to one server; a longer one would give requests
 * that share only a short prefix different keys. Prefixes shorter than this
 * are cheap to prefill on two servers.
 */
const PLACEMENT_BLOCK: i32 = 8;

/**
 * Rendezvous weights of the pool for a request whose prefix no endpoint
 * holds (null when some endpoint holds part of it: affinity decides then).
 * Every replica of a fleet computes the same weights for the same prefix,
 * so the first of them to see it and the others that see it later pick the
 * same server while its load allows (docs/fleet.md "Placing a new prefix").
 */
export function placementOf(hashes: StaticArray<u64>, addresses: Array<string>, matched: Int32Array): Float64Array | null {
  if (hashes.length == 0) return null;
  for (let i = 0; i < matched.length; i++) if (unchecked(matched[i]) > 0) return null;
  const key = unchecked(hashes[min(hashes.length, PLACEMENT_BLOCK) - 1]);
  const out = new Float64Array(addresses.length);
  for (let i = 0; i < addresses.length; i++) unchecked((out[i] = <f64>(mix64(key ^ <u64>endpointId(unchecked(addresses[i]))) >> 11)));
  return out;
}

/**
 * A placement hint says the endpoint held the session's last prompt, `blocks`
 * blocks long, when it was sent there: counted as matched up to this
 * request's hashed length, unless the index already knows more. The index
 * of a replica that just took the session over knows only what the session
 * shares with others (a system prompt), not the conversation.
 */
export function creditPlacement(matched: Int32Array, addresses: Array<string>, hint: Placement, hashed: i32, index: PrefixIndex): bool {
  const blocks = min(hint.blocks, hashed);
  if (blocks <= 0) return false;
  for (let i = 0; i < addresses.length && i < matched.length; i++) {
    if (endpointId(unchecked(addresses[i])) != hint.endpointId || unchecked(matched[i]) >= blocks) continue;
    // The index recorded this prompt there itself and has seen the server write its cache over since.
    if (index.evictedAt(i)) return false;
    unchecked((matched[i] = blocks));
    return true;
  }
  return false;
}

/**
 * The reply of the previous turn (its whole blocks [start, replyEnd)) is
 * cached on every endpoint that holds the prompt up to it: that endpoint
 * generated it (docs/routing.md "Replies are cached"). The index records
 * prompts only, so without this the server that holds a conversation looks
 * a reply's length less attractive than it is. `skip`: an endpoint whose
 * match already weighs it (RouteResult.judgedEndpoint; -1: none).
 */
export function creditReply(matched: Int32Array, start: i32, replyEnd: i32, hashed: i32, skip: i32 = -1): void {
  const end = min(replyEnd, hashed);
  if (start <= 0 || end <= start) return;
  for (let i = 0; i < matched.length; i++) {
    if (i == skip) continue;
    const m = unchecked(matched[i]);
    if (m >= start && m < end) unchecked((matched[i] = end));
  }
}

/** splitmix64's finalizer: spreads a 64-bit key over all bits. */
function mix64(x: u64): u64 {
  let z = x;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

export function fractions(matched: Int32Array, total: i32): Float64Array {
  const out = new Float64Array(matched.length);
  if (total == 0) return out;
  for (let i = 0; i < matched.length; i++) unchecked((out[i] = <f64>unchecked(matched[i]) / <f64>total));
  return out;
}

/** Sheddable when x-gateway-inference-priority is a negative integer. */
export function priorityOf(headers: Array<Header>): i32 {
  for (let i = 0; i < headers.length; i++) {
    const h = unchecked(headers[i]);
    if (h.name != HEADER_PRIORITY) continue;
    const v = h.value.trim();
    if (v.length < 2 || v.charCodeAt(0) != 0x2d) return 0;
    let nonZero = false; // "-0" is zero, not negative: not sheddable
    for (let j = 1; j < v.length; j++) {
      const c = v.charCodeAt(j);
      if (c < 0x30 || c > 0x39) return 0;
      if (c != 0x30) nonZero = true;
    }
    return nonZero ? -1 : 0;
  }
  return 0;
}

/**
 * The LoRA adapter the request names. The model field names either a base
 * model or an adapter, and only the servers know which: we treat it as an
 * adapter when some endpoint reports it among its running or waiting
 * adapters, so base-model requests are not scored on adapter slots.
 */
export function adapterOf(model: string, states: Array<EndpointState>): string {
  for (let i = 0; i < states.length; i++) {
    const s = unchecked(states[i]);
    if (!s.hasLoras) continue;
    if (s.runningLoras.includes(model) || s.waitingLoras.includes(model)) return model;
  }
  return "";
}
