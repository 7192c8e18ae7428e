// Unit-test entry for assembly/request and assembly/runtime (built to
// build/units-request.wasm, loaded by test/unit through test/unit/units.ts).
// Exports thin wrappers over the pure functions of these folders; never
// imported by the filter.
import { ByteWriter } from "../util/bytes";
import { API_NOT_INFERENCE, detectApi } from "./api";
import { canonicalJson } from "../json/canonical";
import { errorObjectJson, requestJson } from "./output";
import { bodyTooLargeError } from "./errors";
import { rewriteModel, toLLMRequest } from "./llm_request";
import { parseBody } from "./parse";
import { ValidatedPrefixes } from "./validated_prefixes";
import { Header } from "./types";
import { FirstTokenScanner } from "./first_token";
import { ResponseIdScanner, responseIdInPath } from "./response_id";
import { DEFAULT_MAX_DEPTH, JsonKind, jsonKindName } from "../json/kinds";
import { JsonReader } from "../json/reader";
import { JsonScanner } from "../json/scanner";
import { blockEscaped, scanStringBlocks } from "../json/string_blocks";

export function selfCheck(input: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  w.bytes(input);
  return w.toBytes();
}

// ---- json.ts -------------------------------------------------------------

/** Validates a document: "" when valid, else "<JsonError code>@<byte>". */
export function jsonValidate(input: Uint8Array, maxDepth: i32 = DEFAULT_MAX_DEPTH): string {
  const sc = new JsonScanner(input, maxDepth);
  sc.skipValue();
  sc.finish();
  if (!sc.failed) return "";
  return (<i32>sc.error).toString() + "@" + sc.errorPos.toString();
}

/**
 * The 64-byte block path alone on a string token at byte 0 of `input`:
 * "<closing quote>" or "<closing quote> escaped" when it found the end,
 * "~<q>" when the byte loop must go on from q.
 */
export function jsonStringBlocks(input: Uint8Array): string {
  const r = scanStringBlocks(input.dataStart, 1, input.length);
  if (r < 0) return "~" + (~r).toString() + (blockEscaped ? " escaped" : "");
  return r.toString() + (blockEscaped ? " escaped" : "");
}

/** Decodes a top-level JSON string; null if the document is not exactly one valid string. */
export function jsonDecodeString(input: Uint8Array): Uint8Array | null {
  const sc = new JsonScanner(input);
  if (sc.peek() != JsonKind.String) return null;
  const s = sc.readString();
  if (s == null || !sc.finish()) return null;
  return s.slice(0);
}

/** Canonical form, or null if not valid JSON. */
export function jsonCanonical(input: Uint8Array, maxDepth: i32 = DEFAULT_MAX_DEPTH): Uint8Array | null {
  const w = new ByteWriter();
  if (!canonicalJson(input, w, maxDepth)) return null;
  return w.toBytes();
}

/**
 * Walks any document with JsonReader and lists every scalar as
 * "<path>=<kind>:<text>\n" (strings decoded, numbers as f64), or "ERR <error>".
 * Exercises key/item iteration, typed reads and paths.
 */
export function jsonReaderWalk(input: Uint8Array): string {
  const r = new JsonReader(input);
  const out: Array<string> = [];
  walk(r, out);
  r.end();
  if (!r.ok) return "ERR " + r.error;
  return out.join("");
}

function walk(r: JsonReader, out: Array<string>): void {
  const k = r.kind();
  if (k == JsonKind.Object) {
    if (!r.object()) return;
    while (r.key() != null) walk(r, out);
  } else if (k == JsonKind.Array) {
    if (!r.array()) return;
    while (r.item()) walk(r, out);
  } else if (k == JsonKind.String) {
    const s = r.string();
    if (s != null) out.push(r.path() + "=string:" + s + "\n");
  } else if (k == JsonKind.Number) {
    const v = r.number();
    if (r.ok) out.push(r.path() + "=number:" + v.toString() + "\n");
  } else if (k == JsonKind.True || k == JsonKind.False) {
    const b = r.bool();
    if (r.ok) out.push(r.path() + "=bool:" + (b ? "true" : "false") + "\n");
  } else if (k == JsonKind.Null) {
    r.isNull();
    out.push(r.path() + "=null\n");
  }
}

