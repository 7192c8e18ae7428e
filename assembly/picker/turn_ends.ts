// Where and when each chat request ended, so that its conversation's next
// turn can tell whether that server still holds the history (docs/hashing.md
// "Evictions", "A conversation's last turn"). The index stamps entries
// when a request is routed and adds the endpoint's mean life to the
// horizon; a request's own life spreads from a sixth of that mean to
// twice it, and the history joins the server's free queue only when it
// ends. So a chat request that ends records, keyed by the hash of its
// rendering's last whole block, its endpoint and that endpoint's
// written-blocks clock then; the next turn's rendering continues this one
// with the reply, so the hash at its reply's start block is the key.
import { KeyedBuckets } from "../util/keyed_buckets";
import { KeyValueStore } from "../util/store";
import { EndpointState } from "../pool/endpoint_state";
import { endpointId } from "../prefix/endpoint_id";
import { BlockConfig } from "../hashing/blocks";
import { freeClockBlocks } from "./evictions";

export const TURN_ENDS_KEY_PREFIX = "llm-picker/prefix/v1/ends/";
/** 1,024 buckets × 16 entries: the last end of 16,384 conversations. */
const TURN_ENDS_BUCKETS: i32 = 1024;
const TURN_ENDS_ENTRIES: i32 = 16;

export class TurnEnds {
  private map: KeyedBuckets;

  constructor(store: KeyValueStore) {
    this.map = new KeyedBuckets(store, TURN_ENDS_KEY_PREFIX, TURN_ENDS_BUCKETS, TURN_ENDS_ENTRIES);
  }

  /** A request whose rendering's last whole block hashed to `key` ended at `endpoint`, its clock then `clock`. */
  record(key: u64, endpoint: string, clock: u32): bool {
    return this.map.record(key, endpointId(endpoint), clock);
  }

  /**
   * For a chat request whose rendering has `whole` whole blocks and whose
   * previous reply starts at block `replyStart` (0: none): judges its match
   * at its previous turn's endpoint (judge), and returns the key its own
   * end is recorded under, the hash of its last whole block (0: none, for a
   * rendering cut at prefix.maxBlocks, which has no last whole block of its
   * own).
   */
  judgeChat(matched: Int32Array, states: Array<EndpointState>, hashes: StaticArray<u64>, whole: i32, replyStart: i32, blocks: BlockConfig): u64 {
    const n = hashes.length;
    if (replyStart > 0 && replyStart <= n) this.judge(matched, states, unchecked(hashes[replyStart - 1]), replyStart, blocks.blockSize);
    return whole > 0 && whole <= n && whole < blocks.maxBlocks ? unchecked(hashes[whole - 1]) : 0;
  }

  /**
   * Corrects `matched` at the endpoint where the previous turn of this
   * request's conversation ended (its rendering's whole blocks hashed to
   * `key`: the hash at this request's reply start, `replyStart` blocks), when
   * it ended there and the endpoint's cache size is known. What that
   * server wrote since is measured against the part of its cache that
   * running requests leave free, which the history joined when the turn
   * ended: more, and the history is taken as evicted there (it keeps only
   * what another endpoint also holds, a prompt the pool shares); not
   * more, and it holds the previous prompt. Nothing changes when no end
   * was recorded or the endpoint's cache size is unknown.
   */
  private judge(matched: Int32Array, states: Array<EndpointState>, key: u64, replyStart: i32, blockBytes: i32): void {
    const end = this.map.lookup(key);
    if (end == null) return;
    for (let i = 0; i < states.length && i < matched.length; i++) {
      const s = unchecked(states[i]);
      if (endpointId(s.address) != end.endpointId) continue;
      const free = freeClockBlocks(s, blockBytes);
      if (free <= 0) return;
      const written = <i32>(s.writtenBlocks - end.value); // wrapping; below 0: another worker's newer clock
      if (written > 0 && <f64>written > free) unchecked((matched[i] = min(unchecked(matched[i]), mostElsewhere(matched, i))));
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
