// The id of a /v1/responses answer, read from its first body bytes as they
// arrive, so that a later request naming it in `previous_response_id` (or a
// GET, cancel or delete of it) can go to the server that holds it
// (docs/routing.md "Responses that continue a stored one").
//
// A server that stores responses keeps them in its own memory: vLLM answers
// a continuation whose previous response it does not hold with 404. The id
// is the first string-valued "id" member of the body: the top-level object's
// first member in a whole answer (`{"id":"resp_…","object":"response",…}`),
// and the response's in a stream's first event (`response.created`, whose
// `response` object opens with it). Strings are followed byte by byte, so an
// "id" inside a string value (an echoed instruction) is never taken for a
// member; SSE lines between events hold no quotes. Chunks may split anything
// anywhere: the state carries over. Reading stops at the id or after
// SCAN_LIMIT bytes.

/** Bytes read before giving up: the id comes first in every answer seen, this leaves room for another order. */
const SCAN_LIMIT: i32 = 8192;
/** Longest id kept (vLLM's are "resp_" and 32 hex digits); a longer value is not an id of ours to follow. */
export const MAX_RESPONSE_ID_BYTES: i32 = 256;

const QUOTE: u8 = 0x22;
const BACKSLASH: u8 = 0x5c;
const COLON: u8 = 0x3a;
const NEWLINE: u8 = 0x0a;

enum State {
  /** Outside strings, expecting nothing in particular. */
  Scan = 0,
  /** Inside a string that is not the id's value. */
  InString = 1,
  /** Inside a string, after a backslash. */
  InStringEscape = 2,
  /** Just read the string "id": a colon makes it a member name. */
  AfterIdName = 3,
  /** Read `"id":`: a string value is the id. */
  BeforeIdValue = 4,
  /** Inside the id's value. */
  InIdValue = 5,
  /** Found, or gave up. */
  Done = 6,
}

function isSpace(c: u8): bool {
  return c == 0x20 || c == 0x09 || c == 0x0d;
}

export class ResponseIdScanner {
  private state: State = State.Scan;
  private scanned: i32 = 0;
  /** The string being read: its first bytes (to tell "id"), or the id's value. */
  private buf: Uint8Array = new Uint8Array(MAX_RESPONSE_ID_BYTES);
  private len: i32 = 0;
  /** The id once found (a copy of its bytes); null before, or when none was found. */
  id: Uint8Array | null = null;

  /** Whether reading is over (the id found, or SCAN_LIMIT bytes read without it): no more chunks needed. */
  get done(): bool {
    return this.state == State.Done;
  }

  /** Reads the next body bytes. Returns `done`. */
  feed(chunk: Uint8Array): bool {
    for (let i = 0; i < chunk.length && this.state != State.Done; i++) {
      if (this.scanned++ >= SCAN_LIMIT) {
        this.state = State.Done;
        break;
      }
      this.step(unchecked(chunk[i]));
    }
    return this.state == State.Done;
  }

  private step(c: u8): void {
    const s = this.state;
    // A raw newline ends any string: JSON escapes its own, so this is SSE framing after a broken event.
    if (c == NEWLINE && s != State.Scan && s != State.AfterIdName && s != State.BeforeIdValue) {
      this.state = State.Scan;
      return;
    }
    if (s == State.InString) {
      if (c == BACKSLASH) this.state = State.InStringEscape;
      else if (c == QUOTE) this.endString();
      else this.keep(c);
    } else if (s == State.InStringEscape) {
      // An escaped byte: the string is no longer exactly "id".
      this.len = MAX_RESPONSE_ID_BYTES;
      this.state = State.InString;
    } else if (s == State.InIdValue) {
      if (c == QUOTE) this.found();
      else if (c == BACKSLASH || c < 0x20 || this.len >= MAX_RESPONSE_ID_BYTES) this.state = State.InString; // not an id to follow: skip the rest of it
      else unchecked((this.buf[this.len++] = c));
    } else if (s == State.AfterIdName) {
      if (c == COLON) this.state = State.BeforeIdValue;
      else if (!isSpace(c) && c != NEWLINE) this.scan(c);
    } else if (s == State.BeforeIdValue) {
      if (c == QUOTE) {
        this.state = State.InIdValue;
        this.len = 0;
      } else if (!isSpace(c) && c != NEWLINE) this.scan(c); // "id" with a number or object value: not ours
    } else {
      this.scan(c);
    }
  }

  private scan(c: u8): void {
    this.state = State.Scan;
    if (c != QUOTE) return;
    this.state = State.InString;
    this.len = 0;
  }

  private keep(c: u8): void {
    if (this.len < 3) unchecked((this.buf[this.len] = c));
    if (this.len < MAX_RESPONSE_ID_BYTES) this.len++;
  }

  private endString(): void {
    const b = this.buf;
    const isId = this.len == 2 && unchecked(b[0]) == 0x69 && unchecked(b[1]) == 0x64; // "id"
    this.state = isId ? State.AfterIdName : State.Scan;
  }

  private found(): void {
    this.state = State.Done;
    if (this.len > 0) this.id = this.buf.slice(0, this.len);
  }
}

/**
 * The response id a path names: `…/v1/responses/{id}` with anything after
 * it (`/cancel`, `/input_items`, a query); null when the path names none.
 * Matched on segment boundaries, with any prefix, as detectApi matches.
 */
export function responseIdInPath(path: string): Uint8Array | null {
  const marker = "/v1/responses/";
  const at = path.indexOf(marker);
  if (at < 0) return null;
  const start = at + marker.length;
  let end = start;
  while (end < path.length) {
    const c = path.charCodeAt(end);
    if (c == 0x2f || c == 0x3f || c == 0x23) break; // '/', '?', '#'
    end++;
  }
  if (end == start || end - start > MAX_RESPONSE_ID_BYTES) return null;
  const out = new Uint8Array(end - start);
  for (let i = start; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c > 0x7e || c <= 0x20) return null; // ids are printable ASCII; anything else is not one we recorded
    unchecked((out[i - start] = <u8>c));
  }
  return out;
}
