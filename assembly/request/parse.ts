// The body parser: OpenAI-style request bytes → ParsedBody, or a RequestError
// (issue 3 points 1, 4, 5, 6). One pass over the bytes with JsonScanner; no
// UTF-16 conversion of the body; text values are views into the body when
// they have no escapes.
//
// ## Rules
// - The body must be one valid JSON object (strict RFC 8259, json.ts), else
//   400 invalid_json (not JSON) or invalid_type (JSON but not an object).
// - `model` must be present (missing_field) and a string (invalid_type);
//   checked before anything else, as the seed does (§1.3). "" is accepted
//   (the seed accepts it too).
// - Keys match exactly (case-sensitive), as OpenAI and vLLM do. The seed's Go
//   decoding matched `Messages`/`PROMPT` case-insensitively: a deliberate
//   difference (test/scenarios/requests.ts marks those rows).
// - Duplicate keys: the last occurrence wins, for every field (Go, JS and
//   Python do the same), so the filter interprets what vLLM will read.
//   `modelSpan` is the span of the last `model`.
// - `null` for an optional field means absent (clients send it).
// - Only the fields of the detected API count: a malformed `messages` in a
//   /v1/completions request is not an error (it is forwarded as sent).
// - When several fields are wrong, the one earliest in the body is reported;
//   type errors come before missing/empty checks (seed: "invalid request
//   format" before "must have at least one message").
// - API by shape (api == API_BY_SHAPE), the seed's rule (§1.2) extended:
//   a valid non-empty `prompt` (string, or — unlike the seed — an array)
//   → completions; else `messages` present → chat; else `input` present →
//   responses (not in the seed); else chat, which then fails with
//   missing_field `messages` (the seed's "must have at least one message").
//
// ## Errors (RequestError.code)
//   invalid_json   body is not valid JSON (message gives reason and byte offset)
//   invalid_type   a field (or the body) has the wrong JSON type; param = its path
//   missing_field  a required field is absent or null (model, prompt,
//                  messages, input, a content part's type / text)
//   empty_field    prompt/messages/input is "" or [] (or a token list is [])
//   invalid_value  a token id that is not an integer in 0..2^32-1
//   body_too_large 413, built by bodyTooLargeError() (checked by the caller)
import { ByteWriter, utf8 } from "../util/bytes";
import { API_BY_SHAPE } from "./api";
import { JsonKind, jsonKindName } from "../json/kinds";
import { JsonScanner } from "../json/scanner";
import { asciiEquals } from "../json/strings";
import { parseU32 } from "../json/tokens";
import { writeJsonString } from "../json/writer";
import {
  Api,
  ChatCompletionsBody,
  CompletionsBody,
  ContentKind,
  ContentPart,
  Header,
  LLMRequest,
  Message,
  NO_PARTS,
  OptBool,
  ParsedBody,
  ParseResult,
  PartType,
  PromptKind,
  RawJson,
  RequestError,
  ResponsesBody,
  Span,
} from "./types";

// Top-level fields the parser interprets.
const F_MODEL = 0;
const F_STREAM = 1;
const F_PROMPT = 2;
const F_MESSAGES = 3;
const F_TOOLS = 4;
const F_DOCUMENTS = 5;
const F_CHAT_TEMPLATE = 6;
const F_KWARGS = 7;
const F_RATM = 8;
const F_CFM = 9;
const F_AGP = 10;
const F_CACHE_SALT = 11;
const F_INPUT = 12;
const F_INSTRUCTIONS = 13;
const F_PREV_ID = 14;
const F_COUNT = 15;

// Which fields matter for each API (bit i = field i).
const COMMON: u32 = (1 << F_MODEL) | (1 << F_STREAM) | (1 << F_CACHE_SALT);
const RELEVANT_COMPLETIONS: u32 = COMMON | (1 << F_PROMPT);
const RELEVANT_CHAT: u32 =
  COMMON | (1 << F_MESSAGES) | (1 << F_TOOLS) | (1 << F_DOCUMENTS) | (1 << F_CHAT_TEMPLATE) |
  (1 << F_KWARGS) | (1 << F_RATM) | (1 << F_CFM) | (1 << F_AGP);
