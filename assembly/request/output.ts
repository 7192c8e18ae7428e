// JSON output of the structured request and of request errors: the CLI
// contract of README "Inspect a decision" (`inspect` prints
// {"decision":"route","request":<requestJson>} or
// {"decision":"reject","status":N,"error":<errorJson's inner object>}).
//
// ## requestJson shape
//   {"requestId":"...","targetModel":"...","body":{"<api key>":{...}}}
// with <api key> one of "completions", "chat_completions", "responses" and the
// fields named as in the OpenAI request bodies (snake_case), in this order:
//   completions:      prompt, cache_salt
//   chat_completions: messages, tools, documents, chat_template,
//                     chat_template_kwargs, return_assistant_tokens_mask,
//                     continue_final_message, add_generation_prompt, cache_salt
//     message:        role, content, name, tool_calls, tool_call_id
//   responses:        input, instructions, tools, previous_response_id, cache_salt
// Absent (or null) fields are omitted, except `content: null`, which is
// emitted as null (ContentKind.Null differs from an absent content).
// - Decoded strings are re-escaped minimally (json/writer.ts):
//   `"\u00e9"` in the body comes out as `"é"`.
// - prompt comes out in the shape it was sent: a string (Text), an array of
//   strings (Texts), an array of token ids (Tokens), an array of arrays
//   (TokenLists).
// - Raw fields (tools, documents, chat_template_kwargs, tool_calls, content
//   parts, responses input items) are emitted as sent — same keys, order,
//   escapes and number spellings — minus insignificant whitespace, so the
//   output stays one line even for pretty-printed bodies.
// - Content parts (ContentKind.Parts) are emitted as their raw part objects
//   (all of them, unknown types included): the parsed PartType/text is
//   derived from those bytes, so nothing is lost or invented.
// - `headers` is not part of the line (the contract lists requestId,
//   targetModel and body).
import { ByteWriter, utf8 } from "../util/bytes";
import { writeJsonString } from "../json/writer";
import {
  Api,
  ChatCompletionsBody,
  CompletionsBody,
  ContentKind,
  LLMRequest,
  Message,
  OptBool,
  PromptKind,
  RawJson,
  RequestBody,
  RequestError,
  ResponsesBody,
} from "./types";

/** Writes raw JSON (known valid) without whitespace outside strings. */
export function writeCompactJson(raw: Uint8Array, out: ByteWriter): void {
  const base = raw.dataStart;
  const n = raw.length;
  let inString = false;
  let run = 0;
  for (let i = 0; i < n; i++) {
    const c = load<u8>(base + <usize>i);
    if (inString) {
      if (c == 0x5c) i++; // skip the escaped byte
      else if (c == 0x22) inString = false;
      continue;
    }
    if (c == 0x22) {
      inString = true;
    } else if (c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) {
      if (i > run) out.raw(base + <usize>run, i - run);
      run = i + 1;
    }
  }
  if (n > run) out.raw(base + <usize>run, n - run);
}

class ObjectWriter {
  first: bool = true;
  constructor(public out: ByteWriter) {
    out.byte(0x7b);
  }
  key(name: string): ByteWriter {
    if (!this.first) this.out.byte(0x2c);
    this.first = false;
    this.out.byte(0x22);
    this.out.str(name);
    this.out.byte(0x22);
    this.out.byte(0x3a);
    return this.out;
  }
  str(name: string, v: Uint8Array | null): void {
    if (v == null) return;
    writeJsonString(this.key(name), v);
  }
  raw(name: string, v: RawJson | null): void {
    if (v == null) return;
    writeCompactJson(v.bytes, this.key(name));
  }
  optBool(name: string, v: OptBool): void {
    if (v == OptBool.Absent) return;
    this.key(name).str(v == OptBool.True ? "true" : "false");
  }
  end(): void {
    this.out.byte(0x7d);
  }
}

/** {"requestId":...,"targetModel":...,"body":{...}} (see the file header). */
export function requestJson(req: LLMRequest, out: ByteWriter): void {
  const o = new ObjectWriter(out);
  writeJsonString(o.key("requestId"), utf8(req.requestId));
  writeJsonString(o.key("targetModel"), utf8(req.targetModel));
  requestBodyJson(req.body, o.key("body"));
  o.end();
}

/** {"completions":{...}} | {"chat_completions":{...}} | {"responses":{...}}. */
export function requestBodyJson(body: RequestBody, out: ByteWriter): void {
  const o = new ObjectWriter(out);
  if (body.api == Api.Completions && body.completions != null) {
    completionsJson(body.completions!, o.key("completions"));
  } else if (body.api == Api.ChatCompletions && body.chat != null) {
    chatJson(body.chat!, o.key("chat_completions"));
  } else if (body.api == Api.Responses && body.responses != null) {
    responsesJson(body.responses!, o.key("responses"));
  }
  o.end();
}

