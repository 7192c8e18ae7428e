// The canonical byte rendering of a structured request: what the block chain
// hashes. Specification, with the reasons, in
// docs/hashing.md; golden vectors in test/fixtures/golden/, produced by the
// independent TypeScript reference src/reference/render.ts.
//
// Summary:
//  - completions: the prompt bytes as sent (upstream's test vectors); a
//    string array joined with one space (upstream's later PromptText()); token
//    ids as 4-byte little-endian (a 64-byte block is 16 tokens), several token
//    lists separated by the 4 bytes FF FF FF FF.
//  - chat and responses: a sequence of fields in the order the model sees
//    them: the request-level context first (chat: tools, documents,
//    chat_template, chat_template_kwargs; responses: instructions, tools),
//    then one record per message / input item. Every variable-length field is
//    `tag ‖ escaped(bytes) ‖ 00 00`, where the escape writes a 0x00 byte of
//    the value as 00 FF (render version 2, docs/hashing.md "Framing"). No
//    length precedes a value, so a text that starts like another renders
//    like it up to that point (a document followed by a different question
//    shares the document's blocks); and since 00 00 never occurs inside an
//    escaped value, no text can forge a field or message boundary.
//    Nothing follows the last message, so the rendering of N messages is a
//    byte prefix of the rendering of N+k messages: a longer conversation
//    keeps every full block of the shorter one. Per-request trailing switches
//    (add_generation_prompt, continue_final_message,
//    return_assistant_tokens_mask) are left out: they only change the end of
//    the model's prompt, and rendering them anywhere would break that prefix
//    property for every later turn.
//  - every RawJson value is rendered as canonical JSON (request/canonical.ts),
//    so key order, whitespace and escape spelling never change a hash.
//  - a non-text content part (image, audio, video, file, unknown) is a fixed
//    size placeholder: its type name (a field as above) and XXH64 of its
//    canonical JSON (URL or inline data included), so a 5 MB base64 image
//    costs a few bytes of the block budget yet two different images never
//    share a block.
import { ByteWriter, sameBytes } from "../util/bytes";
import { DecodeScratch } from "../json/strings";
import { canonicalJson } from "../json/canonical";
import {
  Api,
  ChatCompletionsBody,
  CompletionsBody,
  ContentKind,
  ContentPart,
  LLMRequest,
  Message,
  PartType,
  PromptKind,
  RawJson,
  RequestBody,
  ResponsesBody,
} from "../request/types";
import { BlockConfig, ByteSink, ChainHasher } from "./blocks";
import { xxh64Bytes } from "./xxhash64";
import { ConversationMemo } from "./conversation";

/**
 * Version of this rendering; bump when any byte below changes (and
 * regenerate the golden vectors). The prefix index stores it with every
 * bucket (prefix/bucket.ts), so a build with another rendering drops the
 * entries hashed the old way instead of keeping them.
 */
export const RENDER_VERSION: i32 = 2;

// Field tags (ASCII so a hex dump reads). Request context:
export const TAG_TOOLS: u8 = 0x54; // 'T'
export const TAG_DOCUMENTS: u8 = 0x44; // 'D'
export const TAG_CHAT_TEMPLATE: u8 = 0x43; // 'C'
export const TAG_KWARGS: u8 = 0x4b; // 'K'
export const TAG_INSTRUCTIONS: u8 = 0x49; // 'I'
// One message / input item:
export const TAG_MESSAGE: u8 = 0x4d; // 'M' (no value: starts a message)
export const TAG_ROLE: u8 = 0x72; // 'r'
export const TAG_TEXT: u8 = 0x73; // 's'
export const TAG_PART: u8 = 0x70; // 'p' (escaped type name ‖ 00 00, then 8-byte XXH64)
export const TAG_TOOL_CALLS: u8 = 0x63; // 'c'
export const TAG_TOOL_CALL_ID: u8 = 0x69; // 'i'
export const TAG_NAME: u8 = 0x6e; // 'n'
export const TAG_ITEM: u8 = 0x78; // 'x' (a responses input item, canonical JSON)
/**
 * The reserved byte of a field value and the two-byte sequences built on it
 * (read little-endian as u16): inside a value 0x00 is written as 00 FF, and
 * 00 00 ends the value. 0x00 is almost never in text (JSON needs `\u0000`)
 * and canonical JSON never contains it raw, so escaping costs a scan, not
 * bytes; 0xFF never occurs in UTF-8, so an escape stands out in a hex dump.
 */
