// The body parser's dispatcher: OpenAI-style request bytes → ParsedBody, or
// a RequestError. One pass over the bytes with JsonScanner; no UTF-16
// conversion of the body; text values are views into the body when they
// have no escapes. Top-level fields are read here; `prompt`, `messages` and
// `input` by completions.ts, chat.ts and responses.ts.
//
// ## Rules
// - The body must be one valid JSON object (strict RFC 8259, assembly/json),
//   else 400 invalid_json (not JSON) or invalid_type (JSON but not an object).
// - `model` must be present (missing_field) and a string (invalid_type);
//   checked before anything else, as the upstream endpoint picker does.
//   "" is accepted (so does the upstream picker).
// - Keys match exactly (case-sensitive), as OpenAI and vLLM do. The upstream
//   picker's Go decoding matches `Messages`/`PROMPT` case-insensitively: a
//   deliberate difference (test/scenarios/requests.ts marks those rows).
// - Duplicate keys: the last occurrence wins, for every field (Go, JS and
//   Python do the same), so the filter interprets what vLLM will read.
//   `modelSpan` is the span of the last `model`.
// - `null` for an optional field means absent (clients send it).
// - Only the fields of the detected API count: a malformed `messages` in a
//   /v1/completions request is not an error (it is forwarded as sent).
// - When several fields are wrong, the one earliest in the body is reported;
//   type errors come before missing/empty checks (as upstream: "invalid
//   request format" before "must have at least one message").
// - API by shape (api == API_BY_SHAPE), the upstream picker's rule extended:
//   a valid non-empty `prompt` (string, or, unlike upstream, an array)
//   → completions; else `messages` present → chat; else `input` present →
//   responses (not upstream); else chat, which then fails with
//   missing_field `messages` (upstream's "must have at least one message").
//
// ## Errors (RequestError.code)
//   invalid_json   body is not valid JSON (message gives reason and byte offset)
//   invalid_type   a field (or the body) has the wrong JSON type; param = its path
//   missing_field  a required field is absent or null (model, prompt,
//                  messages, input, a content part's type / text)
//   empty_field    prompt/messages/input is "" or [] (or a token list is [])
//   invalid_value  a token id that is not an integer in 0..2^32-1
//   body_too_large 413, built by bodyTooLargeError() (checked by the caller)
import { JsonKind, jsonKindName } from "../json/kinds";
import { API_BY_SHAPE } from "./api";
import { BodyParser, OPT_BOOL_ERROR } from "./body_parser";
import { readMessages } from "./chat";
import { readPrompt } from "./completions";
import { emptyError, FieldError, invalidJsonError, missingError, resultOf, typeError } from "./errors";
import { F_AGP, F_CACHE_SALT, F_CFM, F_CHAT_TEMPLATE, F_COUNT, F_DOCUMENTS, F_INPUT, F_INSTRUCTIONS, F_KWARGS, F_MAX_COMPLETION_TOKENS, F_MAX_OUTPUT_TOKENS, F_MAX_TOKENS, F_MESSAGES, F_MODEL, F_PREV_ID, F_PROMPT, F_RATM, F_STREAM, F_TOOLS, RELEVANT_CHAT, RELEVANT_COMPLETIONS, RELEVANT_RESPONSES, fieldId, fieldName } from "./fields";
import { parseU32 } from "../json/tokens";
import { readInput } from "./responses";
import { Api, OptBool, ParseResult, RequestError, Span } from "./types";

/** Parses the top-level object; false on invalid JSON (sc.failed). */
function readTopLevel(bp: BodyParser): bool {
  const sc = bp.sc;
  if (!sc.beginObject()) return false;
  while (sc.nextKey()) {
    const id = fieldId(sc);
    if (id < 0) {
      if (!sc.skipValue()) return false;
      continue;
    }
    const start = sc.pos;
    const depth = sc.depth;
    bp.pending = null;
    bp.seen[id] = true; // a field parser resets it for `null` (= absent)
    const ok = readField(bp, id);
    if (sc.failed) return false;
    if (ok) {
      bp.errs[id] = null;
      continue;
    }
    const err = bp.pending;
    bp.errs[id] = new FieldError(start, err != null ? err : typeError(fieldName(id), "a valid value", JsonKind.Invalid));
    // Resynchronise: skip the whole value from its start (only on errors).
    sc.seek(start, depth);
    if (!sc.skipValue()) return false;
  }
  return !sc.failed && sc.finish();
}