const RELEVANT_RESPONSES: u32 = COMMON | (1 << F_INPUT) | (1 << F_INSTRUCTIONS) | (1 << F_TOOLS) | (1 << F_PREV_ID);

/** The field id of the scanner's current key, or -1 (compared in place, no allocation). */
function fieldId(sc: JsonScanner): i32 {
  switch (sc.keyRawLength) {
    case 5:
      if (sc.keyIs("model")) return F_MODEL;
      if (sc.keyIs("input")) return F_INPUT;
      if (sc.keyIs("tools")) return F_TOOLS;
      break;
    case 6:
      if (sc.keyIs("stream")) return F_STREAM;
      if (sc.keyIs("prompt")) return F_PROMPT;
      break;
    case 8:
      if (sc.keyIs("messages")) return F_MESSAGES;
      break;
    case 9:
      if (sc.keyIs("documents")) return F_DOCUMENTS;
      break;
    case 10:
      if (sc.keyIs("cache_salt")) return F_CACHE_SALT;
      break;
    case 12:
      if (sc.keyIs("instructions")) return F_INSTRUCTIONS;
      break;
    case 13:
      if (sc.keyIs("chat_template")) return F_CHAT_TEMPLATE;
      break;
    case 20:
      if (sc.keyIs("chat_template_kwargs")) return F_KWARGS;
      if (sc.keyIs("previous_response_id")) return F_PREV_ID;
      break;
    case 21:
      if (sc.keyIs("add_generation_prompt")) return F_AGP;
      break;
    case 22:
      if (sc.keyIs("continue_final_message")) return F_CFM;
      break;
    case 28:
      if (sc.keyIs("return_assistant_tokens_mask")) return F_RATM;
      break;
  }
  // A key with escapes (e.g. "\u006dodel") is longer raw: decode and compare.
  if (sc.keyHasEscapes) return fieldIdDecoded(sc.key);
  return -1;
}

function fieldIdDecoded(k: Uint8Array): i32 {
  for (let id = 0; id < F_COUNT; id++) {
    if (asciiEquals(k, fieldName(id))) return id;
  }
  return -1;
}

function fieldName(id: i32): string {
  switch (id) {
    case F_MODEL: return "model";
    case F_STREAM: return "stream";
    case F_PROMPT: return "prompt";
    case F_MESSAGES: return "messages";
    case F_TOOLS: return "tools";
    case F_DOCUMENTS: return "documents";
    case F_CHAT_TEMPLATE: return "chat_template";
    case F_KWARGS: return "chat_template_kwargs";
    case F_RATM: return "return_assistant_tokens_mask";
    case F_CFM: return "continue_final_message";
    case F_AGP: return "add_generation_prompt";
    case F_CACHE_SALT: return "cache_salt";
    case F_INPUT: return "input";
    case F_INSTRUCTIONS: return "instructions";
    case F_PREV_ID: return "previous_response_id";
  }
  return "";
}

function partTypeOf(name: Uint8Array): PartType {
  if (asciiEquals(name, "text")) return PartType.Text;
  if (asciiEquals(name, "image_url")) return PartType.ImageUrl;
  if (asciiEquals(name, "input_audio")) return PartType.InputAudio;
  if (asciiEquals(name, "video_url")) return PartType.VideoUrl;
  if (asciiEquals(name, "file")) return PartType.File;
  return PartType.Unknown;
}

// ---- error constructors (OpenAI-style messages) ---------------------------

function typeError(path: string, expected: string, got: JsonKind): RequestError {
  return new RequestError(
    400,
    "Invalid type for '" + path + "': expected " + expected + ", but got " + jsonKindName(got) + " instead.",
    path,
    "invalid_type",
  );
}

function missingError(path: string): RequestError {
  return new RequestError(400, "Missing required parameter: '" + path + "'.", path, "missing_field");
}

function emptyError(path: string, what: string): RequestError {
  return new RequestError(400, "Invalid '" + path + "': " + what + " must not be empty.", path, "empty_field");
}

