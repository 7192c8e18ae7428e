// Incremental hashing of conversations. A chat request usually repeats the
// previous turn's request (same model, tools and leading messages) and adds
// a message or two at the end; rendering and hashing the repeated part was
// most of the prefix work per request. The memo keeps, for the last few
// conversations, the raw bytes of their head (tools, documents, chat
// template and its kwargs) and of their leading messages, with the chain's
// position after each message. A request whose seed (model and salt), head
// and first d messages are byte-for-byte those of a remembered one starts
// its chain at the position after message d instead of at the seed: equal
// bytes render to equal bytes, so the hashes are the ones a full rendering
// gives (test/unit/hashing.props.test.ts checks them against the reference).
//
// Bounded: SLOTS conversations of at most SLOT_BYTES each (message bytes
// and the head's); a message that does not fit ends what a slot records.
// Only messages the chain still hashes are recorded (it stops at maxBlocks).
import { ByteWriter, sameBytes } from "../util/bytes";
import { ChainHasher } from "./blocks";
import { ChatCompletionsBody, Message, RawJson } from "../request/types";

const SLOTS: i32 = 8;
const SLOT_BYTES: i32 = 32 * 1024;
/** The head fields compared: tools, documents, chat template, its kwargs. */
const HEAD_FIELDS: i32 = 4;

function rawOf(v: RawJson | null): Uint8Array | null {
  return v !== null ? v.bytes : null;
}

function headField(c: ChatCompletionsBody, f: i32): Uint8Array | null {
  if (f == 0) return rawOf(c.tools);
  if (f == 1) return rawOf(c.documents);
  if (f == 2) return c.chatTemplate;
  return rawOf(c.chatTemplateKwargs);
}

function same(a: usize, an: i32, b: usize, bn: i32): bool {
  return an == bn && sameBytes(a, b, an);
}

/** One remembered conversation. */
class Slot {
  used: bool = false;
  /** When this slot was last resumed or started (ConversationMemo's request count): the least recent is replaced. */
  lastUse: i64 = 0;
  seed: u64 = 0;
  /** Head field f: present, and its bytes at headAt[f] in `bytes` (headLen[f] long). */
  headPresent: StaticArray<bool> = new StaticArray<bool>(HEAD_FIELDS);
  headAt: StaticArray<i32> = new StaticArray<i32>(HEAD_FIELDS);
  headLen: StaticArray<i32> = new StaticArray<i32>(HEAD_FIELDS);
  /** The head's bytes, then message i's at msgAt[i], msgLen[i] long. */
  bytes: ByteWriter = new ByteWriter(1024);
  msgAt: Array<i32> = [];
  msgLen: Array<i32> = [];
  /** The chain after message i: blocks, last hash, bytes accepted, its partial block at partAt[i] in `parts`. */
  count: Array<i32> = [];
  prev: Array<u64> = [];
  accepted: Array<i64> = [];
  partAt: Array<i32> = [];
  partLen: Array<i32> = [];
  parts: ByteWriter = new ByteWriter(256);
  /** The chain's hashes up to the last recorded message (count of it). */
  hashes: ByteWriter = new ByteWriter(512);
  /** False once a message did not fit or the chain was done: nothing more is recorded. */
  open: bool = true;
  /** Whole blocks after the head, before message 0 (where a reply in message 0 would start). */
  headBlocks: i32 = 0;

  /** What the slot holds, in bytes (its message and head bytes, partial blocks, hashes, per-message positions). */
  get size(): i32 {
    return this.bytes.length + this.parts.length + this.hashes.length + this.depth * 32;
  }

  /** Messages recorded. */
  get depth(): i32 {
    return this.count.length;
  }

  headMatches(c: ChatCompletionsBody): bool {
    for (let f = 0; f < HEAD_FIELDS; f++) {
      const v = headField(c, f);
      const present = unchecked(this.headPresent[f]);
      if ((v !== null) != present) return false;
      if (v !== null && !same(this.bytes.dataStart + <usize>unchecked(this.headAt[f]), unchecked(this.headLen[f]), v.dataStart, v.length)) return false;
    }
    return true;
  }

  /** How many leading messages of `c` this slot holds byte for byte. */
  matchingMessages(c: ChatCompletionsBody): i32 {
    const src = c.source.dataStart;
    const n = min(this.depth, c.messages.length);
    let d = 0;
    while (d < n) {
      const m = unchecked(c.messages[d]);
      if (!same(this.bytes.dataStart + <usize>unchecked(this.msgAt[d]), unchecked(this.msgLen[d]), src + <usize>m.rawStart, m.rawEnd - m.rawStart)) break;
      d++;
    }
    return d;
  }