const ESCAPED_ZERO: u16 = 0xff00; // bytes 00 FF
const FIELD_END: u16 = 0x0000; // bytes 00 00
/**
 * A value is scanned for 0x00 in pieces of this many bytes, checking between
 * pieces whether the sink still takes bytes: a 1 MB text past `maxBlocks`
 * costs at most one more piece of scanning.
 */
const SCAN_PIECE: usize = 1024;
/** Between token-id lists of one completions prompt. */
export const TOKEN_LIST_SEPARATOR: u32 = 0xffffffff;

/** Collects a rendering into a ByteWriter (tests, `llm-picker inspect`). */
export class BufferSink extends ByteSink {
  constructor(public out: ByteWriter, public limit: i32 = i32.MAX_VALUE) {
    super();
  }
  write(ptr: usize, len: i32): void {
    const room = this.limit - this.out.length;
    this.out.raw(ptr, len < room ? len : room);
  }
  get done(): bool {
    return this.out.length >= this.limit;
  }
}

/** A canonical-JSON scratch grown past this is dropped after a request instead of kept for the next. */
const SCRATCH_KEEP_BYTES: i32 = 64 * 1024;

/** Raw values up to this size have their canonical form remembered (CanonicalMemo). */
const MEMO_MAX_BYTES: i32 = 8 * 1024;
/** Values remembered: tool lists, tool calls and documents a conversation repeats on every turn. */
const MEMO_SLOTS: i32 = 8;

/**
 * The canonical forms of the last few raw JSON values rendered, by their
 * exact bytes: a conversation sends the same tool definitions (and its
 * earlier turns' tool calls) with every request, and canonicalising them
 * (validate, sort every object's keys, re-encode the strings) was a large
 * part of rendering a chat with tools. A hit costs one byte comparison.
 * Bounded: MEMO_SLOTS values of at most MEMO_MAX_BYTES each, raw and
 * canonical (never longer than raw), replaced in turn.
 */
class CanonicalMemo {
  private raws: StaticArray<Uint8Array | null> = new StaticArray<Uint8Array | null>(MEMO_SLOTS);
  private forms: StaticArray<Uint8Array | null> = new StaticArray<Uint8Array | null>(MEMO_SLOTS);
  private next: i32 = 0;

  /** The remembered canonical form of exactly these bytes, or null. */
  find(raw: Uint8Array): Uint8Array | null {
    const n = raw.length;
    if (n > MEMO_MAX_BYTES) return null;
    for (let i = 0; i < MEMO_SLOTS; i++) {
      const r = unchecked(this.raws[i]);
      if (r === null || r.length != n) continue;
      if (sameBytes(r.dataStart, raw.dataStart, n)) return unchecked(this.forms[i]);
    }
    return null;
  }

  remember(raw: Uint8Array, form: Uint8Array): void {
    if (raw.length > MEMO_MAX_BYTES) return;
    const i = this.next;
    unchecked((this.raws[i] = raw.slice(0)));
    unchecked((this.forms[i] = form.slice(0)));
    this.next = i + 1 < MEMO_SLOTS ? i + 1 : 0;
  }
}

/** Renders requests into a sink; reuse one Renderer (its scratch buffer is kept). */
export class Renderer {
  private scratch: ByteWriter = new ByteWriter(1024);
  /** Message texts with escapes are decoded here, streamed into the sink and forgotten. */
  private decoded: DecodeScratch = new DecodeScratch();
  /** Largest canonical value rendered since the last `trimScratch`. */
  private scratchPeak: i32 = 0;
  private memo: CanonicalMemo = new CanonicalMemo();
  /** Set when the sink is a block chain (hashBody): conversations then resume where a remembered one left off. */
  chain: ChainHasher | null = null;
  readonly conversations: ConversationMemo = new ConversationMemo();
  private sink: ByteSink;
  /**
   * The blocks of the last rendering's reply: the last assistant message
   * that another message follows (for /v1/responses, the last run of the
   * model's output items that a client item follows), as whole blocks
   * before it starts and after it ends (0 and 0 when there is none). See
   * `replyStartBlock`.
   */
  replyStart: i32 = 0;
  replyEnd: i32 = 0;
  /** Whole blocks of the last rendering (what a next turn's replyStart is when this one is its previous turn). */
  wholeBlocks: i32 = 0;