/** The 413 error for a body past the configured limit (the caller checks the size before parsing). */
export function bodyTooLargeError(limitBytes: i32): RequestError {
  return new RequestError(
    413,
    "Request body too large: the limit is " + limitBytes.toString() + " bytes.",
    "",
    "body_too_large",
  );
}

function invalidJsonError(sc: JsonScanner): RequestError {
  return new RequestError(
    400,
    "We could not parse the JSON body of your request: " + sc.errorMessage() + ".",
    "",
    "invalid_json",
  );
}

class FieldError {
  constructor(public pos: i32, public error: RequestError) {}
}

/** One parse. Field parsers return false with `pending` set on a type error. */
/**
 * Most messages, content parts, input items and prompt entries one body may
 * carry, in total. Each costs a few hundred bytes of VM memory (objects and
 * arrays), so without a bound a few MB of `[{},{},...]` grow the VM by
 * hundreds of MB, and Envoy's VM memory cap (1 GiB) turns that into an abort.
 * Real requests stay far below: long agent sessions reach a few thousand.
 */
export const MAX_ELEMENTS: i32 = 65536;

function tooManyError(path: string): RequestError {
  return new RequestError(
    400,
    "Invalid '" + path + "': a request may carry at most " + MAX_ELEMENTS.toString() + " messages, content parts, input items and prompt entries in total.",
    path,
    "too_many_elements",
  );
}

class BodyParser {
  /** Structured elements allocated so far (bounded by MAX_ELEMENTS). */
  elements: i32 = 0;
  sc: JsonScanner;
  pending: RequestError | null = null;
  seen: StaticArray<bool> = new StaticArray<bool>(F_COUNT);
  errs: StaticArray<FieldError | null> = new StaticArray<FieldError | null>(F_COUNT);
  out: ParsedBody = new ParsedBody();
  comp: CompletionsBody = new CompletionsBody();
  chat: ChatCompletionsBody = new ChatCompletionsBody();
  resp: ResponsesBody = new ResponsesBody();
  modelSeen: bool = false;
  promptEmpty: bool = false;
  messagesEmpty: bool = false;
  inputEmpty: bool = false;
  cacheSalt: Uint8Array | null = null;
  tools: RawJson | null = null;
  // Scratch for optional values.
  str: Uint8Array | null = null;
  raw: RawJson | null = null;
  tokens: Array<u32> = [];

  constructor(body: Uint8Array) {
    this.sc = new JsonScanner(body);
  }

  fail(e: RequestError): bool {
    this.pending = e;
    return false;
  }

  /** Parses the top-level object; false on invalid JSON (sc.failed). */
  run(): bool {
    const sc = this.sc;
    if (!sc.beginObject()) return false;
    while (sc.nextKey()) {
      const id = fieldId(sc);
      if (id < 0) {
        if (!sc.skipValue()) return false;
        continue;
      }
      const start = sc.pos;
      const depth = sc.depth;
      this.pending = null;
      this.seen[id] = true; // a field parser resets it for `null` (= absent)
      const ok = this.field(id);
      if (sc.failed) return false;
      if (ok) {
        this.errs[id] = null;
        continue;
      }
      const err = this.pending;
      this.errs[id] = new FieldError(start, err != null ? err : typeError(fieldName(id), "a valid value", JsonKind.Invalid));
      // Resynchronise: skip the whole value from its start (only on errors).
      sc.seek(start, depth);
      if (!sc.skipValue()) return false;
    }
    return !sc.failed && sc.finish();
  }