/** JsonReader typed-read error: reads key `field` of a top-level object as `want` ("string"|"number"|"bool"|"int"). */
export function jsonReaderExpect(input: Uint8Array, field: string, want: string): string {
  const r = new JsonReader(input);
  if (r.object()) {
    let k: string | null;
    while ((k = r.key()) != null) {
      if (k != field) {
        r.skip();
        continue;
      }
      if (want == "string") r.string();
      else if (want == "number") r.number();
      else if (want == "bool") r.bool();
      else if (want == "int") r.int(0, 100);
      if (!r.ok) break;
    }
  }
  r.end();
  return r.ok ? "ok" : r.errorPath + "|" + r.error;
}

export function jsonKindNameOf(k: i32): string {
  return jsonKindName(<JsonKind>k);
}

// ---- api.ts --------------------------------------------------------------

export function apiOf(method: string, path: string): i32 {
  return detectApi(method, path);
}

// ---- parse.ts + output.ts --------------------------------------------------

/** "k: v" lines → lower-case headers. */
function headersOf(flat: string): Array<Header> {
  const out: Array<Header> = [];
  const lines = flat.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const c = line.indexOf(":", 1); // from 1: pseudo-headers start with ':'
    if (c < 0) continue;
    out.push(new Header(line.substring(0, c).trim().toLowerCase(), line.substring(c + 1).trim()));
  }
  return out;
}

/**
 * The CLI decision line for one request (README "Inspect a decision"), computed by the
 * pure functions alone: pass / reject / route. `headers` is "name: value"
 * lines; a missing x-request-id becomes "generated-id". `bodyLimit` > 0
 * rejects larger bodies with 413 before parsing; the first `trustedEnd`
 * bytes are not checked again (validated_prefixes.ts).
 */
export function decide(method: string, path: string, headers: string, body: Uint8Array, bodyLimit: i32, trustedEnd: i32 = 0): string {
  const api = detectApi(method, path);
  if (api == API_NOT_INFERENCE) return '{"decision":"pass"}';
  const w = new ByteWriter();
  if (bodyLimit > 0 && body.length > bodyLimit) {
    const e = bodyTooLargeError(bodyLimit);
    w.str('{"decision":"reject","status":' + e.status.toString() + ',"error":');
    errorObjectJson(e, w);
    w.byte(0x7d);
    return String.UTF8.decodeUnsafe(w.view().dataStart, <usize>w.length);
  }
  const r = parseBody(body, api, trustedEnd);
  if (r.error != null) {
    const e = r.error!;
    w.str('{"decision":"reject","status":' + e.status.toString() + ',"error":');
    errorObjectJson(e, w);
    w.byte(0x7d);
  } else {
    const req = toLLMRequest(r.parsed!, headersOf(headers), "generated-id");
    w.str('{"decision":"route","request":');
    requestJson(req, w);
    w.byte(0x7d);
  }
  return String.UTF8.decodeUnsafe(w.view().dataStart, <usize>w.length);
}

/** Body after a model rewrite, or null when the body does not parse. */
export function rewrite(body: Uint8Array, api: i32, newModel: string): Uint8Array | null {
  const r = parseBody(body, api);
  if (r.parsed == null) return null;
  return rewriteModel(body, r.parsed!.modelSpan, newModel);
}

/** Parses `body` `times` times (benchmark hook); returns the number of parses that succeeded. */
export function parseRepeat(body: Uint8Array, api: i32, times: i32): i32 {
  let ok = 0;
  for (let i = 0; i < times; i++) {
    if (parseBody(body, api).parsed != null) ok++;
  }
  return ok;
}

/**
 * The whole outcome: "" on success, else "<status> <code> <param> <message>",
 * with the first `trustedEnd` bytes not checked again (as the filter parses
 * a body that begins as one that parsed: validated_prefixes.ts).
 */
