// The session key a fleet of Envoy replicas shards on (docs/fleet.md
// "Sharding"): XXH64 of the model and the canonical rendering of the request
// through its first user turn. Every turn of a conversation starts with the
// same context and first user message, so all its turns share the key, and
// two conversations differ as soon as their first user turns do, so
// sessions spread evenly even when they share one long system prompt.
//
//  - chat: request context (tools, documents, template) and the messages up
//    to and including the first with role "user";
//  - responses: instructions, tools and the first input item (or the input text);
//  - completions: no turns to go by: the first SESSION_COMPLETION_BYTES bytes
//    of the prompt (a later turn that extends the prompt keeps them once the
//    first prompt is that long).
// The rendering is bounded (SESSION_PREFIX_LIMIT, 1 MiB): far above a
// shared system prompt plus a question (the bound must never cut a first
// turn before the part that tells sessions apart, or every session behind
// one long system prompt would share a key and one replica), and a
// pathological first turn still costs a bounded copy and hash.
import { ByteWriter } from "../util/bytes";
import { Api, ChatCompletionsBody, InputItem, LLMRequest, RequestBody, ResponsesBody } from "../request/types";
import { BufferSink, Renderer } from "../hashing/render";
import { xxh64 } from "../hashing/xxhash64";

export const SESSION_PREFIX_LIMIT: i32 = 1 << 20;
export const SESSION_COMPLETION_BYTES: i32 = 256;

/** The part of a request body that is the same for every turn of its conversation. */
export function sessionPrefix(body: RequestBody): RequestBody {
  const out = new RequestBody();
  out.api = body.api;
  out.completions = body.completions;
  const chat = body.chat;
  if (chat !== null) out.chat = chatThroughFirstUser(chat);
  const responses = body.responses;
  if (responses !== null) out.responses = firstResponsesItem(responses);
  return out;
}

function isUser(role: Uint8Array | null): bool {
  if (role === null || role.length != 4) return false;
  return role[0] == 0x75 && role[1] == 0x73 && role[2] == 0x65 && role[3] == 0x72; // "user"
}

function chatThroughFirstUser(c: ChatCompletionsBody): ChatCompletionsBody {
  const out = new ChatCompletionsBody();
  out.tools = c.tools;
  out.documents = c.documents;
  out.chatTemplate = c.chatTemplate;
  out.chatTemplateKwargs = c.chatTemplateKwargs;
  let end = c.messages.length;
  for (let i = 0; i < c.messages.length; i++) {
    if (isUser(unchecked(c.messages[i]).role)) {
      end = i + 1;
      break;
    }
  }
  out.messages = c.messages.slice(0, end);
  return out;
}

function firstResponsesItem(r: ResponsesBody): ResponsesBody {
  const out = new ResponsesBody();
  out.instructions = r.instructions;
  out.tools = r.tools;
  out.inputText = r.inputText;
  out.inputItems = r.inputItems.length > 0 ? r.inputItems.slice(0, 1) : new Array<InputItem>();
  return out;
}

/** The session key of a parsed request (the model after any rewrite). */
export function sessionKey(req: LLMRequest): u64 {
  const w = new ByteWriter(1024);
  const model = String.UTF8.encode(req.targetModel);
  w.raw(changetype<usize>(model), model.byteLength);
  w.byte(0);
  w.byte(0);
  const limit = w.length + (req.body.api == Api.Completions ? SESSION_COMPLETION_BYTES : SESSION_PREFIX_LIMIT);
  new Renderer(new BufferSink(w, limit)).render(sessionPrefix(req.body));
  const v = w.view();
  return xxh64(v.dataStart, <usize>v.length, 0);
}
