// From a parsed body and the request headers to the LLMRequest the picker
// scores, and the body rewrite the model-rewrite header asks for.
import { writeJsonString } from "../json/writer";
import { ByteWriter, utf8 } from "../util/bytes";
import { CONTROL_HEADERS, HEADER_MODEL_REWRITE, HEADER_REQUEST_ID } from "./headers";
import { Header, LLMRequest, ParsedBody, Span } from "./types";

/**
 * The body with its `model` value replaced by `newModel` (JSON-escaped);
 * every other byte is unchanged, so what the server reads is what the
 * client sent except the model. `modelSpan` is
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

/** The body to forward: unchanged unless x-gateway-model-name-rewrite asks for another model. */
export function forwardedBody(body: Uint8Array, p: ParsedBody, headers: Array<Header>, req: LLMRequest): Uint8Array | null {
  for (let i = 0; i < headers.length; i++) {
    const h = unchecked(headers[i]);
    if (h.name == HEADER_MODEL_REWRITE && h.value.length > 0) return rewriteModel(body, p.modelSpan, req.targetModel);
  }
  return null;
}
