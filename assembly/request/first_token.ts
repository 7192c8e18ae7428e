// When a streamed answer's first token has come back, read from its body
// bytes as they arrive. The filter releases a request's queued prefill
// blocks then (docs/routing.md "The rule": queued), so an early answer makes
// the endpoint look less loaded than it is.
//
// Chat and completions streams send nothing before the first token: their
// first body byte is it. A /v1/responses stream opens with lifecycle events
// (`response.created`, `response.in_progress`, `response.queued`) that the
// server sends as soon as it accepts the request, before its prefill; the
// first token comes with the first other `response.*` event (an output item,
// a text or reasoning delta; or the end: completed, failed, incomplete).
// Event names can be split across body chunks, so the scanner keeps the
// last bytes of what it has seen.
import { Api } from "./types";

/** "response." */
const PREFIX: StaticArray<u8> = [0x72, 0x65, 0x73, 0x70, 0x6f, 0x6e, 0x73, 0x65, 0x2e];
/** Bytes kept between chunks: "response." and the longest lifecycle name, with room to spare. */
const CARRY_BYTES: i32 = 32;
/** Longest unfinished "response.<name>" kept whole for the next chunk. */
const MAX_HELD_NAME_BYTES: i32 = 128;

function isNameByte(c: u8): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x5f || c == 0x2e; // a-z 0-9 _ .
}

function prefixAt(b: Uint8Array, i: i32): bool {
  if (i + PREFIX.length > b.length) return false;
  for (let k = 0; k < PREFIX.length; k++) if (unchecked(b[i + k]) != unchecked(PREFIX[k])) return false;
  return true;
}

function nameIs(b: Uint8Array, start: i32, end: i32, name: string): bool {
  if (end - start != name.length) return false;
  for (let k = 0; k < name.length; k++) if (<u32>unchecked(b[start + k]) != <u32>name.charCodeAt(k)) return false;
  return true;
}

/** A lifecycle event: sent before the request is scheduled, so not its first token. */
function isLifecycle(b: Uint8Array, start: i32, end: i32): bool {
  return nameIs(b, start, end, "created") || nameIs(b, start, end, "in_progress") || nameIs(b, start, end, "queued");
}

export class FirstTokenScanner {
  private carry: Uint8Array = new Uint8Array(0);

  constructor(private api: i32) {}

  /** Whether a stream of `api` must be read to find its first token (otherwise its first byte is it). */
  static readsBody(api: i32): bool {
    return api == Api.Responses;
  }

  /** Whether the stream's first token has arrived once `chunk`, its next body bytes, is in. */
  seen(chunk: Uint8Array): bool {
    if (chunk.length == 0) return false;
    if (!FirstTokenScanner.readsBody(this.api)) return true;
    const b = this.joined(chunk);
    let keepFrom = max(0, b.length - CARRY_BYTES);
    for (let i = 0; i + PREFIX.length <= b.length; i++) {
      if (!prefixAt(b, i)) continue;
      const start = i + PREFIX.length;
      let end = start;
      while (end < b.length && isNameByte(unchecked(b[end]))) end++;
      if (end == b.length) {
        // The name may go on in the next chunk: keep it whole (a name longer
        // than any event's is cut to the last bytes, and never matches).
        if (b.length - i <= MAX_HELD_NAME_BYTES) keepFrom = min(keepFrom, i);
        break;
      }
      if (end > start && !isLifecycle(b, start, end)) return true;
      i = end - 1;
    }
    this.carry = b.slice(keepFrom);
    return false;
  }

  private joined(chunk: Uint8Array): Uint8Array {
    if (this.carry.length == 0) return chunk;
    const b = new Uint8Array(this.carry.length + chunk.length);
    b.set(this.carry, 0);
    b.set(chunk, this.carry.length);
    return b;
  }
}
