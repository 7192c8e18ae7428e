// What the prefix index needs to tell a prefix a server still holds from one
// it has evicted: each endpoint's written-blocks clock (from the shared
// in-flight value) and its eviction horizon, the blocks written there after
// which an entry no longer counts (docs/hashing.md "Evictions").
import { EndpointState } from "../pool/endpoint_state";
import { MAX_CLOCK_ADVANCE } from "../pool/in_flight";

/**
 * Bytes of rendered prompt per token assumed until a server's blocks per
 * token is learned (64 bytes ≈ 16 tokens).
 */
const BYTES_PER_TOKEN: f64 = 4;

/**
 * How far `s`'s written-blocks clock advances per token written into its KV
 * cache: learned from its token counters, else BYTES_PER_TOKEN bytes of
 * `blockBytes`-byte blocks. Counts what a request writes there in all, its
 * prompt and its output.
 */
export function blocksPerTokenOf(s: EndpointState, blockBytes: i32): f64 {
  return s.hasBlocksPerToken ? s.blocksPerToken : BYTES_PER_TOKEN / <f64>blockBytes;
}

/**
 * How many index blocks written to this server's KV cache push out an
 * entry written before them, or 0 when unknown (no `vllm:cache_config_info`
 * in its scrapes). The cache keeps what no running request holds in
 * least-recently-used order, and a request's blocks join that order only
 * when it ends: so an entry lasts what the server writes while its request
 * runs (measured: lifeWrittenBlocks) plus the part of the cache running
 * requests leave free (1 - its KV use). At most the whole cache, and the
 * whole cache until a request has ended or without a KV use. In clock
 * blocks: the cache's tokens (EndpointState.cacheTokens) times
 * blocksPerTokenOf. docs/hashing.md "Evictions".
 */
export function evictionHorizon(s: EndpointState, blockBytes: i32): u32 {
  const whole = cacheClockBlocks(s, blockBytes);
  if (whole <= 0) return 0;
  let blocks = whole;
  if (s.hasKvCacheUsage && s.lifeWrittenBlocks >= 0) blocks = min(whole, freeClockBlocks(s, blockBytes) + <f64>s.lifeWrittenBlocks);
  return <u32>Math.max(1, Math.min(blocks, MAX_CLOCK_ADVANCE));
}

/**
 * The part of the server's KV cache that running requests leave free (1 -
 * its KV use; the whole cache without a KV use), in clock blocks: what an
 * entry whose request has ended lasts. 0 when the cache size is unknown.
 */
export function freeClockBlocks(s: EndpointState, blockBytes: i32): f64 {
  const whole = cacheClockBlocks(s, blockBytes);
  return s.hasKvCacheUsage ? whole * (1 - s.kvCacheUsage) : whole;
}

/** The server's whole KV cache in written-blocks clock blocks, or 0 when unknown. */
export function cacheClockBlocks(s: EndpointState, blockBytes: i32): f64 {
  return blockBytes > 0 ? s.cacheTokens * blocksPerTokenOf(s, blockBytes) : 0;
}

/** Per state: its written-blocks clock. */
export function clocksOf(states: Array<EndpointState>): StaticArray<u32> {
  const out = new StaticArray<u32>(states.length);
  for (let i = 0; i < states.length; i++) unchecked((out[i] = unchecked(states[i]).writtenBlocks));
  return out;
}

/** Per state: its eviction horizon (evictionHorizon). */
export function horizonsOf(states: Array<EndpointState>, blockBytes: i32): StaticArray<u32> {
  const out = new StaticArray<u32>(states.length);
  for (let i = 0; i < states.length; i++) unchecked((out[i] = evictionHorizon(unchecked(states[i]), blockBytes)));
  return out;
}
