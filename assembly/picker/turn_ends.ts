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

export const TURN_ENDS_KEY_PREFIX = "llm-picker/prefix/v2/ends/";
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
 * The share of the cache's free part, at a turn's end, that may be written
 * before its history is taken as pushed out there. The history joins the
 * free queue behind the blocks free then, and what the server writes takes
 * blocks from that queue's head; but prompts that hit cached blocks in the
 * queue take those out of it too, so less than the whole free part is
 * written before the history's own blocks go. Measured on the simulators'
 * request logs: docs/hashing.md "A conversation's last turn".
 */
const END_FREE_SHARE: f64 = 0.85;
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

/** Whether the clock `now` is past the clock an end's history lasts until (`until`), both wrapping. */
function writtenOver(now: u32, until: u32): bool {
  return <i32>(now - until) > 0;
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
    this.map = new KeyedBuckets(store, TURN_ENDS_KEY_PREFIX, TURN_ENDS_BUCKETS, TURN_ENDS_ENTRIES);
  }

  /**
   * A request whose rendering's last whole block hashed to `key` ended at
   * `endpoint`, its written-blocks clock then `clock`: recorded with the
   * clock its history lasts until there, END_FREE_SHARE of the part of
   * the cache that running requests leave free (`state`: the endpoint's
   * published state; null: none). Not recorded where its cache size is
   * unknown: its next turn is judged by the index alone.
   */
  record(key: u64, endpoint: string, clock: u32, state: EndpointState | null, blockBytes: i32): bool {
    if (state == null) return false;
    const free = freeClockBlocks(state, blockBytes);
    if (!(free > 0)) return false;
    const lasts = <u32>Math.min(Math.floor(free * END_FREE_SHARE), MAX_CLOCK_ADVANCE);
    return this.map.record(key, endpointId(endpoint), clock + lasts); // wrapping clock
  }

  /**
   * For a conversation request (`turns`: a chat's messages or a responses
   * request's items) whose rendering has `whole` whole blocks and whose
   * previous reply starts at block `replyStart` (0: none): judges its match
   * at its previous turn's endpoint (judge), and returns the key its own
   * end is recorded under: the hash of its last whole block, or for a
   * rendering cut at prefix.maxBlocks (which has no last whole block of its
   * own) its cutTurnKey; 0: none.
   */
  judgeTurn(matched: Int32Array, states: Array<EndpointState>, hashes: StaticArray<u64>, whole: i32, replyStart: i32, blocks: BlockConfig, turns: Turns): u64 {
    const n = hashes.length;
    if (replyStart > 0 && replyStart <= n) this.judge(matched, states, unchecked(hashes[replyStart - 1]), replyStart);
    if (!isCut(n, blocks)) return whole > 0 && whole <= n && whole < blocks.maxBlocks ? unchecked(hashes[whole - 1]) : 0;
    return cutTurnKey(unchecked(hashes[n - 1]), turns, turns.count);
  }

  /**
   * For a conversation request whose rendering was cut at prefix.maxBlocks,
   * after judgeTurn: the endpoint its previous turn (cut too) ended at holds
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
      return writtenOver(s.writtenBlocks, end.value) ? -1 : i;
    }
    return -1;
  }

  /**
   * Corrects `matched` at the endpoint where the previous turn of this
   * request's conversation ended (its rendering's whole blocks hashed to
   * `key`: the hash at this request's reply start, `replyStart` blocks), when
   * its end was recorded there (with its cache size known then). Its
   * written-blocks clock past the clock the end recorded the history to
   * last until (record), and the history is taken as evicted there (it
   * keeps only what another endpoint also holds, a prompt the pool
   * shares); not past it, and it holds the previous prompt. Nothing
   * changes when no end was recorded.
   */
  private judge(matched: Int32Array, states: Array<EndpointState>, key: u64, replyStart: i32): void {
    const end = this.map.lookup(key);
    if (end == null) return;
    for (let i = 0; i < states.length && i < matched.length; i++) {
      const s = unchecked(states[i]);
      if (endpointId(s.address) != end.endpointId) continue;
      if (writtenOver(s.writtenBlocks, end.value)) unchecked((matched[i] = min(unchecked(matched[i]), mostElsewhere(matched, i))));
      else if (unchecked(matched[i]) < replyStart) unchecked((matched[i] = replyStart));
      return;
    }
  }
}

/** The longest match among the other endpoints. */
function mostElsewhere(matched: Int32Array, skip: i32): i32 {
  let most = 0;
  for (let i = 0; i < matched.length; i++) if (i != skip && unchecked(matched[i]) > most) most = unchecked(matched[i]);
  return most;
}
