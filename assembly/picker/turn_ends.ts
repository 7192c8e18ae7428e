// Where and when each chat request ended, so that its conversation's next
// turn can tell whether that server still holds the history (docs/hashing.md
// "Evictions", "A conversation's last turn"). The index stamps entries
// when a request is routed and adds the endpoint's mean life to the
// horizon; a request's own life spreads from a sixth of that mean to
// twice it, and the history joins the server's free queue only when it
// ends. So a chat request that ends records, keyed by the hash of its
// rendering's last whole block, its endpoint and the written-blocks clock
// its history lasts until there: the clock then plus a share of the part
// of the cache free then, which is ahead of the history in the server's
// least-recently-used order. The next turn's rendering continues this one
// with the reply, so the hash at its reply's start block is the key.
//
// A rendering cut at prefix.maxBlocks has no last whole block of its own,
// and every turn of its conversation hashes to the same blocks (often just
// a long tools array or document that many conversations share), so the
// index cannot tell which server holds the conversation past them. Its end
// is keyed instead by the last hashed block, the messages it sent (count
// and byte span) and the bytes of its last message; the next turn computes
// the same key from the messages before its previous reply. The endpoint
// found there holds the prompt past its hashed blocks (PastHashed), up to
// the messages after that reply; any other endpoint that holds the hashed
// blocks is taken to hold what precedes the conversation's first reply (a
// shared head: tools, a document, then the opening question) and to lack
// the rest (docs/routing.md "Past the hashed blocks").
import { KeyedBuckets } from "../util/keyed_buckets";
import { KeyValueStore } from "../util/store";
import { EndpointState } from "../pool/endpoint_state";
import { endpointId } from "../prefix/endpoint_id";
import { BlockConfig } from "../hashing/blocks";
import { freeClockBlocks } from "./evictions";
import { MAX_CLOCK_ADVANCE } from "../pool/in_flight";
import { xxh64 } from "../hashing/xxhash64";
import { PastHashed } from "../scoring/scorer";
import { Turns } from "./turns";

/** v3: entries carry the clock at the turn's end and the free part then (v2 kept the clock the history lasted until). */
export const TURN_ENDS_KEY_PREFIX = "llm-picker/prefix/v3/ends/";
/** 1,024 buckets × 16 entries: the last end of 16,384 conversations. */
const TURN_ENDS_BUCKETS: i32 = 1024;
const TURN_ENDS_ENTRIES: i32 = 16;
/**
 * Bytes of a cut rendering's last message that its end key hashes: enough
 * to tell two conversations' messages apart (with their count and span),
 * a bounded cost for a long tool result.
 */
const CUT_KEY_MESSAGE_BYTES: i32 = 1024;
/**
 * How sure the filter is that a history is still held, by the share of the
 * cache's free part at its turn's end written since: surely held up to
 * HELD_SURE_SHARE, surely pushed out from HELD_NEVER_SHARE, in between a
 * chance falling linearly (one half at 0.85). The history joins the free
 * queue behind the blocks free then, and what the server writes takes
 * blocks from that queue's head; but prompts that hit cached blocks in the
 * queue take those out of it too, so less than the whole free part is
 * written before the history's own blocks go, by an amount the filter does
 * not see. Measured on the simulators' request logs: docs/hashing.md "A
 * conversation's last turn".
 */
const HELD_SURE_SHARE: f64 = 0.6;
const HELD_NEVER_SHARE: f64 = 1.1;
/** Seeds a cut rendering's end key apart from the chain hashes that key other ends. */
const CUT_KEY_SEED: u64 = 0x6c6c6d2d63757421;