  field(id: i32): bool {
    const sc = this.sc;
    switch (id) {
      case F_MODEL: {
        const k = sc.peek();
        if (k != JsonKind.String) return this.fail(typeError("model", "a string", k));
        const s = sc.readString();
        if (s == null) return false;
        this.out.model = s;
        this.out.modelSpan = new Span(sc.valueStart, sc.valueEnd);
        this.modelSeen = true;
        return true;
      }
      case F_STREAM: {
        const b = this.optBool("stream");
        this.out.stream = b == OptBool.True;
        return b != -2;
      }
      case F_PROMPT: return this.prompt();
      case F_MESSAGES: return this.messages();
      case F_TOOLS:
        if (!this.optRaw("tools", JsonKind.Array)) return false;
        this.tools = this.raw;
        return true;
      case F_DOCUMENTS:
        if (!this.optRaw("documents", JsonKind.Array)) return false;
        this.chat.documents = this.raw;
        return true;
      case F_KWARGS:
        if (!this.optRaw("chat_template_kwargs", JsonKind.Object)) return false;
        this.chat.chatTemplateKwargs = this.raw;
        return true;
      case F_CHAT_TEMPLATE:
        if (!this.optString("chat_template")) return false;
        this.chat.chatTemplate = this.str;
        return true;
      case F_RATM: {
        const b = this.optBool("return_assistant_tokens_mask");
        this.chat.returnAssistantTokensMask = b;
        return b != -2;
      }
      case F_CFM: {
        const b = this.optBool("continue_final_message");
        this.chat.continueFinalMessage = b;
        return b != -2;
      }
      case F_AGP: {
        const b = this.optBool("add_generation_prompt");
        this.chat.addGenerationPrompt = b;
        return b != -2;
      }
      case F_CACHE_SALT:
        if (!this.optString("cache_salt")) return false;
        this.cacheSalt = this.str;
        return true;
      case F_INPUT: return this.input();
      case F_INSTRUCTIONS:
        if (!this.optString("instructions")) return false;
        this.resp.instructions = this.str;
        return true;
      case F_PREV_ID:
        if (!this.optString("previous_response_id")) return false;
        this.resp.previousResponseId = this.str;
        return true;
    }
    return this.sc.skipValue();
  }

  // ---- scalar helpers ----

  /** String or null → this.str. `msg` >= 0: a field of messages[msg] (path built only on error). */
  optString(name: string, msg: i32 = -1): bool {
    const sc = this.sc;
    const k = sc.peek();
    if (k == JsonKind.Null) {
      this.str = null;
      return sc.readNull();
    }
    if (k != JsonKind.String) return this.fail(typeError(fieldPath(name, msg), "a string", k));
    this.str = sc.readString();
    return this.str != null;
  }

  /** Boolean or null; -2 on error (OptBool values otherwise). */
  optBool(path: string): OptBool {
    const sc = this.sc;
    const k = sc.peek();
    if (k == JsonKind.Null) return sc.readNull() ? OptBool.Absent : <OptBool>-2;
    if (k != JsonKind.True && k != JsonKind.False) {
      this.fail(typeError(path, "a boolean", k));
      return <OptBool>-2;
    }
    const b = sc.readBool();
    if (b < 0) return <OptBool>-2;
    return b == 1 ? OptBool.True : OptBool.False;
  }

  /** `want` (array or object) kept as raw JSON, or null → this.raw. */
  optRaw(name: string, want: JsonKind, msg: i32 = -1): bool {
    const sc = this.sc;
    const k = sc.peek();
    if (k == JsonKind.Null) {
      this.raw = null;
      return sc.readNull();
    }
    if (k != want) return this.fail(typeError(fieldPath(name, msg), want == JsonKind.Array ? "an array" : "an object", k));
    if (!sc.skipValue()) return false;
    this.raw = new RawJson(sc.valueBytes());
    return true;
  }

  // ---- completions ----

