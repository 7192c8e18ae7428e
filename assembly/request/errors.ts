// The OpenAI-style 400/413 errors the parser returns, and the JSON paths
// they name (`messages[2].content[0].text`).
import { JsonKind, jsonKindName } from "../json/kinds";
import { JsonScanner } from "../json/scanner";
import { ParseResult, RequestError } from "./types";

export function typeError(path: string, expected: string, got: JsonKind): RequestError {
  return new RequestError(
    400,
    "Invalid type for '" + path + "': expected " + expected + ", but got " + jsonKindName(got) + " instead.",
    path,
    "invalid_type",
  );
}

export function missingError(path: string): RequestError {
  return new RequestError(400, "Missing required parameter: '" + path + "'.", path, "missing_field");
}

export function emptyError(path: string, what: string): RequestError {
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

export function invalidJsonError(sc: JsonScanner): RequestError {
  return new RequestError(
    400,
    "We could not parse the JSON body of your request: " + sc.errorMessage() + ".",
    "",
    "invalid_json",
  );
}

export class FieldError {
  constructor(public pos: i32, public error: RequestError) {}
}

/**
 * Most messages, content parts, input items and prompt entries one body may
 * carry, in total. Each costs a few hundred bytes of VM memory (objects and
 * arrays), so without a bound a few MB of `[{},{},...]` grow the VM by
 * hundreds of MB, and Envoy's VM memory cap (1 GiB) turns that into an abort.
 * Real requests stay far below: long agent sessions reach a few thousand.
 */
export const MAX_ELEMENTS: i32 = 65536;

export function tooManyError(path: string): RequestError {
  return new RequestError(
    400,
    "Invalid '" + path + "': a request may carry at most " + MAX_ELEMENTS.toString() + " messages, content parts, input items and prompt entries in total.",
    path,
    "too_many_elements",
  );
}

export function fieldPath(name: string, msg: i32): string {
  return msg < 0 ? name : msgPath(msg, name);
}

export function msgPath(i: i32, field: string): string {
  return "messages[" + i.toString() + "]." + field;
}

export function partPath(i: i32, j: i32, field: string): string {
  const p = "messages[" + i.toString() + "].content[" + j.toString() + "]";
  return field.length > 0 ? p + "." + field : p;
}

export function resultOf(e: RequestError): ParseResult {
  const r = new ParseResult();
  r.error = e;
  return r;
}
