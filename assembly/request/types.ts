// The structured request: what the parser extracts from an OpenAI-style body.
//
// Re-creates the upstream GIE endpoint picker's LLMRequest / LLMRequestBody
// (as of its PR #1446) with the later additions users asked for there
// (content arrays #925, cache_salt #1631, prompt arrays #2721,
// /v1/responses #2028).
//
// Representation rule ("bytes on the hot path"): every text value is a
// Uint8Array of decoded UTF-8. When the JSON string had no escapes it is a
// zero-copy view (`subarray`) into the body buffer; otherwise a fresh buffer
// holding the unescaped bytes (for message and content-part texts, made on
// the first read: Message.text). Fields the parser does not interpret (tools,
// documents, kwargs, tool_calls, unknown content parts, responses items) are
// kept as `RawJson`: a view of the value's exact bytes as the client sent them.

import { DecodeScratch, decodeJsonString } from "../json/strings";

/** Which OpenAI API a request belongs to. */
export enum Api {
  Completions = 0,
  ChatCompletions = 1,
  Responses = 2,
}

/** A JSON value exactly as sent: a view into the request body. */
export class RawJson {
  constructor(public bytes: Uint8Array) {}
}

/**
 * Shared empty defaults for fields that are always overwritten by the parser
 * (one allocation per module instead of several per content part; allocation
 * dominates parse time under the incremental GC). Never mutate them.
 */
export const EMPTY_BYTES = new Uint8Array(0);
export const EMPTY_RAW = new RawJson(EMPTY_BYTES);

/** Tri-state for optional booleans: absent, false, true. */
export enum OptBool {
  Absent = -1,
  False = 0,
  True = 1,
}

/** How `prompt` was given in a completions request. */
export enum PromptKind {
  /** "prompt": "text" */
  Text = 0,
  /** "prompt": ["text", "text"] */
  Texts = 1,
  /** "prompt": [1, 2, 3] */
  Tokens = 2,
  /** "prompt": [[1, 2], [3]] */
  TokenLists = 3,
}

export class CompletionsBody {
  promptKind: PromptKind = PromptKind.Text;
  /** Kind Text: one entry; kind Texts: one entry per string. */
  texts: Array<Uint8Array> = [];
  /** Kind Tokens: one entry; kind TokenLists: one entry per list. */
  tokens: Array<StaticArray<u32>> = [];
  cacheSalt: Uint8Array | null = null;
}

/** How a message's `content` was given. */
export enum ContentKind {
  /** key missing */
  Absent = 0,
  /** "content": null */
  Null = 1,
  /** "content": "text" */
  Text = 2,
  /** "content": [ {part}, ... ] */
  Parts = 3,
}

/** Content part types this project names; anything else is Unknown and kept raw. */
export enum PartType {
  Text = 0,
  ImageUrl = 1,
  InputAudio = 2,
  VideoUrl = 3,
  File = 4,
  Unknown = 5,
}

/**
 * Shared empty `Message.parts` for messages without content parts (most of
 * them): one array per module instead of two allocations per message. Never
 * push to it: assign a fresh array first (the parser does).
 */
export const NO_PARTS: Array<ContentPart> = [];

/**
 * A text value (message content, text part) that may still be the raw
 * content of a validated JSON string: decoded on its first read and kept.
 * Only the messages the prefix hash renders (the first blockSize × maxBlocks
 * bytes) are ever decoded, so the other messages of a long body cost a
 * validated scan and a view, not a copy (no whole-body copies on the hot
 * path: docs/design.md). Readers see no
 * difference. A base class rather than a field so no object is allocated
 * per message.
 */
export class LazyText {
  private textBytes: Uint8Array | null = null;
  private textEscaped: bool = false;

  /** The text, decoded UTF-8 like every text value (null when absent). */
  get text(): Uint8Array | null {
    const t = this.textBytes;
    if (this.textEscaped && t !== null) {
      this.textBytes = decodeJsonString(t);
      this.textEscaped = false;
    }
    return this.textBytes;
  }

  set text(v: Uint8Array | null) {
    this.textBytes = v;
    this.textEscaped = false;
  }

  /**
   * The text for a reader that consumes it at once: decoded into `scratch`
   * when it still has escapes (nothing allocated, nothing cached), else the
   * bytes `text` would return. Same bytes as `text`.
   */
  textVia(scratch: DecodeScratch): Uint8Array | null {
    const t = this.textBytes;
    if (this.textEscaped && t !== null) return scratch.decode(t);
    return t;
  }

  /** Sets `text` from the raw content of a JSON string the scanner validated (decoded on first read). */
  setJsonText(content: Uint8Array, hasEscapes: bool): void {
    this.textBytes = content;
    this.textEscaped = hasEscapes;
  }
}