  prompt(): bool {
    const sc = this.sc;
    const c = new CompletionsBody();
    this.comp = c;
    this.promptEmpty = false;
    const k = sc.peek();
    if (k == JsonKind.String) {
      const s = sc.readString();
      if (s == null) return false;
      c.promptKind = PromptKind.Text;
      c.texts.push(s);
      this.promptEmpty = s.length == 0;
      return true;
    }
    if (k == JsonKind.Null) {
      // null = absent: the field counts as not sent.
      if (!sc.readNull()) return false;
      this.seen[F_PROMPT] = false;
      return true;
    }
    if (k != JsonKind.Array) {
      return this.fail(typeError("prompt", "a string, an array of strings, an array of token ids or an array of token-id arrays", k));
    }
    sc.beginArray();
    let i = 0;
    while (sc.nextItem()) {
      const ik = sc.peek();
      if (i == 0) {
        if (ik == JsonKind.String) c.promptKind = PromptKind.Texts;
        else if (ik == JsonKind.Number) c.promptKind = PromptKind.Tokens;
        else if (ik == JsonKind.Array) c.promptKind = PromptKind.TokenLists;
        else return this.fail(typeError("prompt[0]", "a string, a token id or an array of token ids", ik));
      }
      const path = "prompt";
      if (c.promptKind != PromptKind.Tokens && ++this.elements > MAX_ELEMENTS) return this.fail(tooManyError(path + "[" + i.toString() + "]"));
      if (c.promptKind == PromptKind.Texts) {
        if (ik != JsonKind.String) return this.fail(typeError(path + "[" + i.toString() + "]", "a string", ik));
        const s = sc.readString();
        if (s == null) return false;
        c.texts.push(s);
      } else if (c.promptKind == PromptKind.Tokens) {
        if (i == 0) this.tokens.length = 0;
        if (!this.tokenId(i, -1)) return false;
      } else {
        if (ik != JsonKind.Array) return this.fail(typeError(path + "[" + i.toString() + "]", "an array of token ids", ik));
        if (!this.tokenList(i)) return false;
      }
      i++;
    }
    if (sc.failed) return false;
    if (c.promptKind == PromptKind.Tokens) c.tokens.push(StaticArray.fromArray<u32>(this.tokens));
    this.promptEmpty = i == 0;
    return true;
  }

  /** One token id into this.tokens; `outer` >= 0 when inside prompt[outer]. */
  tokenId(i: i32, outer: i32): bool {
    const sc = this.sc;
    const k = sc.peek();
    if (k != JsonKind.Number) return this.fail(typeError(tokenPath(i, outer), "a token id (integer)", k));
    if (!sc.readNumber()) return false;
    const v = parseU32(sc.valueBytes());
    if (v < 0) {
      const path = tokenPath(i, outer);
      return this.fail(
        new RequestError(400, "Invalid value for '" + path + "': a token id must be an integer between 0 and 4294967295.", path, "invalid_value"),
      );
    }
    this.tokens.push(<u32>v);
    return true;
  }

  tokenList(outer: i32): bool {
    const sc = this.sc;
    sc.beginArray();
    this.tokens.length = 0;
    let i = 0;
    while (sc.nextItem()) {
      if (!this.tokenId(i, outer)) return false;
      i++;
    }
    if (sc.failed) return false;
    if (i == 0) return this.fail(emptyError("prompt[" + outer.toString() + "]", "a token-id array"));
    this.comp.tokens.push(StaticArray.fromArray<u32>(this.tokens));
    return true;
  }

  // ---- chat completions ----

  messages(): bool {
    const sc = this.sc;
    this.chat.messages = [];
    this.messagesEmpty = false;
    const k = sc.peek();
    if (k == JsonKind.Null) {
      if (!sc.readNull()) return false;
      this.seen[F_MESSAGES] = false;
      return true;
    }
    if (k != JsonKind.Array) return this.fail(typeError("messages", "an array of message objects", k));
    sc.beginArray();
    let i = 0;
    while (sc.nextItem()) {
      if (++this.elements > MAX_ELEMENTS) return this.fail(tooManyError("messages[" + i.toString() + "]"));
      if (!this.message(i)) return false;
      i++;
    }
    if (sc.failed) return false;
    this.messagesEmpty = i == 0;
    return true;
  }