/** The turns [0, through) of a conversation, sent as one request whose rendering was cut at `last` (its last hash): its end key. */
export function cutTurnKey(last: u64, turns: Turns, through: i32): u64 {
  if (through <= 0 || through > turns.count) return 0;
  const first = turns.start(0);
  const at = turns.start(through - 1);
  const end = turns.end(through - 1);
  if (end <= at || at < first) return 0;
  const span = <u64>(end - first);
  const len = min(<i32>(end - at), CUT_KEY_MESSAGE_BYTES);
  const seed = last ^ CUT_KEY_SEED ^ ((<u64>through << 40) | span);
  const key = xxh64(at, <usize>len, seed);
  return key != 0 ? key : 1;
}

/**
 * The chance that a history is still held at an endpoint whose clock is
 * `now`, its turn having ended at clock `ended` with `free` clock blocks of
 * the cache free (both clocks wrapping).
 */
export function heldChance(now: u32, ended: u32, free: u32): f64 {
  const written = <i32>(now - ended);
  if (written <= 0) return 1;
  if (free == 0) return 0;
  const share = <f64>written / <f64>free;
  if (share <= HELD_SURE_SHARE) return 1;
  if (share >= HELD_NEVER_SHARE) return 0;
  return (HELD_NEVER_SHARE - share) / (HELD_NEVER_SHARE - HELD_SURE_SHARE);
}

/** `blocks` matched, with a previous reply's credit (blocks [start, to) cached where the prompt is held up to `start`; to ≤ start: none). */
function withReply(blocks: i32, start: i32, to: i32): i32 {
  return blocks >= start && blocks < to ? to : blocks;
}

/** Whether a rendering hashed to `n` blocks was cut at prefix.maxBlocks. */
function isCut(n: i32, blocks: BlockConfig): bool {
  return n > 0 && n >= blocks.maxBlocks;
}

/** Blocks of `blockBytes` that turns [from, count) take in the body. */
function turnBlocks(turns: Turns, from: i32, blockBytes: i32): i32 {
  return (turns.bytesFrom(from) + blockBytes - 1) / max(blockBytes, 1);
}

export class TurnEnds {
  private map: KeyedBuckets;

  constructor(store: KeyValueStore) {
    this.map = new KeyedBuckets(store, TURN_ENDS_KEY_PREFIX, TURN_ENDS_BUCKETS, TURN_ENDS_ENTRIES, true);
  }

  /**
   * A request whose rendering's last whole block hashed to `key` ended at
   * `endpoint`, its written-blocks clock then `clock`: recorded with the
   * part of the cache that running requests leave free then (`state`: the
   * endpoint's published state; null: none), which its history queues
   * behind (heldChance). Not recorded where its cache size is unknown: its
   * next turn is judged by the index alone.
   */
  record(key: u64, endpoint: string, clock: u32, state: EndpointState | null, blockBytes: i32): bool {
    if (state == null) return false;
    const free = freeClockBlocks(state, blockBytes);
    if (!(free >= 1)) return false;
    return this.map.record(key, endpointId(endpoint), clock, <u32>Math.min(Math.floor(free), MAX_CLOCK_ADVANCE));
  }

  /**
   * For a conversation request whose previous reply starts at block
   * `replyStart` (0: none) and whose reply credit runs to `replyEnd`:
   * judges its match at its previous turn's endpoint (judge). Returns that
   * endpoint's index; -1: none.
   */
  judgePrevious(matched: Int32Array, states: Array<EndpointState>, hashes: StaticArray<u64>, replyStart: i32, replyEnd: i32): i32 {
    const n = hashes.length;
    if (replyStart <= 0 || replyStart > n) return -1;
    return this.judge(matched, states, unchecked(hashes[replyStart - 1]), replyStart, min(replyEnd, n));
  }

  /**
   * The key a conversation request's own end is recorded under (`turns`: a
   * chat's messages or a responses request's items; its rendering has
   * `whole` whole blocks): the hash of its last whole block, or for a
   * rendering cut at prefix.maxBlocks (which has no last whole block of its
   * own) its cutTurnKey; 0: none.
   */
  endKeyOf(hashes: StaticArray<u64>, whole: i32, blocks: BlockConfig, turns: Turns): u64 {
    const n = hashes.length;
    if (!isCut(n, blocks)) return whole > 0 && whole <= n && whole < blocks.maxBlocks ? unchecked(hashes[whole - 1]) : 0;
    return cutTurnKey(unchecked(hashes[n - 1]), turns, turns.count);
  }

