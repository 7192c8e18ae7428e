// /v1/completions: `prompt` as a string, an array of strings, an array of
// token ids, or an array of token-id arrays.
import { JsonKind } from "../json/kinds";
import { parseU32 } from "../json/tokens";
import { BodyParser } from "./body_parser";
import { emptyError, MAX_ELEMENTS, tooManyError, typeError } from "./errors";
import { F_PROMPT } from "./fields";
import { CompletionsBody, PromptKind, RequestError } from "./types";

export function readPrompt(bp: BodyParser): bool {
  const sc = bp.sc;
  const c = new CompletionsBody();
  bp.comp = c;
  bp.promptEmpty = false;
  const k = sc.peek();
  if (k == JsonKind.String) {
    const s = sc.readString();
    if (s == null) return false;
    c.promptKind = PromptKind.Text;
    c.texts.push(s);
    bp.promptEmpty = s.length == 0;
    return true;
  }
  if (k == JsonKind.Null) {
    // null = absent: the field counts as not sent.
    if (!sc.readNull()) return false;
    bp.seen[F_PROMPT] = false;
    return true;
  }
  if (k != JsonKind.Array) {
    return bp.fail(typeError("prompt", "a string, an array of strings, an array of token ids or an array of token-id arrays", k));
  }
  sc.beginArray();
  let i = 0;
  while (sc.nextItem()) {
    const ik = sc.peek();
    if (i == 0) {
      if (ik == JsonKind.String) c.promptKind = PromptKind.Texts;
      else if (ik == JsonKind.Number) c.promptKind = PromptKind.Tokens;
      else if (ik == JsonKind.Array) c.promptKind = PromptKind.TokenLists;
      else return bp.fail(typeError("prompt[0]", "a string, a token id or an array of token ids", ik));
    }
    const path = "prompt";
    if (c.promptKind != PromptKind.Tokens && ++bp.elements > MAX_ELEMENTS) return bp.fail(tooManyError(path + "[" + i.toString() + "]"));
    if (c.promptKind == PromptKind.Texts) {
      if (ik != JsonKind.String) return bp.fail(typeError(path + "[" + i.toString() + "]", "a string", ik));
      const s = sc.readString();
      if (s == null) return false;
      c.texts.push(s);
    } else if (c.promptKind == PromptKind.Tokens) {
      if (i == 0) bp.tokens.length = 0;
      if (!readTokenId(bp, i, -1)) return false;
    } else {
      if (ik != JsonKind.Array) return bp.fail(typeError(path + "[" + i.toString() + "]", "an array of token ids", ik));
      if (!readTokenList(bp, i)) return false;
    }
    i++;
  }
  if (sc.failed) return false;
  if (c.promptKind == PromptKind.Tokens) c.tokens.push(StaticArray.fromArray<u32>(bp.tokens));
  bp.promptEmpty = i == 0;
  return true;
}

/** One token id into bp.tokens; `outer` >= 0 when inside prompt[outer]. */
function readTokenId(bp: BodyParser, i: i32, outer: i32): bool {
  const sc = bp.sc;
  const k = sc.peek();
  if (k != JsonKind.Number) return bp.fail(typeError(tokenPath(i, outer), "a token id (integer)", k));
  if (!sc.readNumber()) return false;
  const v = parseU32(sc.valueBytes());
  if (v < 0) {
    const path = tokenPath(i, outer);
    return bp.fail(
      new RequestError(400, "Invalid value for '" + path + "': a token id must be an integer between 0 and 4294967295.", path, "invalid_value"),
    );
  }
  bp.tokens.push(<u32>v);
  return true;
}

function readTokenList(bp: BodyParser, outer: i32): bool {
  const sc = bp.sc;
  sc.beginArray();
  bp.tokens.length = 0;
  let i = 0;
  while (sc.nextItem()) {
    if (!readTokenId(bp, i, outer)) return false;
    i++;
  }
  if (sc.failed) return false;
  if (i == 0) return bp.fail(emptyError("prompt[" + outer.toString() + "]", "a token-id array"));
  bp.comp.tokens.push(StaticArray.fromArray<u32>(bp.tokens));
  return true;
}

function tokenPath(i: i32, outer: i32): string {
  return outer < 0 ? "prompt[" + i.toString() + "]" : "prompt[" + outer.toString() + "][" + i.toString() + "]";
}
