// The canonical byte rendering of a structured request: what the block chain
// hashes (issue 7 point 2). Specification, with the reasons, in
// docs/hashing.md; golden vectors in test/fixtures/golden/, produced by the
// independent TypeScript reference src/reference/render.ts.
//
// Summary:
//  - completions: the prompt bytes as sent (the seed's vectors, §2.8); a
//    string array joined with one space (the later seed's PromptText()); token
//    ids as 4-byte little-endian (a 64-byte block is 16 tokens), several token
//    lists separated by the 4 bytes FF FF FF FF.
//  - chat and responses: a sequence of framed fields `tag ‖ LE32(length) ‖
//    bytes`, in the order the model sees them: the request-level context first
//    (chat: tools, documents, chat_template, chat_template_kwargs; responses:
//    instructions, tools), then one record per message / input item. Nothing
//    follows the last message, so the rendering of N messages is a byte prefix
//    of the rendering of N+k messages: a longer conversation keeps every full
//    block of the shorter one. Per-request trailing switches
//    (add_generation_prompt, continue_final_message,
//    return_assistant_tokens_mask) are left out: they only change the end of
//    the model's prompt, and rendering them anywhere would break that prefix
//    property for every later turn.
//  - every RawJson value is rendered as canonical JSON (request/canonical.ts),
//    so key order, whitespace and escape spelling never change a hash.
//  - a non-text content part (image, audio, video, file, unknown) is a fixed
//    size placeholder: its type name and XXH64 of its canonical JSON (URL or
//    inline data included), so a 5 MB base64 image costs a few bytes of the
//    block budget yet two different images never share a block.
import { ByteWriter } from "../util/bytes";
import { canonicalJson } from "../request/canonical";
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

/** Version of this rendering; bump when any byte below changes (and regenerate the golden vectors). */
export const RENDER_VERSION: i32 = 1;

// Field tags (ASCII so a hex dump reads). Request context:
export const TAG_TOOLS: u8 = 0x54; // 'T'
export const TAG_DOCUMENTS: u8 = 0x44; // 'D'
export const TAG_CHAT_TEMPLATE: u8 = 0x43; // 'C'
export const TAG_KWARGS: u8 = 0x4b; // 'K'
export const TAG_INSTRUCTIONS: u8 = 0x49; // 'I'
// One message / input item:
export const TAG_MESSAGE: u8 = 0x4d; // 'M' (no length: starts a message)
export const TAG_ROLE: u8 = 0x72; // 'r'
export const TAG_TEXT: u8 = 0x73; // 's'
export const TAG_PART: u8 = 0x70; // 'p' (type name, then 8-byte XXH64)
export const TAG_TOOL_CALLS: u8 = 0x63; // 'c'
export const TAG_TOOL_CALL_ID: u8 = 0x69; // 'i'
export const TAG_NAME: u8 = 0x6e; // 'n'
export const TAG_ITEM: u8 = 0x78; // 'x' (a responses input item, canonical JSON)
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

/** Renders requests into a sink; reuse one Renderer (its scratch buffer is kept). */
export class Renderer {
  private scratch: ByteWriter = new ByteWriter(1024);
  /** Largest canonical value rendered since the last `trimScratch`. */
  private scratchPeak: i32 = 0;
  private sink: ByteSink;

  constructor(sink: ByteSink) {
    this.sink = sink;
  }

  render(body: RequestBody): void {
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
    this.json(TAG_TOOLS, c.tools);
    this.json(TAG_DOCUMENTS, c.documents);
    this.text(TAG_CHAT_TEMPLATE, c.chatTemplate);
    this.json(TAG_KWARGS, c.chatTemplateKwargs);
    for (let i = 0; i < c.messages.length && !this.sink.done; i++) this.message(unchecked(c.messages[i]));
  }

  private message(m: Message): void {
    this.byte(TAG_MESSAGE);
    this.text(TAG_ROLE, m.role);
    if (m.contentKind == ContentKind.Text) {
      this.text(TAG_TEXT, m.text);
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
      const t = p.text;
      this.text(TAG_TEXT, t !== null ? t : new Uint8Array(0));
      return;
    }
    this.byte(TAG_PART);
    this.u32(<u32>p.typeName.length);
    this.bytes(p.typeName);
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
    for (let i = 0; i < r.inputItems.length && !this.sink.done; i++) this.json(TAG_ITEM, unchecked(r.inputItems[i]));
  }

  // ---- framing ----

  /** tag ‖ LE32(len) ‖ bytes, only when the value is present. */
  private text(tag: u8, v: Uint8Array | null): void {
    if (v === null || this.sink.done) return;
    this.byte(tag);
    this.u32(<u32>v.length);
    this.bytes(v);
  }

  private json(tag: u8, v: RawJson | null): void {
    if (v === null || this.sink.done) return;
    this.text(tag, this.canonical(v));
  }

  /** Canonical form of a raw value (a view of the scratch buffer). */
  private canonical(v: RawJson): Uint8Array {
    this.scratch.reset();
    // The parser has validated the value; should canonicalisation still fail,
    // the bytes as sent are the deterministic fallback.
    if (!canonicalJson(v.bytes, this.scratch)) {
      this.scratch.reset();
      this.scratch.bytes(v.bytes);
    }
    if (this.scratch.length > this.scratchPeak) this.scratchPeak = this.scratch.length;
    return this.scratch.view();
  }

  /** Lets go of a scratch buffer that one large value (e.g. an inline image) grew, so a reused Renderer stays small. */
  trimScratch(): void {
    if (this.scratchPeak > SCRATCH_KEEP_BYTES) this.scratch = new ByteWriter(1024);
    this.scratchPeak = 0;
  }

  private bytes(b: Uint8Array): void {
    this.sink.write(b.dataStart, b.length);
  }

  private byte(v: u8): void {
    const tmp = memory.data(1);
    store<u8>(tmp, v);
    this.sink.write(tmp, 1);
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
// (issue 3 point 8: a fresh maxBlocks × 8 B array, block buffer and 1 KiB
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

/** Block hashes of the structured request (seed: PrefixHashes of an LLMRequest). */
export function hashRequest(req: LLMRequest, config: BlockConfig): StaticArray<u64> {
  return hashBody(Uint8Array.wrap(String.UTF8.encode(req.targetModel)), req.body, config);
}

/** The rendering as bytes, up to `limit` bytes (tests, inspect). */
export function renderBody(body: RequestBody, limit: i32 = i32.MAX_VALUE): Uint8Array {
  const w = new ByteWriter(1024);
  new Renderer(new BufferSink(w, limit)).render(body);
  return w.toBytes();
}