  /**
   * For a conversation request whose rendering was cut at prefix.maxBlocks,
   * after judgePrevious: the endpoint its previous turn (cut too) ended at holds
   * the prompt past the hashed blocks, but for the turns after the reply,
   * and any other endpoint is taken to lack the conversation from its first
   * reply on. null when the rendering was not cut, has no previous reply,
   * or no end of that turn is known at an endpoint still holding it
   * (cutHolder).
   */
  pastHashed(matched: Int32Array, states: Array<EndpointState>, hashes: StaticArray<u64>, blocks: BlockConfig, turns: Turns): PastHashed | null {
    const n = hashes.length;
    if (!isCut(n, blocks)) return null;
    const reply = turns.lastReply();
    if (reply <= 0) return null;
    const holder = this.cutHolder(matched, states, cutTurnKey(unchecked(hashes[n - 1]), turns, reply), n);
    if (holder < 0) return null;
    return new PastHashed(holder, turnBlocks(turns, turns.afterReply(reply), blocks.blockSize), turnBlocks(turns, turns.firstReply(), blocks.blockSize));
  }

  /**
   * The endpoint a cut rendering's previous turn ended at (its end keyed
   * `key`), while it still holds the `hashed` blocks and has not written
   * over the rest since (as `judge` measures); -1 otherwise.
   */
  private cutHolder(matched: Int32Array, states: Array<EndpointState>, key: u64, hashed: i32): i32 {
    const end = this.map.lookup(key);
    if (end == null) return -1;
    for (let i = 0; i < states.length && i < matched.length; i++) {
      const s = unchecked(states[i]);
      if (endpointId(s.address) != end.endpointId) continue;
      if (unchecked(matched[i]) < hashed) return -1;
      return heldChance(s.writtenBlocks, end.value, end.extra) < 0.5 ? -1 : i;
    }
    return -1;
  }

  /**
   * Corrects `matched` at the endpoint where the previous turn of this
   * request's conversation ended (its rendering's whole blocks hashed to
   * `key`: the hash at this request's reply start, `replyStart` blocks;
   * its reply's credit runs to `replyEnd`), when its end was recorded there
   * (with its cache size known then). Held, it holds the previous prompt
   * and its reply; pushed out, it keeps only what another endpoint also
   * holds (a prompt the pool shares). The match there is what each case
   * gives, weighed by the chance that the history is held (heldChance), so
   * that a close call costs what it is expected to: a history taken for
   * held that was pushed out re-prefills on a server chosen for holding it,
   * one taken for pushed out that was held re-prefills elsewhere. Returns
   * that endpoint's index; -1 (nothing changes) when no end was recorded.
   */
  private judge(matched: Int32Array, states: Array<EndpointState>, key: u64, replyStart: i32, replyEnd: i32): i32 {
    const end = this.map.lookup(key);
    if (end == null) return -1;
    for (let i = 0; i < states.length && i < matched.length; i++) {
      const s = unchecked(states[i]);
      if (endpointId(s.address) != end.endpointId) continue;
      const m = unchecked(matched[i]);
      const held = withReply(max(m, replyStart), replyStart, replyEnd);
      const evicted = withReply(min(m, mostElsewhere(matched, i)), replyStart, replyEnd);
      const chance = heldChance(s.writtenBlocks, end.value, end.extra);
      unchecked((matched[i] = evicted + <i32>Math.round(chance * <f64>(held - evicted))));
      return i;
    }
    return -1;
  }
}

/** The longest match among the other endpoints. */
function mostElsewhere(matched: Int32Array, skip: i32): i32 {
  let most = 0;
  for (let i = 0; i < matched.length; i++) if (i != skip && unchecked(matched[i]) > most) most = unchecked(matched[i]);
  return most;
}