  constructor(sink: ByteSink) {
    this.sink = sink;
  }

  render(body: RequestBody): void {
    this.replyStart = 0;
    this.replyEnd = 0;
    if (body.api == Api.Completions) {
      const c = body.completions;
      if (c !== null) this.completions(c);
    } else if (body.api == Api.ChatCompletions) {
      const c = body.chat;
      if (c !== null) this.chat(c);
    } else if (body.api == Api.Responses) {
      const r = body.responses;
      if (r !== null) this.responses(r);
    }
    this.wholeBlocks = this.sink.fullBlocks();
  }

  // ---- completions ----

  private completions(c: CompletionsBody): void {
    const kind = c.promptKind;
    if (kind == PromptKind.Text || kind == PromptKind.Texts) {
      for (let i = 0; i < c.texts.length && !this.sink.done; i++) {
        if (i > 0) this.byte(0x20);
        this.bytes(unchecked(c.texts[i]));
      }
      return;
    }
    for (let i = 0; i < c.tokens.length && !this.sink.done; i++) {
      if (i > 0) this.u32(TOKEN_LIST_SEPARATOR);
      const list = unchecked(c.tokens[i]);
      // Token ids are stored as u32 in memory, i.e. already little-endian.
      this.sink.write(changetype<usize>(list), list.length << 2);
    }
  }

  // ---- chat ----

  private chat(c: ChatCompletionsBody): void {
    const chain = this.chain;
    const n = c.messages.length;
    // The chain holds only its seed here: lastHash is the seed.
    const from = chain !== null ? this.conversations.begin(chain.lastHash, c, chain) : 0;
    if (from == 0) {
      this.json(TAG_TOOLS, c.tools);
      this.json(TAG_DOCUMENTS, c.documents);
      this.text(TAG_CHAT_TEMPLATE, c.chatTemplate);
      this.json(TAG_KWARGS, c.chatTemplateKwargs);
      if (chain !== null) this.conversations.headDone(chain);
    } else {
      // The reply among the resumed messages, at the blocks the memo recorded around it.
      for (let i = from - 1; i >= 0; i--) {
        if (i + 1 >= n || !isAssistant(unchecked(c.messages[i]).role)) continue;
        this.replyStart = this.conversations.blocksBefore(i);
        this.replyEnd = this.conversations.blocksAfter(i);
        break;
      }
    }
    for (let i = from; i < n && !this.sink.done; i++) {
      const m = unchecked(c.messages[i]);
      const reply = i + 1 < n && isAssistant(m.role);
      const start = reply ? this.sink.fullBlocks() : 0;
      this.message(m);
      if (chain !== null) this.conversations.messageDone(c, m, chain);
      if (!reply) continue;
      this.replyStart = start;
      this.replyEnd = this.sink.fullBlocks();
    }
  }

  private message(m: Message): void {
    this.byte(TAG_MESSAGE);
    this.text(TAG_ROLE, m.role);
    if (m.contentKind == ContentKind.Text) {
      this.text(TAG_TEXT, m.textVia(this.decoded));
    } else if (m.contentKind == ContentKind.Parts) {
      for (let i = 0; i < m.parts.length && !this.sink.done; i++) this.part(unchecked(m.parts[i]));
    }
    this.json(TAG_TOOL_CALLS, m.toolCalls);
    this.text(TAG_TOOL_CALL_ID, m.toolCallId);
    this.text(TAG_NAME, m.name);
  }

  private part(p: ContentPart): void {
    if (p.type == PartType.Text) {
      // A text part renders exactly as string content would.
      const t = p.textVia(this.decoded);
      this.text(TAG_TEXT, t !== null ? t : new Uint8Array(0));
      return;
    }
    this.byte(TAG_PART);
    this.escaped(p.typeName);
    this.u64(xxh64Bytes(this.canonical(p.raw)));
  }

  // ---- responses ----

