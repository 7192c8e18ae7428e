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

  private headEnd(): i32 {
    let end = 0;
    for (let f = 0; f < HEAD_FIELDS; f++) end = max(end, unchecked(this.headAt[f]) + unchecked(this.headLen[f]));
    return end;
  }

  /** Records message `m` (bytes in `src`) and the chain's position after it. */
  record(src: usize, m: Message, chain: ChainHasher): void {
    if (!this.open) return;
    const len = m.rawEnd - m.rawStart;
    const grows = len + chain.partialLength + ((chain.blockCount - (this.depth > 0 ? unchecked(this.count[this.depth - 1]) : 0)) << 3) + 32;
    if (len < 0 || this.size + grows > SLOT_BYTES) {
      this.open = false;
      return;
    }
    this.msgAt.push(this.bytes.length);
    this.msgLen.push(len);
    this.bytes.raw(src + <usize>m.rawStart, len);
    const count = chain.blockCount;
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
  private next: i32 = 0;
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
    if (best !== null) {
      // The same conversation: continue its slot from the messages in common.
      best.keep(bestDepth);
      this.current = best;
      if (bestDepth > 0 && best.restore(bestDepth, chain)) return bestDepth;
      best.keep(0);
      return 0;
    }
    let s = unchecked(this.slots[this.next]);
    if (s === null) {
      s = new Slot();
      unchecked((this.slots[this.next] = s));
    }
    this.next = this.next + 1 < SLOTS ? this.next + 1 : 0;
    if (s.reset(seed, c)) this.current = s;
    return 0;
  }

  /** Message `m` of the body being rendered is done: remember the chain's position after it. */
  messageDone(c: ChatCompletionsBody, m: Message, chain: ChainHasher): void {
    const s = this.current;
    if (s !== null) s.record(c.source.dataStart, m, chain);
  }
}
