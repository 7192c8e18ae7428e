// /v1/responses: `input` as a string or an array of input items (kept as
// raw JSON, each marked as the model's output or not); `instructions` and
// `previous_response_id` are read by the dispatcher.
import { JsonKind } from "../json/kinds";
import { BodyParser } from "./body_parser";
import { MAX_ELEMENTS, tooManyError, typeError } from "./errors";
import { F_INPUT } from "./fields";
import { InputItem } from "./types";

export function readInput(bp: BodyParser): bool {
  const sc = bp.sc;
  bp.resp.inputText = null;
  bp.resp.inputItems = [];
  bp.inputEmpty = false;
  const k = sc.peek();
  if (k == JsonKind.String) {
    const s = sc.readString();
    if (s == null) return false;
    bp.resp.inputText = s;
    bp.inputEmpty = s.length == 0;
    return true;
  }
  if (k == JsonKind.Null) {
    if (!sc.readNull()) return false;
    bp.seen[F_INPUT] = false;
    return true;
  }
  if (k != JsonKind.Array) return bp.fail(typeError("input", "a string or an array of input items", k));
  sc.beginArray();
  let i = 0;
  while (sc.nextItem()) {
    const ik = sc.peek();
    if (ik != JsonKind.Object) return bp.fail(typeError("input[" + i.toString() + "]", "an input item object", ik));
    if (++bp.elements > MAX_ELEMENTS) return bp.fail(tooManyError("input[" + i.toString() + "]"));
    if (!readItem(bp)) return false;
    i++;
  }
  if (sc.failed) return false;
  bp.inputEmpty = i == 0;
  return true;
}

/**
 * One input item (an object), kept as sent; its top-level `role` and `type`
 * say whether the model produced it: role "assistant", type "reasoning", or
 * a type ending in "_call" (function_call, custom_tool_call, web_search_call,
 * …; their results are "…_call_output"). Values other than strings are
 * skipped here and left to the server to judge.
 */
function readItem(bp: BodyParser): bool {
  const sc = bp.sc;
  if (!sc.beginObject()) return false;
  const start = sc.valueStart;
  let output = false;
  while (sc.nextKey()) {
    if ((sc.keyIs("role") || sc.keyIs("type")) && sc.peek() == JsonKind.String) {
      if (!sc.readStringRaw()) return false;
      if (sc.stringIs("assistant") || sc.stringIs("reasoning") || sc.stringEndsWith("_call")) output = true;
    } else if (!sc.skipValue()) {
      return false;
    }
  }
  if (sc.failed) return false;
  bp.resp.inputItems.push(new InputItem(sc.bytes.subarray(start, sc.pos), output));
  return true;
}