  /** Starts over for a new conversation (seed and head of `c`); false when the head does not fit. */
  reset(seed: u64, c: ChatCompletionsBody): bool {
    this.used = false;
    this.bytes.reset();
    this.keep(0);
    this.seed = seed;
    for (let f = 0; f < HEAD_FIELDS; f++) {
      const v = headField(c, f);
      unchecked((this.headPresent[f] = v !== null));
      unchecked((this.headAt[f] = this.bytes.length));
      unchecked((this.headLen[f] = v !== null ? v.length : 0));
      if (v === null) continue;
      if (this.bytes.length + v.length > SLOT_BYTES) return false;
      this.bytes.raw(v.dataStart, v.length);
    }
    this.used = true;
    return true;
  }

  /** Keeps the first `d` messages (their bytes, positions and the hashes up to them). */
  keep(d: i32): void {
    if (d < this.depth) {
      this.bytes.truncate(d > 0 ? unchecked(this.msgAt[d - 1]) + unchecked(this.msgLen[d - 1]) : this.headEnd());
      this.parts.truncate(d > 0 ? unchecked(this.partAt[d - 1]) + unchecked(this.partLen[d - 1]) : 0);
      this.hashes.truncate(d > 0 ? unchecked(this.count[d - 1]) << 3 : 0);
      this.msgAt.length = d;
      this.msgLen.length = d;
      this.count.length = d;
      this.prev.length = d;
      this.accepted.length = d;
      this.partAt.length = d;
      this.partLen.length = d;
    }
    this.open = true;
  }

  /** Becomes a copy of `o`'s seed, head and first `d` messages (d ≤ o.depth). */
  copyFrom(o: Slot, d: i32): void {
    this.used = o.used;
    this.seed = o.seed;
    this.headBlocks = o.headBlocks;
    for (let f = 0; f < HEAD_FIELDS; f++) {
      unchecked((this.headPresent[f] = unchecked(o.headPresent[f])));
      unchecked((this.headAt[f] = unchecked(o.headAt[f])));
      unchecked((this.headLen[f] = unchecked(o.headLen[f])));
    }
    const last = d - 1;
    this.bytes.reset();
    this.bytes.raw(o.bytes.dataStart, d > 0 ? unchecked(o.msgAt[last]) + unchecked(o.msgLen[last]) : o.headEnd());
    this.parts.reset();
    this.parts.raw(o.parts.dataStart, d > 0 ? unchecked(o.partAt[last]) + unchecked(o.partLen[last]) : 0);
    this.hashes.reset();
    this.hashes.raw(o.hashes.dataStart, d > 0 ? unchecked(o.count[last]) << 3 : 0);
    this.msgAt = o.msgAt.slice(0, d);
    this.msgLen = o.msgLen.slice(0, d);
    this.count = o.count.slice(0, d);
    this.prev = o.prev.slice(0, d);
    this.accepted = o.accepted.slice(0, d);
    this.partAt = o.partAt.slice(0, d);
    this.partLen = o.partLen.slice(0, d);
    this.open = true;
  }

  headEnd(): i32 {
    let end = 0;
    for (let f = 0; f < HEAD_FIELDS; f++) end = max(end, unchecked(this.headAt[f]) + unchecked(this.headLen[f]));
    return end;
  }

  /** Records message `m` (bytes in `src`) and the chain's position after it. */
  record(src: usize, m: Message, chain: ChainHasher): void {
    if (!this.open) return;
    const len = m.rawEnd - m.rawStart;
    const grows = len + chain.partialLength + ((chain.fullBlocks() - (this.depth > 0 ? unchecked(this.count[this.depth - 1]) : 0)) << 3) + 32;
    if (len < 0 || this.size + grows > SLOT_BYTES) {
      this.open = false;
      return;
    }
    this.msgAt.push(this.bytes.length);
    this.msgLen.push(len);
    this.bytes.raw(src + <usize>m.rawStart, len);
    const count = chain.fullBlocks();
    const had = this.depth > 0 ? unchecked(this.count[this.depth - 1]) : 0;
    // The hashes between the previous message's position and this one's.
    if (count > had) this.hashes.raw(chain.hashesPtr + (<usize>had << 3), (count - had) << 3);
    this.count.push(count);
    this.prev.push(chain.lastHash);
    this.accepted.push(chain.accepted);
    this.partAt.push(this.parts.length);
    this.partLen.push(chain.partialLength);
    this.parts.raw(chain.partialPtr, chain.partialLength);
    if (chain.done) this.open = false; // later messages are not hashed
  }