  message(i: i32): bool {
    const sc = this.sc;
    const k = sc.peek();
    if (k != JsonKind.Object) return this.fail(typeError("messages[" + i.toString() + "]", "a message object", k));
    sc.beginObject();
    const m = new Message();
    while (sc.nextKey()) {
      if (sc.keyIs("role")) {
        if (!this.role(m, i)) return false;
      } else if (sc.keyIs("content")) {
        if (!this.content(m, i)) return false;
      } else if (sc.keyIs("name")) {
        if (!this.optString("name", i)) return false;
        m.name = this.str;
      } else if (sc.keyIs("tool_calls")) {
        if (!this.optRaw("tool_calls", JsonKind.Array, i)) return false;
        m.toolCalls = this.raw;
      } else if (sc.keyIs("tool_call_id")) {
        if (!this.optString("tool_call_id", i)) return false;
        m.toolCallId = this.str;
      } else if (!sc.skipValue()) {
        return false;
      }
    }
    if (sc.failed) return false;
    this.chat.messages.push(m);
    return true;
  }

  /** The role; the common ones are shared constants (one allocation less per message). */
  role(m: Message, i: i32): bool {
    const sc = this.sc;
    if (sc.peek() != JsonKind.String) {
      if (!this.optString("role", i)) return false;
      m.role = this.str;
      return true;
    }
    if (!sc.readStringRaw()) return false;
    if (sc.stringIs("user")) m.role = ROLE_USER;
    else if (sc.stringIs("assistant")) m.role = ROLE_ASSISTANT;
    else if (sc.stringIs("system")) m.role = ROLE_SYSTEM;
    else if (sc.stringIs("tool")) m.role = ROLE_TOOL;
    else if (sc.stringIs("developer")) m.role = ROLE_DEVELOPER;
    else m.role = sc.lastString();
    return true;
  }

  content(m: Message, i: i32): bool {
    const sc = this.sc;
    const k = sc.peek();
    m.parts = NO_PARTS; // a duplicate "content" key: last wins
    m.text = null;
    if (k == JsonKind.String) {
      // Validated now, decoded only if read (Message.text).
      if (!sc.readStringRaw()) return false;
      m.contentKind = ContentKind.Text;
      m.setJsonText(sc.lastStringContent(), sc.lastStringHasEscapes);
      return true;
    }
    if (k == JsonKind.Null) {
      m.contentKind = ContentKind.Null;
      return sc.readNull();
    }
    if (k != JsonKind.Array) {
      return this.fail(typeError(msgPath(i, "content"), "a string, an array of content parts or null", k));
    }
    m.contentKind = ContentKind.Parts;
    m.parts = new Array<ContentPart>();
    sc.beginArray();
    let j = 0;
    while (sc.nextItem()) {
      if (++this.elements > MAX_ELEMENTS) return this.fail(tooManyError(partPath(i, j, "")));
      if (!this.part(m, i, j)) return false;
      j++;
    }
    return !sc.failed;
  }

  part(m: Message, i: i32, j: i32): bool {
    const sc = this.sc;
    const k = sc.peek();
    if (k != JsonKind.Object) return this.fail(typeError(partPath(i, j, ""), "a content part object", k));
    const start = sc.pos;
    sc.beginObject();
    const p = new ContentPart();
    let typeSeen = false;
    let textKind = JsonKind.Invalid; // kind of the `text` value, Invalid = absent
    while (sc.nextKey()) {
      if (sc.keyIs("type")) {
        const tk = sc.peek();
        if (tk != JsonKind.String) return this.fail(typeError(partPath(i, j, "type"), "a string", tk));
        const s = sc.readString();
        if (s == null) return false;
        p.typeName = s;
        typeSeen = true;
      } else if (sc.keyIs("text")) {
        textKind = sc.peek();
        if (textKind == JsonKind.String) {
          if (!sc.readStringRaw()) return false;
          p.setJsonText(sc.lastStringContent(), sc.lastStringHasEscapes);
        } else {
          p.text = null;
          if (!sc.skipValue()) return false;
        }
      } else if (!sc.skipValue()) {
        return false;
      }
    }
    if (sc.failed) return false;
    p.raw = new RawJson(sc.bytes.subarray(start, sc.pos));
    if (!typeSeen) return this.fail(missingError(partPath(i, j, "type")));
    p.type = partTypeOf(p.typeName);
    if (p.type == PartType.Text) {
      if (textKind == JsonKind.Invalid || textKind == JsonKind.Null) return this.fail(missingError(partPath(i, j, "text")));
      if (textKind != JsonKind.String) return this.fail(typeError(partPath(i, j, "text"), "a string", textKind));
    } else {
      p.text = null; // only text parts carry text; the rest stays in `raw`
    }
    m.parts.push(p);
    return true;
  }