function readField(bp: BodyParser, id: i32): bool {
  const sc = bp.sc;
  switch (id) {
    case F_MODEL: {
      const k = sc.peek();
      if (k != JsonKind.String) return bp.fail(typeError("model", "a string", k));
      const s = sc.readString();
      if (s == null) return false;
      bp.out.model = s;
      bp.out.modelSpan = new Span(sc.valueStart, sc.valueEnd);
      bp.modelSeen = true;
      return true;
    }
    case F_STREAM: {
      const b = bp.optBool("stream");
      bp.out.stream = b == OptBool.True;
      return b != OPT_BOOL_ERROR;
    }
    case F_PROMPT: return readPrompt(bp);
    case F_MESSAGES: return readMessages(bp);
    case F_TOOLS:
      if (!bp.optRaw("tools", JsonKind.Array)) return false;
      bp.tools = bp.raw;
      return true;
    case F_DOCUMENTS:
      if (!bp.optRaw("documents", JsonKind.Array)) return false;
      bp.chat.documents = bp.raw;
      return true;
    case F_KWARGS:
      if (!bp.optRaw("chat_template_kwargs", JsonKind.Object)) return false;
      bp.chat.chatTemplateKwargs = bp.raw;
      return true;
    case F_CHAT_TEMPLATE:
      if (!bp.optString("chat_template")) return false;
      bp.chat.chatTemplate = bp.str;
      return true;
    case F_RATM: {
      const b = bp.optBool("return_assistant_tokens_mask");
      bp.chat.returnAssistantTokensMask = b;
      return b != OPT_BOOL_ERROR;
    }
    case F_CFM: {
      const b = bp.optBool("continue_final_message");
      bp.chat.continueFinalMessage = b;
      return b != OPT_BOOL_ERROR;
    }
    case F_AGP: {
      const b = bp.optBool("add_generation_prompt");
      bp.chat.addGenerationPrompt = b;
      return b != OPT_BOOL_ERROR;
    }
    case F_CACHE_SALT:
      if (!bp.optString("cache_salt")) return false;
      bp.cacheSalt = bp.str;
      return true;
    case F_INPUT: return readInput(bp);
    case F_MAX_TOKENS:
    case F_MAX_COMPLETION_TOKENS:
    case F_MAX_OUTPUT_TOKENS:
      return readOutputTokens(bp, id);
    case F_INSTRUCTIONS:
      if (!bp.optString("instructions")) return false;
      bp.resp.instructions = bp.str;
      return true;
    case F_PREV_ID:
      if (!bp.optString("previous_response_id")) return false;
      bp.resp.previousResponseId = bp.str;
      return true;
  }
  return bp.sc.skipValue();
}

/**
 * A limit on output tokens, kept as a hint (BodyParser.maxTokens and its
 * two siblings): a positive integer that fits in i32, else 0 (not known).
 * Never an error: the picker only estimates with it, and the model server
 * judges it.
 */
function readOutputTokens(bp: BodyParser, id: i32): bool {
  const sc = bp.sc;
  let n: i64 = 0;
  if (sc.peek() == JsonKind.Number) {
    if (!sc.readNumber()) return false;
    n = parseU32(sc.valueBytes());
  } else if (!sc.skipValue()) return false;
  const tokens = n > 0 && n <= <i64>i32.MAX_VALUE ? <i32>n : 0;
  if (id == F_MAX_TOKENS) bp.maxTokens = tokens;
  else if (id == F_MAX_COMPLETION_TOKENS) bp.maxCompletionTokens = tokens;
  else bp.maxOutputTokens = tokens;
  return true;
}