function completionsJson(c: CompletionsBody, out: ByteWriter): void {
  const o = new ObjectWriter(out);
  const w = o.key("prompt");
  if (c.promptKind == PromptKind.Text) {
    writeJsonString(w, c.texts.length > 0 ? c.texts[0] : new Uint8Array(0));
  } else if (c.promptKind == PromptKind.Texts) {
    w.byte(0x5b);
    for (let i = 0; i < c.texts.length; i++) {
      if (i > 0) w.byte(0x2c);
      writeJsonString(w, c.texts[i]);
    }
    w.byte(0x5d);
  } else if (c.promptKind == PromptKind.Tokens) {
    writeTokens(c.tokens.length > 0 ? c.tokens[0] : new StaticArray<u32>(0), w);
  } else {
    w.byte(0x5b);
    for (let i = 0; i < c.tokens.length; i++) {
      if (i > 0) w.byte(0x2c);
      writeTokens(c.tokens[i], w);
    }
    w.byte(0x5d);
  }
  o.str("cache_salt", c.cacheSalt);
  o.end();
}

function writeTokens(t: StaticArray<u32>, w: ByteWriter): void {
  w.byte(0x5b);
  for (let i = 0; i < t.length; i++) {
    if (i > 0) w.byte(0x2c);
    w.str(t[i].toString());
  }
  w.byte(0x5d);
}

function chatJson(c: ChatCompletionsBody, out: ByteWriter): void {
  const o = new ObjectWriter(out);
  const w = o.key("messages");
  w.byte(0x5b);
  for (let i = 0; i < c.messages.length; i++) {
    if (i > 0) w.byte(0x2c);
    messageJson(c.messages[i], w);
  }
  w.byte(0x5d);
  o.raw("tools", c.tools);
  o.raw("documents", c.documents);
  o.str("chat_template", c.chatTemplate);
  o.raw("chat_template_kwargs", c.chatTemplateKwargs);
  o.optBool("return_assistant_tokens_mask", c.returnAssistantTokensMask);
  o.optBool("continue_final_message", c.continueFinalMessage);
  o.optBool("add_generation_prompt", c.addGenerationPrompt);
  o.str("cache_salt", c.cacheSalt);
  o.end();
}

function messageJson(m: Message, out: ByteWriter): void {
  const o = new ObjectWriter(out);
  o.str("role", m.role);
  if (m.contentKind == ContentKind.Null) {
    o.key("content").str("null");
  } else if (m.contentKind == ContentKind.Text) {
    o.str("content", m.text);
  } else if (m.contentKind == ContentKind.Parts) {
    const w = o.key("content");
    w.byte(0x5b);
    for (let j = 0; j < m.parts.length; j++) {
      if (j > 0) w.byte(0x2c);
      writeCompactJson(m.parts[j].raw.bytes, w);
    }
    w.byte(0x5d);
  }
  o.str("name", m.name);
  o.raw("tool_calls", m.toolCalls);
  o.str("tool_call_id", m.toolCallId);
  o.end();
}

function responsesJson(r: ResponsesBody, out: ByteWriter): void {
  const o = new ObjectWriter(out);
  if (r.inputText != null) {
    o.str("input", r.inputText);
  } else {
    const w = o.key("input");
    w.byte(0x5b);
    for (let i = 0; i < r.inputItems.length; i++) {
      if (i > 0) w.byte(0x2c);
      writeCompactJson(r.inputItems[i].bytes, w);
    }
    w.byte(0x5d);
  }
  o.str("instructions", r.instructions);
  o.raw("tools", r.tools);
  o.str("previous_response_id", r.previousResponseId);
  o.str("cache_salt", r.cacheSalt);
  o.end();
}

/**
 * The OpenAI error body:
 * {"error":{"message":...,"type":"invalid_request_error","param":...,"code":...}}
 * (param null when empty; type per errorTypeOf).
 */
export function errorJson(err: RequestError, out: ByteWriter): void {
  out.str('{"error":');
  errorObjectJson(err, out);
  out.byte(0x7d);
}

/**
 * OpenAI's error `type` for a status: client mistakes (400, 413) are
 * invalid_request_error; shedding under load (429) is a rate-limit error and
 * an empty pool (503) a server error, so clients retry those and not the first.
 */
function errorTypeOf(status: i32): string {
  if (status == 429) return '"rate_limit_error"';
  if (status >= 500) return '"server_error"';
  return '"invalid_request_error"';
}

/** The inner {"message":...,"type":...,"param":...,"code":...} object. */
export function errorObjectJson(err: RequestError, out: ByteWriter): void {
  const o = new ObjectWriter(out);
  writeJsonString(o.key("message"), utf8(err.message));
  o.key("type").str(errorTypeOf(err.status));
  if (err.param.length > 0) writeJsonString(o.key("param"), utf8(err.param));
  else o.key("param").str("null");
  writeJsonString(o.key("code"), utf8(err.code));
  o.end();
}
