// Request headers the gateway protocol defines and the picker reads. The
// headers the filter itself sets or strips are in filter/headers.ts.

/** The client's request id; generated (and set upstream) when absent. */
export const HEADER_REQUEST_ID = "x-request-id";
/** Replaces the body's `model` (the body is rewritten to match). */
export const HEADER_MODEL_REWRITE = "x-gateway-model-name-rewrite";
/** An integer; negative means sheddable (may get 429 when every endpoint is saturated). */
export const HEADER_PRIORITY = "x-gateway-inference-priority";

/** Control headers the picker consumes: not part of the LLMRequest's headers. */
export const CONTROL_HEADERS: Array<string> = [
  "x-gateway-inference-fairness-id",
  "x-gateway-inference-objective",
  HEADER_MODEL_REWRITE,
];

/**
 * The request headers the picker reads: the filter decodes only these out
 * of the request's header map (every other header would be strings made
 * and dropped on each request).
 */
export const PICKER_HEADERS: Array<string> = [HEADER_REQUEST_ID, HEADER_MODEL_REWRITE, HEADER_PRIORITY];