  // ---- responses ----

  input(): bool {
    const sc = this.sc;
    this.resp.inputText = null;
    this.resp.inputItems = [];
    this.inputEmpty = false;
    const k = sc.peek();
    if (k == JsonKind.String) {
      const s = sc.readString();
      if (s == null) return false;
      this.resp.inputText = s;
      this.inputEmpty = s.length == 0;
      return true;
    }
    if (k == JsonKind.Null) {
      if (!sc.readNull()) return false;
      this.seen[F_INPUT] = false;
      return true;
    }
    if (k != JsonKind.Array) return this.fail(typeError("input", "a string or an array of input items", k));
    sc.beginArray();
    let i = 0;
    while (sc.nextItem()) {
      const ik = sc.peek();
      if (ik != JsonKind.Object) return this.fail(typeError("input[" + i.toString() + "]", "an input item object", ik));
      if (++this.elements > MAX_ELEMENTS) return this.fail(tooManyError("input[" + i.toString() + "]"));
      if (!sc.skipValue()) return false;
      this.resp.inputItems.push(new RawJson(sc.valueBytes()));
      i++;
    }
    if (sc.failed) return false;
    this.inputEmpty = i == 0;
    return true;
  }

  // ---- after the pass ----

  resolveApi(api: i32): Api {
    if (api != API_BY_SHAPE) return <Api>api;
    if (this.seen[F_PROMPT] && this.errs[F_PROMPT] == null && !this.promptEmpty) return Api.Completions;
    if (this.seen[F_MESSAGES]) return Api.ChatCompletions;
    if (this.seen[F_INPUT]) return Api.Responses;
    return Api.ChatCompletions;
  }

  /** The first (by body position) type error among the fields that matter. */
  firstError(relevant: u32): RequestError | null {
    let best: FieldError | null = null;
    for (let id = 0; id < F_COUNT; id++) {
      if ((relevant & (1 << id)) == 0) continue;
      const e = this.errs[id];
      if (e != null && (best == null || e.pos < best.pos)) best = e;
    }
    return best != null ? best.error : null;
  }

  finishFor(api: Api): ParseResult {
    const relevant = api == Api.Completions ? RELEVANT_COMPLETIONS : api == Api.Responses ? RELEVANT_RESPONSES : RELEVANT_CHAT;
    const err = this.firstError(relevant);
    if (err != null) return resultOf(err);
    const body = this.out.body;
    body.api = api;
    if (api == Api.Completions) {
      if (!this.seen[F_PROMPT]) return resultOf(missingError("prompt"));
      if (this.promptEmpty) return resultOf(emptyError("prompt", "the prompt"));
      this.comp.cacheSalt = this.cacheSalt;
      body.completions = this.comp;
    } else if (api == Api.ChatCompletions) {
      if (!this.seen[F_MESSAGES]) return resultOf(missingError("messages"));
      if (this.messagesEmpty) return resultOf(emptyError("messages", "the messages array"));
      this.chat.tools = this.tools;
      this.chat.cacheSalt = this.cacheSalt;
      body.chat = this.chat;
    } else {
      if (!this.seen[F_INPUT]) return resultOf(missingError("input"));
      if (this.inputEmpty) return resultOf(emptyError("input", "the input"));
      this.resp.tools = this.tools;
      this.resp.cacheSalt = this.cacheSalt;
      body.responses = this.resp;
    }
    return ParseResult.ok(this.out);
  }
}

function tokenPath(i: i32, outer: i32): string {
  return outer < 0 ? "prompt[" + i.toString() + "]" : "prompt[" + outer.toString() + "][" + i.toString() + "]";
}

// Interned roles (decoded bytes, like any other text value; never mutate).
const ROLE_USER = utf8("user");
const ROLE_ASSISTANT = utf8("assistant");
const ROLE_SYSTEM = utf8("system");
const ROLE_TOOL = utf8("tool");
const ROLE_DEVELOPER = utf8("developer");

