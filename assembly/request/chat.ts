// /v1/chat/completions: `messages`, each with role, content (a string, null
// or content parts), name, tool_calls and tool_call_id.
import { JsonKind } from "../json/kinds";
import { asciiEquals } from "../json/strings";
import { utf8 } from "../util/bytes";
import { BodyParser } from "./body_parser";
import { missingError, MAX_ELEMENTS, msgPath, partPath, tooManyError, typeError } from "./errors";
import { F_MESSAGES } from "./fields";
import { ContentKind, ContentPart, Message, NO_PARTS, PartType, RawJson } from "./types";

export function readMessages(bp: BodyParser): bool {
  const sc = bp.sc;
  bp.chat.messages = [];
  bp.messagesEmpty = false;
  const k = sc.peek();
  if (k == JsonKind.Null) {
    if (!sc.readNull()) return false;
    bp.seen[F_MESSAGES] = false;
    return true;
  }
  if (k != JsonKind.Array) return bp.fail(typeError("messages", "an array of message objects", k));
  sc.beginArray();
  bp.chat.source = sc.bytes;
  let i = 0;
  while (sc.nextItem()) {
    if (++bp.elements > MAX_ELEMENTS) return bp.fail(tooManyError("messages[" + i.toString() + "]"));
    if (!readMessage(bp, i)) return false;
    i++;
  }
  if (sc.failed) return false;
  bp.messagesEmpty = i == 0;
  return true;
}

function readMessage(bp: BodyParser, i: i32): bool {
  const sc = bp.sc;
  const k = sc.peek();
  if (k != JsonKind.Object) return bp.fail(typeError("messages[" + i.toString() + "]", "a message object", k));
  sc.beginObject();
  const m = new Message();
  m.rawStart = sc.valueStart;
  while (sc.nextKey()) {
    if (sc.keyIs("role")) {
      if (!readRole(bp, m, i)) return false;
    } else if (sc.keyIs("content")) {
      if (!readContent(bp, m, i)) return false;
    } else if (sc.keyIs("name")) {
      if (!bp.optString("name", i)) return false;
      m.name = bp.str;
    } else if (sc.keyIs("tool_calls")) {
      if (!bp.optRaw("tool_calls", JsonKind.Array, i)) return false;
      m.toolCalls = bp.raw;
    } else if (sc.keyIs("tool_call_id")) {
      if (!bp.optString("tool_call_id", i)) return false;
      m.toolCallId = bp.str;
    } else if (!sc.skipValue()) {
      return false;
    }
  }
  if (sc.failed) return false;
  m.rawEnd = sc.pos;
  bp.chat.messages.push(m);
  return true;
}

/** The role; the common ones are shared constants (one allocation less per message). */
function readRole(bp: BodyParser, m: Message, i: i32): bool {
  const sc = bp.sc;
  if (sc.peek() != JsonKind.String) {
    if (!bp.optString("role", i)) return false;
    m.role = bp.str;
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

function readContent(bp: BodyParser, m: Message, i: i32): bool {
  const sc = bp.sc;
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
    return bp.fail(typeError(msgPath(i, "content"), "a string, an array of content parts or null", k));
  }
  m.contentKind = ContentKind.Parts;
  m.parts = new Array<ContentPart>();
  sc.beginArray();
  let j = 0;
  while (sc.nextItem()) {
    if (++bp.elements > MAX_ELEMENTS) return bp.fail(tooManyError(partPath(i, j, "")));
    if (!readPart(bp, m, i, j)) return false;
    j++;
  }
  return !sc.failed;
}

function readPart(bp: BodyParser, m: Message, i: i32, j: i32): bool {
  const sc = bp.sc;
  const k = sc.peek();
  if (k != JsonKind.Object) return bp.fail(typeError(partPath(i, j, ""), "a content part object", k));
  const start = sc.pos;
  sc.beginObject();
  const p = new ContentPart();
  let typeSeen = false;
  let textKind = JsonKind.Invalid; // kind of the `text` value, Invalid = absent
  while (sc.nextKey()) {
    if (sc.keyIs("type")) {
      const tk = sc.peek();
      if (tk != JsonKind.String) return bp.fail(typeError(partPath(i, j, "type"), "a string", tk));
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
  if (!typeSeen) return bp.fail(missingError(partPath(i, j, "type")));
  p.type = partTypeOf(p.typeName);
  if (p.type == PartType.Text) {
    if (textKind == JsonKind.Invalid || textKind == JsonKind.Null) return bp.fail(missingError(partPath(i, j, "text")));
    if (textKind != JsonKind.String) return bp.fail(typeError(partPath(i, j, "text"), "a string", textKind));
  } else {
    p.text = null; // only text parts carry text; the rest stays in `raw`
  }
  m.parts.push(p);
  return true;
}

function partTypeOf(name: Uint8Array): PartType {
  if (asciiEquals(name, "text")) return PartType.Text;
  if (asciiEquals(name, "image_url")) return PartType.ImageUrl;
  if (asciiEquals(name, "input_audio")) return PartType.InputAudio;
  if (asciiEquals(name, "video_url")) return PartType.VideoUrl;
  if (asciiEquals(name, "file")) return PartType.File;
  return PartType.Unknown;
}

// Interned roles (decoded bytes, like any other text value; never mutate).
const ROLE_USER = utf8("user");
const ROLE_ASSISTANT = utf8("assistant");
const ROLE_SYSTEM = utf8("system");
const ROLE_TOOL = utf8("tool");
const ROLE_DEVELOPER = utf8("developer");
