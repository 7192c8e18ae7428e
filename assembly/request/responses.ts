// /v1/responses: `input` as a string or an array of input items (kept as
// raw JSON); `instructions` and `previous_response_id` are read by the
// dispatcher.
import { JsonKind } from "../json/kinds";
import { BodyParser } from "./body_parser";
import { MAX_ELEMENTS, tooManyError, typeError } from "./errors";
import { F_INPUT } from "./fields";
import { RawJson } from "./types";

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
    if (!sc.skipValue()) return false;
    bp.resp.inputItems.push(new RawJson(sc.valueBytes()));
    i++;
  }
  if (sc.failed) return false;
  bp.inputEmpty = i == 0;
  return true;
}