  private responses(r: ResponsesBody): void {
    this.text(TAG_INSTRUCTIONS, r.instructions);
    this.json(TAG_TOOLS, r.tools);
    const input = r.inputText;
    if (input !== null) {
      this.text(TAG_TEXT, input);
      return;
    }
    // A previous answer is a run of the model's output items that a client item follows.
    const items = r.inputItems;
    // Whole blocks before the current run; -1: not in one, or it began after the hashing stopped.
    let runStart = -1;
    for (let i = 0; i < items.length; i++) {
      const item = unchecked(items[i]);
      if (!item.output) {
        if (this.sink.done) break; // past the hashed part, no run that began in it goes on
        runStart = -1;
        this.json(TAG_ITEM, item);
        continue;
      }
      if (i == 0 || !unchecked(items[i - 1]).output) runStart = this.sink.done ? -1 : this.sink.fullBlocks();
      this.json(TAG_ITEM, item); // nothing once the sink is done: a run that began before goes on to its end
      if (runStart < 0 || i + 1 >= items.length || unchecked(items[i + 1]).output) continue;
      this.replyStart = runStart;
      this.replyEnd = this.sink.fullBlocks();
    }
  }

  // ---- framing ----

  /** tag ‖ escaped(v) ‖ 00 00, only when the value is present. */
  private text(tag: u8, v: Uint8Array | null): void {
    if (v === null || this.sink.done) return;
    this.byte(tag);
    this.escaped(v);
  }

  private json(tag: u8, v: RawJson | null): void {
    if (v === null || this.sink.done) return;
    this.text(tag, this.canonical(v));
  }

  /**
   * escaped(v) ‖ 00 00, streamed: the runs between 0x00 bytes go to the sink
   * straight from `v` (no copy), each 0x00 as 00 FF. Stops scanning once the
   * sink is done (then the rest would be ignored anyway).
   */
  private escaped(v: Uint8Array): void {
    let at = v.dataStart;
    const end = at + <usize>v.length;
    while (at < end && !this.sink.done) {
      const pieceEnd = end - at > SCAN_PIECE ? at + SCAN_PIECE : end;
      const zero = findZero(at, pieceEnd);
      if (zero > at) this.sink.write(at, <i32>(zero - at));
      if (zero < pieceEnd) {
        this.u16(ESCAPED_ZERO);
        at = zero + 1;
      } else {
        at = pieceEnd;
      }
    }
    this.u16(FIELD_END);
  }

  /** Canonical form of a raw value (a view of the scratch buffer). */
  private canonical(v: RawJson): Uint8Array {
    const known = this.memo.find(v.bytes);
    if (known !== null) return known;
    this.scratch.reset();
    // The parser has validated the value; should canonicalisation still fail,
    // the bytes as sent are the deterministic fallback.
    if (!canonicalJson(v.bytes, this.scratch)) {
      this.scratch.reset();
      this.scratch.bytes(v.bytes);
    }
    if (this.scratch.length > this.scratchPeak) this.scratchPeak = this.scratch.length;
    const form = this.scratch.view();
    this.memo.remember(v.bytes, form);
    return form;
  }

  /** Lets go of a scratch buffer that one large value (e.g. an inline image) grew, so a reused Renderer stays small. */
  trimScratch(): void {
    if (this.scratchPeak > SCRATCH_KEEP_BYTES) this.scratch = new ByteWriter(1024);
    this.scratchPeak = 0;
    this.decoded.trim(SCRATCH_KEEP_BYTES);
  }

  private bytes(b: Uint8Array): void {
    this.sink.write(b.dataStart, b.length);
  }

  private byte(v: u8): void {
    const tmp = memory.data(1);
    store<u8>(tmp, v);
    this.sink.write(tmp, 1);
  }

  private u16(v: u16): void {
    const tmp = memory.data(2);
    store<u16>(tmp, v);
    this.sink.write(tmp, 2);
  }

  private u32(v: u32): void {
    const tmp = memory.data(4);
    store<u32>(tmp, v);
    this.sink.write(tmp, 4);
  }

  private u64(v: u64): void {
    const tmp = memory.data(8);
    store<u64>(tmp, v);
    this.sink.write(tmp, 8);
  }
}

/**
 * Address of the first 0x00 byte in [at, end), or `end`. Eight bytes at a
 * time: `(x - 0x01…01) & ~x & 0x80…80` is non-zero exactly when some byte of
 * x is zero (the classic SWAR zero-byte test), then byte by byte within
 * those eight.
 */
function findZero(at: usize, end: usize): usize {
  let p = at;
  while (end - p >= 8) {
    const x = load<u64>(p);
    if (((x - 0x0101010101010101) & ~x & 0x8080808080808080) != 0) break;
    p += 8;
  }
  while (p < end && load<u8>(p) != 0) p++;
  return p;
}