function fieldPath(name: string, msg: i32): string {
  return msg < 0 ? name : msgPath(msg, name);
}

function msgPath(i: i32, field: string): string {
  return "messages[" + i.toString() + "]." + field;
}

function partPath(i: i32, j: i32, field: string): string {
  const p = "messages[" + i.toString() + "].content[" + j.toString() + "]";
  return field.length > 0 ? p + "." + field : p;
}

function resultOf(e: RequestError): ParseResult {
  const r = new ParseResult();
  r.error = e;
  return r;
}

/**
 * Parses a request body for `api` (an Api value, or API_BY_SHAPE; never
 * API_NOT_INFERENCE, which the caller passes through unparsed).
 * Never traps; every outcome is a ParsedBody or a 400 RequestError.
 */
export function parseBody(body: Uint8Array, api: i32): ParseResult {
  const p = new BodyParser(body);
  const sc = p.sc;
  const k = sc.peek();
  if (k == JsonKind.Invalid) return resultOf(invalidJsonError(sc));
  if (k != JsonKind.Object) {
    // Valid JSON that is not an object, or not JSON at all?
    if (!sc.skipValue() || !sc.finish()) return resultOf(invalidJsonError(sc));
    return resultOf(new RequestError(400, "Invalid request body: expected a JSON object, but got " + jsonKindName(k) + " instead.", "", "invalid_type"));
  }
  if (!p.run()) return resultOf(invalidJsonError(sc));
  // The model comes first, as in the seed (§1.3: "model not found" before anything else).
  const modelErr = p.errs[F_MODEL];
  if (modelErr != null) return resultOf(modelErr.error);
  if (!p.modelSeen) return resultOf(missingError("model"));
  return p.finishFor(p.resolveApi(api));
}

/**
 * The body with its `model` value replaced by `newModel` (JSON-escaped);
 * every other byte is unchanged (issue 3 point 6). `modelSpan` is
 * ParsedBody.modelSpan (the string token, quotes included).
 */
export function rewriteModel(body: Uint8Array, modelSpan: Span, newModel: string): Uint8Array {
  const start = modelSpan.start;
  const end = modelSpan.end;
  if (start < 0 || end > body.length || start > end) return body.slice(0);
  const w = new ByteWriter(body.length + newModel.length + 16);
  w.raw(body.dataStart, start);
  writeJsonString(w, utf8(newModel));
  w.raw(body.dataStart + <usize>end, body.length - end);
  return w.toBytes();
}

/** Control headers consumed by the picker and not passed to plugins (seed §4.2). */
export const HEADER_REQUEST_ID = "x-request-id";
export const HEADER_MODEL_REWRITE = "x-gateway-model-name-rewrite";
const CONTROL_HEADERS: Array<string> = [
  "x-gateway-inference-fairness-id",
  "x-gateway-inference-objective",
  "x-gateway-model-name-rewrite",
];

/**
 * Builds the LLMRequest handed to scorers: requestId from `x-request-id`
 * (else `generatedId`), targetModel = the rewrite header's value if present
 * (the caller then forwards rewriteModel(...)), else the body's model;
 * headers minus the three control headers. Header names must be lower-case.
 */
export function toLLMRequest(parsed: ParsedBody, headers: Array<Header>, generatedId: string): LLMRequest {
  const r = new LLMRequest();
  r.requestId = generatedId;
  r.targetModel = String.UTF8.decodeUnsafe(parsed.model.dataStart, <usize>parsed.model.length);
  r.body = parsed.body;
  for (let i = 0; i < headers.length; i++) {
    const h = unchecked(headers[i]);
    if (h.name == HEADER_REQUEST_ID && h.value.length > 0) r.requestId = h.value;
    if (h.name == HEADER_MODEL_REWRITE && h.value.length > 0) r.targetModel = h.value;
    if (!CONTROL_HEADERS.includes(h.name)) r.headers.push(h);
  }
  return r;
}