/** The output tokens the request asks for at most, by its API's field (0: not given): chat's max_completion_tokens before its max_tokens, as vLLM reads them. */
function outputTokensAsked(bp: BodyParser, api: Api): i32 {
  if (api == Api.Responses) return bp.maxOutputTokens;
  if (api == Api.ChatCompletions && bp.maxCompletionTokens > 0) return bp.maxCompletionTokens;
  return bp.maxTokens;
}

function resolveApi(bp: BodyParser, api: i32): Api {
  if (api != API_BY_SHAPE) return <Api>api;
  if (bp.seen[F_PROMPT] && bp.errs[F_PROMPT] == null && !bp.promptEmpty) return Api.Completions;
  if (bp.seen[F_MESSAGES]) return Api.ChatCompletions;
  if (bp.seen[F_INPUT]) return Api.Responses;
  return Api.ChatCompletions;
}

/** The first (by body position) type error among the fields that matter. */
function firstError(bp: BodyParser, relevant: u32): RequestError | null {
  let best: FieldError | null = null;
  for (let id = 0; id < F_COUNT; id++) {
    if ((relevant & (1 << id)) == 0) continue;
    const e = bp.errs[id];
    if (e != null && (best == null || e.pos < best.pos)) best = e;
  }
  return best != null ? best.error : null;
}

function finishFor(bp: BodyParser, api: Api): ParseResult {
  const relevant = api == Api.Completions ? RELEVANT_COMPLETIONS : api == Api.Responses ? RELEVANT_RESPONSES : RELEVANT_CHAT;
  const err = firstError(bp, relevant);
  if (err != null) return resultOf(err);
  const body = bp.out.body;
  body.api = api;
  bp.out.maxTokens = outputTokensAsked(bp, api);
  if (api == Api.Completions) {
    if (!bp.seen[F_PROMPT]) return resultOf(missingError("prompt"));
    if (bp.promptEmpty) return resultOf(emptyError("prompt", "the prompt"));
    bp.comp.cacheSalt = bp.cacheSalt;
    body.completions = bp.comp;
  } else if (api == Api.ChatCompletions) {
    if (!bp.seen[F_MESSAGES]) return resultOf(missingError("messages"));
    if (bp.messagesEmpty) return resultOf(emptyError("messages", "the messages array"));
    bp.chat.tools = bp.tools;
    bp.chat.cacheSalt = bp.cacheSalt;
    body.chat = bp.chat;
  } else {
    if (!bp.seen[F_INPUT]) return resultOf(missingError("input"));
    if (bp.inputEmpty) return resultOf(emptyError("input", "the input"));
    bp.resp.tools = bp.tools;
    bp.resp.cacheSalt = bp.cacheSalt;
    body.responses = bp.resp;
  }
  return ParseResult.ok(bp.out);
}

/**
 * Parses a request body for `api` (an Api value, or API_BY_SHAPE; never
 * API_NOT_INFERENCE, which the caller passes through unparsed).
 * Never traps; every outcome is a ParsedBody or a 400 RequestError.
 * `trustedEnd`: the body's first bytes are those of a body that parsed
 * (validated_prefixes.ts); long strings before it are not checked again.
 */
export function parseBody(body: Uint8Array, api: i32, trustedEnd: i32 = 0): ParseResult {
  const p = new BodyParser(body);
  const sc = p.sc;
  sc.trustedEnd = trustedEnd;
  const k = sc.peek();
  if (k == JsonKind.Invalid) return resultOf(invalidJsonError(sc));
  if (k != JsonKind.Object) {
    // Valid JSON that is not an object, or not JSON at all?
    if (!sc.skipValue() || !sc.finish()) return resultOf(invalidJsonError(sc));
    return resultOf(new RequestError(400, "Invalid request body: expected a JSON object, but got " + jsonKindName(k) + " instead.", "", "invalid_type"));
  }
  if (!readTopLevel(p)) return resultOf(invalidJsonError(sc));
  // The model is checked first, as upstream ("model not found" before anything else).
  const modelErr = p.errs[F_MODEL];
  if (modelErr != null) return resultOf(modelErr.error);
  if (!p.modelSeen) return resultOf(missingError("model"));
  return finishFor(p, resolveApi(p, api));
}