/** A content part; `text` (LazyText) is set for Text parts only. */
export class ContentPart extends LazyText {
  type: PartType = PartType.Unknown;
  /** The `type` string as sent (decoded). */
  typeName: Uint8Array = EMPTY_BYTES;
  /** The whole part object as sent (for non-text parts: url/data live in here). */
  raw: RawJson = EMPTY_RAW;
}

/** A chat message; `text` (LazyText) is the content when contentKind is Text. */
export class Message extends LazyText {
  /** Where the message object is in ChatCompletionsBody.source ('{' to '}' inclusive): equal bytes, equal message. */
  rawStart: i32 = 0;
  rawEnd: i32 = 0;
  role: Uint8Array | null = null;
  contentKind: ContentKind = ContentKind.Absent;
  /** ContentKind.Parts: the parts in order (NO_PARTS, shared, when none). */
  parts: Array<ContentPart> = NO_PARTS;
  name: Uint8Array | null = null;
  toolCalls: RawJson | null = null;
  toolCallId: Uint8Array | null = null;
}

export class ChatCompletionsBody {
  /** The body the messages were parsed from (Message.rawStart/rawEnd index it); valid while the body is. */
  source: Uint8Array = EMPTY_BYTES;
  messages: Array<Message> = [];
  tools: RawJson | null = null;
  documents: RawJson | null = null;
  chatTemplate: Uint8Array | null = null;
  chatTemplateKwargs: RawJson | null = null;
  returnAssistantTokensMask: OptBool = OptBool.Absent;
  continueFinalMessage: OptBool = OptBool.Absent;
  addGenerationPrompt: OptBool = OptBool.Absent;
  cacheSalt: Uint8Array | null = null;
}

/**
 * A /v1/responses input item: its JSON as sent, and whether the model
 * produced it (an assistant message, reasoning, a function or other tool
 * call): a previous turn's answer is a run of those, as a chat's is an
 * assistant message (docs/routing.md "Replies are cached").
 */
export class InputItem extends RawJson {
  constructor(
    bytes: Uint8Array,
    public output: bool,
  ) {
    super(bytes);
  }
}

export class ResponsesBody {
  /** `input` as a string (inputText) or as an array of items (inputItems). */
  inputText: Uint8Array | null = null;
  inputItems: Array<InputItem> = [];
  instructions: Uint8Array | null = null;
  tools: RawJson | null = null;
  previousResponseId: Uint8Array | null = null;
  cacheSalt: Uint8Array | null = null;
}

/** Exactly one of the three bodies is set, selected by `api`. */
export class RequestBody {
  api: Api = Api.ChatCompletions;
  completions: CompletionsBody | null = null;
  chat: ChatCompletionsBody | null = null;
  responses: ResponsesBody | null = null;
}

/** Byte range [start, end) in the body. */
export class Span {
  constructor(public start: i32, public end: i32) {}
}

/** Output of the body parser. */
export class ParsedBody {
  /** The `model` value (decoded). */
  model: Uint8Array = EMPTY_BYTES;
  /** Where the model's JSON string token (quotes included) sits in the body, for a rewrite. */
  modelSpan: Span = new Span(0, 0);
  /** `stream: true` was sent. */
  stream: bool = false;
  /** The most output tokens the request asks for (its API's max_tokens field), a hint for when it ends; 0: not given or not a positive integer. */
  maxTokens: i32 = 0;
  body: RequestBody = new RequestBody();
}

/** Why a body was refused. Becomes an OpenAI-style error (400 or 413). */
export class RequestError {
  constructor(
    public status: i32,
    /** Human message naming the field and what was wrong. */
    public message: string,
    /** The JSON path of the offending field (e.g. "messages[2].content"), or "" when none. */
    public param: string,
    /** Machine code, e.g. "invalid_json", "missing_field", "invalid_type", "empty_field", "body_too_large". */
    public code: string,
  ) {}
}

/** Result of parsing: either `parsed` or `error` is set. */
export class ParseResult {
  parsed: ParsedBody | null = null;
  error: RequestError | null = null;

  static ok(p: ParsedBody): ParseResult {
    const r = new ParseResult();
    r.parsed = p;
    return r;
  }

  static fail(status: i32, message: string, param: string, code: string): ParseResult {
    const r = new ParseResult();
    r.error = new RequestError(status, message, param, code);
    return r;
  }
}

/** A header as seen by the filter (lower-case name). */
export class Header {
  constructor(public name: string, public value: string) {}
}

/** The structured request handed to scorers (upstream: LLMRequest). */
export class LLMRequest {
  requestId: string = "";
  /** Body model, or the value of x-gateway-model-name-rewrite. */
  targetModel: string = "";
  body: RequestBody = new RequestBody();
  /** The request headers the picker reads (request/headers.ts PICKER_HEADERS), minus the control headers. */
  headers: Array<Header> = [];
}