/** The cache_salt of whichever body is set, or null. */
export function saltOf(body: RequestBody): Uint8Array | null {
  if (body.api == Api.Completions) {
    const c = body.completions;
    return c !== null ? c.cacheSalt : null;
  }
  if (body.api == Api.ChatCompletions) {
    const c = body.chat;
    return c !== null ? c.cacheSalt : null;
  }
  const r = body.responses;
  return r !== null ? r.cacheSalt : null;
}

// One chain and renderer per VM, reused by every request with the same block
// configuration, so hashing a request allocates little more than its result
// (a fresh maxBlocks × 8 B array, block buffer and 1 KiB
// scratch per request were a visible share of a small request's time under
// the incremental GC). A VM runs one request at a time and hashBody does not
// re-enter itself, so sharing is safe; begin() resets the chain.
let reusedChain: ChainHasher | null = null;
let reusedRenderer: Renderer | null = null;
let reusedBlockSize: i32 = 0;
let reusedMaxBlocks: i32 = 0;
let reusedTrailing: bool = false;

/** Block hashes of a request body for `model` (the model after any rewrite). */
export function hashBody(model: Uint8Array, body: RequestBody, config: BlockConfig): StaticArray<u64> {
  let chain = reusedChain;
  let renderer = reusedRenderer;
  if (
    chain === null || renderer === null || reusedBlockSize != config.blockSize ||
    reusedMaxBlocks != config.maxBlocks || reusedTrailing != config.hashTrailingBlock
  ) {
    chain = new ChainHasher(config);
    renderer = new Renderer(chain);
    renderer.chain = chain;
    reusedChain = chain;
    reusedRenderer = renderer;
    reusedBlockSize = config.blockSize;
    reusedMaxBlocks = config.maxBlocks;
    reusedTrailing = config.hashTrailingBlock;
  }
  chain.begin(model, saltOf(body));
  renderer.render(body);
  renderer.trimScratch();
  return chain.finish();
}

/** Messages hashBody resumed from its conversation memo instead of rendering them (tests, benchmarks). */
export function resumedMessages(): i64 {
  const r = reusedRenderer;
  return r !== null ? r.conversations.resumedMessages : 0;
}

/**
 * The reply in the request `hashBody` hashed last, in whole blocks: the
 * last assistant message that another message follows (in a multi-turn
 * chat, the answer the previous turn generated; in a /v1/responses request
 * sent as items, the last run of the model's output items that a client
 * item follows), as [start, end). A server
 * that held the previous turn's prompt generated that answer and, as vLLM
 * does, keeps its KV blocks cached (docs/routing.md "Replies are cached").
 * [0, 0) when there is none. Valid until the next hashBody call.
 */
export function replyStartBlock(): i32 {
  const r = reusedRenderer;
  return r !== null ? r.replyStart : 0;
}

/** The end of that reply (see replyStartBlock). */
export function replyEndBlock(): i32 {
  const r = reusedRenderer;
  return r !== null ? r.replyEnd : 0;
}

/**
 * The whole blocks of the request `hashBody` hashed last. For a chat, the
 * next turn's replyStartBlock: its rendering continues this one's with the
 * reply. Valid until the next hashBody call.
 */
export function renderedWholeBlocks(): i32 {
  const r = reusedRenderer;
  return r !== null ? r.wholeBlocks : 0;
}

/** Whether a message's role is "assistant". */
export function isAssistant(role: Uint8Array | null): bool {
  if (role === null || role.length != 9) return false;
  // "assistant"
  return (
    role[0] == 0x61 && role[1] == 0x73 && role[2] == 0x73 && role[3] == 0x69 && role[4] == 0x73 &&
    role[5] == 0x74 && role[6] == 0x61 && role[7] == 0x6e && role[8] == 0x74
  );
}

/** Block hashes of the structured request (upstream: PrefixHashes of an LLMRequest). */
export function hashRequest(req: LLMRequest, config: BlockConfig): StaticArray<u64> {
  return hashBody(Uint8Array.wrap(String.UTF8.encode(req.targetModel)), req.body, config);
}

/** The rendering as bytes, up to `limit` bytes (tests, inspect). */
export function renderBody(body: RequestBody, limit: i32 = i32.MAX_VALUE): Uint8Array {
  const w = new ByteWriter(1024);
  new Renderer(new BufferSink(w, limit)).render(body);
  return w.toBytes();
}