  /** Puts `chain` at its position after message d − 1 (d ≥ 1). */
  restore(d: i32, chain: ChainHasher): bool {
    const i = d - 1;
    return chain.restore(
      unchecked(this.count[i]),
      this.hashes.dataStart,
      unchecked(this.prev[i]),
      this.parts.dataStart + <usize>unchecked(this.partAt[i]),
      unchecked(this.partLen[i]),
      unchecked(this.accepted[i]),
    );
  }
}

/** The remembered conversations of one Renderer (one per VM). */
export class ConversationMemo {
  private slots: StaticArray<Slot | null> = new StaticArray<Slot | null>(SLOTS);
  private requests: i64 = 0;
  /** Messages whose rendering was resumed instead of redone, since the memo was made (tests, benchmarks). */
  resumedMessages: i64 = 0;
  /** The slot the current request records into (null: none). */
  private current: Slot | null = null;

  /**
   * Before rendering a chat body on `chain` (just begun with `seed`): the
   * number of leading messages whose rendering the chain now already holds
   * (0: render everything). Also picks the slot this request records into.
   */
  begin(seed: u64, c: ChatCompletionsBody, chain: ChainHasher): i32 {
    this.current = null;
    if (chain.partialPtr == 0) return 0; // streamed blocks: no position to restore
    this.requests++;
    let best: Slot | null = null;
    let bestDepth = 0;
    for (let i = 0; i < SLOTS; i++) {
      const s = unchecked(this.slots[i]);
      if (s === null || !s.used || s.seed != seed || !s.headMatches(c)) continue;
      const d = s.matchingMessages(c);
      if (best === null || d > bestDepth) {
        best = s;
        bestDepth = d;
      }
    }
    if (best !== null && bestDepth > 0) {
      // The same conversation grown by a turn, or sent again with another
      // last message: continue its slot. A request that shares less of it
      // (another conversation with the same system prompt, an earlier turn
      // edited) starts from a copy of the common part in another slot, so
      // the longer conversation stays remembered.
      let into = best;
      if (bestDepth < best.depth - 1) {
        into = this.victim();
        into.copyFrom(best, bestDepth);
      } else {
        best.keep(bestDepth);
      }
      into.lastUse = this.requests;
      this.current = into;
      if (into.restore(bestDepth, chain)) {
        this.resumedMessages += bestDepth;
        return bestDepth;
      }
      into.keep(0);
      return 0;
    }
    const s = this.victim();
    s.lastUse = this.requests;
    if (s.reset(seed, c)) this.current = s;
    return 0;
  }

  /** The slot a new conversation takes: an unused one, else the one resumed least recently. */
  private victim(): Slot {
    let victim = 0;
    let victimUse = i64.MAX_VALUE;
    for (let i = 0; i < SLOTS; i++) {
      const s = unchecked(this.slots[i]);
      if (s === null || !s.used) {
        victim = i;
        break;
      }
      if (s.lastUse < victimUse) {
        victim = i;
        victimUse = s.lastUse;
      }
    }
    let s = unchecked(this.slots[victim]);
    if (s === null) {
      s = new Slot();
      unchecked((this.slots[victim] = s));
    }
    return s;
  }

  /** The head of the body being rendered is done (message 0 comes next). */
  headDone(chain: ChainHasher): void {
    const s = this.current;
    if (s !== null) s.headBlocks = chain.fullBlocks();
  }

  /**
   * Whole blocks before resumed message i (i < the count `begin` returned):
   * what the chain's block count was when its rendering started.
   */
  blocksBefore(i: i32): i32 {
    const s = this.current;
    if (s === null || i < 0 || i >= s.depth) return 0;
    return i > 0 ? unchecked(s.count[i - 1]) : s.headBlocks;
  }

  /** Whole blocks after resumed message i (as blocksBefore). */
  blocksAfter(i: i32): i32 {
    const s = this.current;
    if (s === null || i < 0 || i >= s.depth) return 0;
    return unchecked(s.count[i]);
  }

  /** Message `m` of the body being rendered is done: remember the chain's position after it. */
  messageDone(c: ChatCompletionsBody, m: Message, chain: ChainHasher): void {
    const s = this.current;
    if (s !== null) s.record(c.source.dataStart, m, chain);
  }
}