export function parseOutcome(body: Uint8Array, api: i32, trustedEnd: i32): string {
  const r = parseBody(body, api, trustedEnd);
  if (r.error == null) return "";
  const e = r.error!;
  return e.status.toString() + " " + e.code + " " + e.param + " " + e.message;
}

// ---- the starts of bodies that parsed (validated_prefixes.ts) ----

let prefixes = new ValidatedPrefixes(0);

export function prefixesReset(seed: u64): void {
  prefixes = new ValidatedPrefixes(seed);
}

export function prefixesTrusted(body: Uint8Array): i32 {
  return prefixes.trustedPrefix(body);
}

export function prefixesRemember(body: Uint8Array): void {
  prefixes.remember(body);
}

/** Parse outcome only: "" on success, else "<status> <code> <param>". */
export function parseStatus(body: Uint8Array, api: i32): string {
  const r = parseBody(body, api);
  if (r.error == null) return "";
  const e = r.error!;
  return e.status.toString() + " " + e.code + " " + e.param;
}

/** 1 when the body parses with stream: true, 0 when it parses otherwise, -1 on error. */
export function streamOf(body: Uint8Array, api: i32): i32 {
  const r = parseBody(body, api);
  if (r.parsed == null) return -1;
  return r.parsed!.stream ? 1 : 0;
}

/** The output tokens the body asks for at most (ParsedBody.maxTokens), -1 on error. */
export function maxTokensOf(body: Uint8Array, api: i32): i32 {
  const r = parseBody(body, api);
  if (r.parsed == null) return -1;
  return r.parsed!.maxTokens;
}

// ---- first_token.ts ------------------------------------------------------

/**
 * Feeds `bytes` to a FirstTokenScanner for `api` in chunks of the given
 * lengths (the rest as a last chunk): the index of the chunk at which the
 * first token is seen, or -1.
 */
export function firstTokenChunk(api: i32, bytes: Uint8Array, chunks: Int32Array): i32 {
  const scanner = new FirstTokenScanner(api);
  let at = 0;
  for (let k = 0; k <= chunks.length; k++) {
    const len = k < chunks.length ? min(max(unchecked(chunks[k]), 0), bytes.length - at) : bytes.length - at;
    if (scanner.seen(bytes.subarray(at, at + len))) return k;
    at += len;
  }
  return -1;
}

// ---- response_id.ts ------------------------------------------------------

/**
 * Feeds `bytes` to a ResponseIdScanner in chunks of the given lengths (the
 * rest as a last chunk): the id it found, or null. Stops feeding once the
 * scanner is done, as the filter does.
 */
export function responseIdOf(bytes: Uint8Array, chunks: Int32Array): Uint8Array | null {
  const scanner = new ResponseIdScanner();
  let at = 0;
  for (let k = 0; k <= chunks.length && !scanner.done; k++) {
    const len = k < chunks.length ? min(max(unchecked(chunks[k]), 0), bytes.length - at) : bytes.length - at;
    scanner.feed(bytes.subarray(at, at + len));
    at += len;
  }
  return scanner.id;
}

/** The response id a request path names (null: none). */
export function responseIdOfPath(path: string): Uint8Array | null {
  return responseIdInPath(path);
}

// ---- the runtime's allocator (assembly/runtime/block_cache.ts) ----
// Raw blocks, not managed objects: the collector never sees them.

export function runtimeAlloc(size: u32): u32 {
  return <u32>__alloc(<usize>size);
}

export function runtimeFree(ptr: u32): void {
  __free(<usize>ptr);
}

export function runtimeRealloc(ptr: u32, size: u32): u32 {
  return <u32>__realloc(<usize>ptr, <usize>size);
}

/** The block's size as the allocator recorded it in its header. */
export function runtimeBlockSize(ptr: u32): u32 {
  return load<u32>(<usize>ptr - 4) & ~3;
}

export function runtimeCachedBytes(): u32 {
  return <u32>cachedBlockBytes();
}

