// Byte-level JSON scanner: a pull cursor over a UTF-8 Uint8Array that never
// traps and returns errors as values (issue 3 point 5; docs/design.md "Never trap").
//
// ## Why not json-as
// json-as aborts on malformed input and on a type mismatch; an abort inside
// Envoy kills the worker's VM. This scanner validates as it goes and reports
// the first problem as an error code + byte position.
//
// ## Grammar: strict RFC 8259
// - whitespace is only space, \t, \n, \r;
// - no trailing commas, no leading zeros (`01`), no `+1`, `.5`, `1.`, `NaN`;
// - numbers are only *validated*, never converted: `1e999` is valid JSON and
//   is kept as written (callers that need a value convert the small span);
// - string escapes: \" \\ \/ \b \f \n \r \t \uXXXX; anything else is an error;
// - raw bytes < 0x20 inside strings are an error (RFC 8259 §7);
// - strings must be valid UTF-8 (Unicode Table 3-7: no overlongs, no encoded
//   surrogates, nothing past U+10FFFF); invalid UTF-8 is an error;
// - `\u` escapes of lone surrogates are valid JSON (RFC 8259 §8.2 leaves them
//   to implementations): they decode to U+FFFD (EF BF BD), as JavaScript's
//   TextEncoder and Go's encoding/json do. A high+low pair decodes to one
//   4-byte UTF-8 sequence. `\u0000` decodes to a NUL byte.
// - nesting deeper than `maxDepth` (default 128) is an error. Nothing here
//   recurses: containers are tracked on an explicit byte stack, so 100,000
//   nested `[` fail cleanly with E_DEPTH.
// - duplicate keys are *not* an error (RFC 8259 says names SHOULD be unique);
//   consumers apply "last wins", as Go's encoding/json, JavaScript's
//   JSON.parse and Python's json do (parse.ts, canonical.ts).
//
// ## API (cursor / pull)
//   const sc = new JsonScanner(bytes);        // maxDepth = 128
//   if (sc.beginObject()) {                   // consumes '{'
//     while (sc.nextKey()) {                  // false at '}' or on error
//       // sc.keyIs("model"): compare without allocating; sc.key: decoded
//       // bytes (allocates a view); sc.keyStart/keyEnd: span of the key token
//       switch (sc.peek()) {                  // JsonKind of the next value
//         case JsonKind.String: const s = sc.readString(); break; // decoded
//         default: sc.skipValue();            // validates; span in valueStart/valueEnd
//       }
//     }
//   }
//   sc.finish();                              // only whitespace may follow
//   if (sc.failed) ... sc.error (JsonError.*), sc.errorPos, sc.errorMessage()
//
// Every read sets `valueStart`/`valueEnd`: the exact bytes of the value as sent
// (for strings: quotes included), so a caller can keep a raw view or splice.
// Once an error is set the scanner is sticky: every later call fails fast.
// readString() returns a zero-copy `subarray` of the input when the string
// has no escape, else a fresh buffer with the decoded bytes.
//
// For configuration documents (small, read once) `JsonReader` below wraps the
// scanner with string-valued keys, typed reads and a JSON path for messages.

// @ts-ignore: decorator
@inline export const DEFAULT_MAX_DEPTH: i32 = 128;

/** Kind of the next value, from its first byte (see JsonScanner.peek). */
export enum JsonKind {
  /** Not a value: an error is set (unexpected byte or end of input). */
  Invalid = 0,
  Object = 1,
  Array = 2,
  String = 3,
  Number = 4,
  True = 5,
  False = 6,
  Null = 7,
}

/** Error codes; JsonError.None (0) means no error. */
export enum JsonError {
  None = 0,
  UnexpectedEnd = 1,
  /** A byte that cannot start a value here. */
  ExpectedValue = 2,
  ExpectedColon = 3,
  /** After a member/element: expected ',' or the closing bracket. */
  ExpectedCommaOrEnd = 4,
  /** Expected a '"' starting an object key (also: trailing comma in an object). */
  ExpectedKey = 5,
  TrailingData = 6,
  TooDeep = 7,
  BadNumber = 8,
  BadEscape = 9,
  ControlCharInString = 10,
  BadUtf8 = 11,
  BadLiteral = 12,
  /** API misuse: e.g. nextKey() outside an object. */
  BadState = 13,
}

/** Short English text for an error code (used in 400 messages). */
export function jsonErrorText(code: JsonError): string {
  switch (code) {
    case JsonError.None: return "no error";
    case JsonError.UnexpectedEnd: return "unexpected end of input";
    case JsonError.ExpectedValue: return "expected a JSON value";
    case JsonError.ExpectedColon: return "expected ':' after an object key";
    case JsonError.ExpectedCommaOrEnd: return "expected ',' or a closing bracket";
    case JsonError.ExpectedKey: return "expected a string object key";
    case JsonError.TrailingData: return "unexpected data after the JSON value";
    case JsonError.TooDeep: return "nesting too deep";
    case JsonError.BadNumber: return "invalid number";
    case JsonError.BadEscape: return "invalid escape in string";
    case JsonError.ControlCharInString: return "unescaped control character in string";
    case JsonError.BadUtf8: return "invalid UTF-8 in string";
    case JsonError.BadLiteral: return "invalid literal";
    case JsonError.BadState: return "scanner misuse";
  }
  return "invalid JSON";
}

// Container stack entries: bit 0 = object (else array), bit 1 = has members.
// @ts-ignore: decorator
@inline const C_OBJECT: u8 = 1;
// @ts-ignore: decorator
@inline const C_HAS_MEMBERS: u8 = 2;

// @ts-ignore: decorator
@inline const ONES: u64 = 0x0101010101010101;
// @ts-ignore: decorator
@inline const HIGHS: u64 = 0x8080808080808080;

// @ts-ignore: decorator
@inline function isWs(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

// @ts-ignore: decorator
@inline function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}

function hexVal(c: u32): i32 {
  if (c - 0x30 < 10) return <i32>(c - 0x30);
  const l = c | 0x20;
  if (l - 0x61 < 6) return <i32>(l - 0x61 + 10);
  return -1;
}

const EMPTY = new Uint8Array(0);

/** Pull scanner over one JSON document (see the file header for the API). */
export class JsonScanner {
  /** Input bytes (a view; never modified). */
  readonly bytes: Uint8Array;
  readonly maxDepth: i32;
  /** Cursor: index of the next unread byte. */
  pos: i32 = 0;
  /** Number of open containers. */
  depth: i32 = 0;
  error: JsonError = JsonError.None;
  errorPos: i32 = 0;
  /** Span of the last value read or skipped ([start, end), strings with quotes). */
  valueStart: i32 = 0;
  valueEnd: i32 = 0;
  /** Span of the last key token read by nextKey() (quotes included). */
  keyStart: i32 = 0;
  keyEnd: i32 = 0;
  // Whether the last key has escapes (keys are compared in place, without
  // allocating, by keyIs(); `key` decodes on demand).
  private keyEscaped: bool = false;
  // Last string token scanned: content span (without quotes), escapes seen.
  private strStart: i32 = 0;
  private strEnd: i32 = 0;
  private strEscaped: bool = false;
  private base: usize;
  private len: i32;
  private stack: Uint8Array;
  // stack.dataStart: raw loads/stores (a typed-array accessor is an
  // out-of-line call under the shadow stack).
  private stackBase: usize = 0;

  constructor(bytes: Uint8Array, maxDepth: i32 = DEFAULT_MAX_DEPTH) {
    this.bytes = bytes;
    const limit = maxDepth > 0 ? maxDepth : 1;
    this.maxDepth = limit;
    this.base = bytes.dataStart;
    this.len = bytes.length;
    // Grown on demand up to maxDepth: a large limit costs nothing until used.
    this.stack = new Uint8Array(min(limit, 32));
    this.stackBase = this.stack.dataStart;
  }

  // @ts-ignore: decorator
  @inline
  get failed(): bool {
    return this.error != JsonError.None;
  }

  /** "invalid JSON at byte N: <reason>" (empty when no error). */
  errorMessage(): string {
    if (this.error == JsonError.None) return "";
    return jsonErrorText(this.error) + " at byte " + this.errorPos.toString();
  }

  /** Records the first error; always returns false (so `return this.fail(...)`). */
  fail(code: JsonError, at: i32): bool {
    if (this.error == JsonError.None) {
      this.error = code;
      this.errorPos = at;
    }
    return false;
  }

  /** Moves the cursor (used to re-scan a value whose span is known to be valid). */
  seek(pos: i32, depth: i32 = 0): void {
    this.pos = pos < 0 ? 0 : min(pos, this.len);
    this.depth = depth;
  }

  // @ts-ignore: decorator
  @inline private at(i: i32): u32 {
    return <u32>load<u8>(this.base + <usize>i);
  }

  // @ts-ignore: decorator
  @inline
  private skipWs(): void {
    // Inlined everywhere (as are the other small per-token helpers marked
    // @inline): a call costs a shadow-stack prologue under the incremental
    // runtime, more than the work itself for the common single-byte case.
    const base = this.base;
    let p = this.pos;
    const n = this.len;
    while (p < n && isWs(<u32>load<u8>(base + <usize>p))) p++;
    this.pos = p;
  }

  /** Kind of the next value (skips whitespace). Sets an error for Invalid. */
  // @ts-ignore: decorator
  @inline
  peek(): JsonKind {
    if (this.failed) return JsonKind.Invalid;
    this.skipWs();
    if (this.pos >= this.len) {
      this.fail(JsonError.UnexpectedEnd, this.pos);
      return JsonKind.Invalid;
    }
    const c = this.at(this.pos);
    if (c == 0x7b) return JsonKind.Object;
    if (c == 0x5b) return JsonKind.Array;
    if (c == 0x22) return JsonKind.String;
    if (c == 0x2d || isDigit(c)) return JsonKind.Number;
    if (c == 0x74) return JsonKind.True;
    if (c == 0x66) return JsonKind.False;
    if (c == 0x6e) return JsonKind.Null;
    this.fail(JsonError.ExpectedValue, this.pos);
    return JsonKind.Invalid;
  }

  private push(kind: u8): bool {
    if (this.depth >= this.maxDepth) return this.fail(JsonError.TooDeep, this.pos);
    if (this.depth >= this.stack.length) {
      const bigger = new Uint8Array(min(this.maxDepth, this.stack.length << 1));
      memory.copy(bigger.dataStart, this.stack.dataStart, <usize>this.stack.length);
      this.stack = bigger;
      this.stackBase = bigger.dataStart;
    }
    store<u8>(this.stackBase + <usize>this.depth, kind); // depth < stack.length (checked above)
    this.depth++;
    return true;
  }

  // @ts-ignore: decorator
  @inline private top(): u8 {
    return load<u8>(this.stackBase + <usize>(this.depth - 1)); // callers check depth > 0
  }

  /** Consumes '{' and opens an object. False (error set) if the next value is not an object. */
  beginObject(): bool {
    if (this.peek() != JsonKind.Object) return this.fail(JsonError.ExpectedValue, this.pos);
    this.valueStart = this.pos;
    if (!this.push(C_OBJECT)) return false;
    this.pos++;
    return true;
  }

  /** Consumes '[' and opens an array. */
  beginArray(): bool {
    if (this.peek() != JsonKind.Array) return this.fail(JsonError.ExpectedValue, this.pos);
    this.valueStart = this.pos;
    if (!this.push(0)) return false;
    this.pos++;
    return true;
  }

  /**
   * Inside an object: reads the next key and the ':' after it, leaving the
   * cursor at the member's value. Returns false at '}' (consumed, container
   * closed, `valueEnd` = after '}') or on error.
   */
  nextKey(): bool {
    if (this.failed) return false;
    if (this.depth == 0 || (this.top() & C_OBJECT) == 0) return this.fail(JsonError.BadState, this.pos);
    if (!this.afterMember(0x7d, true)) return false;
    if (this.pos >= this.len) return this.fail(JsonError.UnexpectedEnd, this.pos);
    if (this.at(this.pos) != 0x22) return this.fail(JsonError.ExpectedKey, this.pos);
    this.keyStart = this.pos;
    if (!this.scanString()) return false;
    this.keyEnd = this.pos;
    this.keyEscaped = this.strEscaped;
    this.skipWs();
    if (this.pos >= this.len) return this.fail(JsonError.UnexpectedEnd, this.pos);
    if (this.at(this.pos) != 0x3a) return this.fail(JsonError.ExpectedColon, this.pos);
    this.pos++;
    return true;
  }

  /** Decoded bytes of the last key (a view unless it had escapes; allocates). */
  get key(): Uint8Array {
    if (!this.keyEscaped) return this.bytes.subarray(this.keyStart + 1, this.keyEnd - 1);
    return unescapeJson(this.base, this.keyStart + 1, this.keyEnd - 1);
  }

  /** True when the last key has escapes (its raw bytes differ from the decoded ones). */
  // @ts-ignore: decorator
  @inline
  get keyHasEscapes(): bool {
    return this.keyEscaped;
  }

  /** Length of the last key's raw content (escapes not decoded). */
  // @ts-ignore: decorator
  @inline
  get keyRawLength(): i32 {
    return this.keyEnd - this.keyStart - 2;
  }

  /** True when the last key equals the ASCII literal `lit` (no allocation unless the key has escapes). */
  // @ts-ignore: decorator
  @inline
  keyIs(lit: string): bool {
    if (this.keyEscaped) return asciiEquals(this.key, lit);
    const n = this.keyEnd - this.keyStart - 2;
    if (n != lit.length) return false;
    return rawEqualsLiteral(this.base + <usize>(this.keyStart + 1), n, lit);
  }

  /**
   * Inside an array: true when another element follows (cursor at it);
   * false at ']' (consumed, container closed) or on error.
   */
  nextItem(): bool {
    if (this.failed) return false;
    if (this.depth == 0 || (this.top() & C_OBJECT) != 0) return this.fail(JsonError.BadState, this.pos);
    if (!this.afterMember(0x5d, false)) return false;
    if (this.pos >= this.len) return this.fail(JsonError.UnexpectedEnd, this.pos);
    return true;
  }

  // Shared by nextKey/nextItem: handles the closing bracket and the ','
  // separator. Returns false when the container closed (or on error); the
  // caller tells the two apart with `failed`.
  // @ts-ignore: decorator
  @inline
  private afterMember(close: u32, isObject: bool): bool {
    this.skipWs();
    if (this.pos >= this.len) return this.fail(JsonError.UnexpectedEnd, this.pos);
    const c = this.at(this.pos);
    const idx = this.depth - 1;
    const state = load<u8>(this.stackBase + <usize>idx); // idx = depth - 1 >= 0 (callers check)
    if (c == close) {
      this.pos++;
      this.depth--;
      this.valueEnd = this.pos;
      return false;
    }
    if ((state & C_HAS_MEMBERS) != 0) {
      if (c != 0x2c) return this.fail(JsonError.ExpectedCommaOrEnd, this.pos);
      this.pos++;
      this.skipWs();
      // A closing bracket right after ',' is a trailing comma: rejected by
      // the key check (objects) or by the value read (arrays).
    } else {
      store<u8>(this.stackBase + <usize>idx, state | C_HAS_MEMBERS);
    }
    return true;
  }

  /** Reads a string value, decoded. Null (error set) if not a valid string. */
  readString(): Uint8Array | null {
    if (this.peek() != JsonKind.String) {
      this.fail(JsonError.ExpectedValue, this.pos);
      return null;
    }
    this.valueStart = this.pos;
    if (!this.scanString()) return null;
    this.valueEnd = this.pos;
    return this.decodedString();
  }

  /**
   * Scans a string value without decoding or allocating (span in
   * valueStart/valueEnd); then `stringIs(lit)` compares it in place and
   * `lastString()` decodes it.
   */
  readStringRaw(): bool {
    if (this.peek() != JsonKind.String) return this.fail(JsonError.ExpectedValue, this.pos);
    this.valueStart = this.pos;
    if (!this.scanString()) return false;
    this.valueEnd = this.pos;
    return true;
  }

  /** True when the string scanned last (readStringRaw/readString) equals the ASCII literal `lit`. */
  // @ts-ignore: decorator
  @inline
  stringIs(lit: string): bool {
    const n = this.strEnd - this.strStart;
    if (this.strEscaped || n != lit.length) return this.strEscaped ? asciiEquals(this.decodedString(), lit) : false;
    return rawEqualsLiteral(this.base + <usize>this.strStart, n, lit);
  }

  /** Decoded bytes of the string scanned last (a view when it had no escapes). */
  lastString(): Uint8Array {
    return this.decodedString();
  }

  /**
   * The string scanned last as its raw content (quotes excluded, escapes not
   * decoded): a view, no copy. With `lastStringHasEscapes`, this lets a
   * caller defer decoding to `decodeJsonString` until the text is read
   * (types.ts: message text beyond what the hash reads is never decoded).
   */
  // @ts-ignore: decorator
  @inline
  lastStringContent(): Uint8Array {
    return this.bytes.subarray(this.strStart, this.strEnd);
  }

  /** True when the string scanned last has escapes (lastStringContent differs from the decoded bytes). */
  // @ts-ignore: decorator
  @inline
  get lastStringHasEscapes(): bool {
    return this.strEscaped;
  }

  /** Validates a number; its text is bytes[valueStart, valueEnd). */
  readNumber(): bool {
    if (this.peek() != JsonKind.Number) return this.fail(JsonError.ExpectedValue, this.pos);
    this.valueStart = this.pos;
    if (!this.scanNumber()) return false;
    this.valueEnd = this.pos;
    return true;
  }

  /** Reads `true`/`false`: 1, 0, or -1 on error (not a boolean). */
  readBool(): i32 {
    const k = this.peek();
    if (k != JsonKind.True && k != JsonKind.False) {
      this.fail(JsonError.ExpectedValue, this.pos);
      return -1;
    }
    this.valueStart = this.pos;
    if (!this.scanLiteral()) return -1;
    this.valueEnd = this.pos;
    return k == JsonKind.True ? 1 : 0;
  }

  /** Reads `null`. */
  readNull(): bool {
    if (this.peek() != JsonKind.Null) return this.fail(JsonError.ExpectedValue, this.pos);
    this.valueStart = this.pos;
    if (!this.scanLiteral()) return false;
    this.valueEnd = this.pos;
    return true;
  }

  /** View of bytes[valueStart, valueEnd): the last value exactly as sent. */
  valueBytes(): Uint8Array {
    return this.bytes.subarray(this.valueStart, this.valueEnd);
  }

  /** Only whitespace may remain. Call after the top-level value. */
  finish(): bool {
    if (this.failed) return false;
    this.skipWs();
    if (this.pos < this.len) return this.fail(JsonError.TrailingData, this.pos);
    return true;
  }

  /**
   * Skips (and fully validates) the next value, iteratively: nesting costs
   * one stack byte per level, bounded by maxDepth. The value's span is
   * [valueStart, valueEnd).
   */
  skipValue(): bool {
    if (this.failed) return false;
    this.skipWs();
    const start = this.pos;
    const baseDepth = this.depth;
    while (true) {
      // Expect a value.
      this.skipWs();
      if (this.pos >= this.len) return this.fail(JsonError.UnexpectedEnd, this.pos);
      const c = this.at(this.pos);
      let scalar = true;
      if (c == 0x22) {
        if (!this.scanString()) return false;
      } else if (c == 0x7b || c == 0x5b) {
        const isObj = c == 0x7b;
        if (!this.push(isObj ? C_OBJECT : 0)) return false;
        this.pos++;
        this.skipWs();
        if (this.pos >= this.len) return this.fail(JsonError.UnexpectedEnd, this.pos);
        const d = this.at(this.pos);
        if (d == (isObj ? 0x7d : 0x5d)) {
          this.pos++;
          this.depth--;
        } else {
          if (isObj && !this.skipKeyColon()) return false;
          scalar = false; // read the first member's value
        }
      } else if (c == 0x2d || isDigit(c)) {
        if (!this.scanNumber()) return false;
      } else if (c == 0x74 || c == 0x66 || c == 0x6e) {
        if (!this.scanLiteral()) return false;
      } else {
        return this.fail(JsonError.ExpectedValue, this.pos);
      }
      if (!scalar) continue;
      // After a value: close containers or move to the next member.
      let nextValue = false;
      while (this.depth > baseDepth) {
        this.skipWs();
        if (this.pos >= this.len) return this.fail(JsonError.UnexpectedEnd, this.pos);
        const e = this.at(this.pos);
        const isObj = (this.top() & C_OBJECT) != 0;
        if (e == 0x2c) {
          this.pos++;
          if (isObj) {
            this.skipWs();
            if (!this.skipKeyColon()) return false;
          }
          nextValue = true;
          break;
        }
        if (e == (isObj ? 0x7d : 0x5d)) {
          this.pos++;
          this.depth--;
          continue;
        }
        return this.fail(JsonError.ExpectedCommaOrEnd, this.pos);
      }
      if (nextValue) continue;
      break;
    }
    this.valueStart = start;
    this.valueEnd = this.pos;
    return true;
  }

  // At a key inside an object during skipValue: '"key"' ws ':'.
  private skipKeyColon(): bool {
    if (this.pos >= this.len) return this.fail(JsonError.UnexpectedEnd, this.pos);
    if (this.at(this.pos) != 0x22) return this.fail(JsonError.ExpectedKey, this.pos);
    if (!this.scanString()) return false;
    this.skipWs();
    if (this.pos >= this.len) return this.fail(JsonError.UnexpectedEnd, this.pos);
    if (this.at(this.pos) != 0x3a) return this.fail(JsonError.ExpectedColon, this.pos);
    this.pos++;
    return true;
  }

  private scanLiteral(): bool {
    const p = this.pos;
    const c = this.at(p);
    // "true" = 74 72 75 65, "false" = 66 61 6c 73 65, "null" = 6e 75 6c 6c
    if (c == 0x66) {
      if (p + 5 <= this.len && this.at(p + 1) == 0x61 && this.at(p + 2) == 0x6c && this.at(p + 3) == 0x73 && this.at(p + 4) == 0x65) {
        this.pos = p + 5;
        return true;
      }
    } else if (p + 4 <= this.len) {
      const w = load<u32>(this.base + <usize>p);
      if ((c == 0x74 && w == 0x65757274) || (c == 0x6e && w == 0x6c6c756e)) {
        this.pos = p + 4;
        return true;
      }
    }
    return this.fail(p + 4 > this.len && c != 0x66 ? JsonError.UnexpectedEnd : JsonError.BadLiteral, p);
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? — validated, not converted.
  private scanNumber(): bool {
    let p = this.pos;
    const n = this.len;
    const start = p;
    if (this.at(p) == 0x2d) p++;
    if (p >= n) return this.fail(JsonError.BadNumber, start);
    let c = this.at(p);
    if (c == 0x30) {
      p++;
    } else if (c - 0x31 < 9) {
      p++;
      while (p < n && isDigit(this.at(p))) p++;
    } else {
      return this.fail(JsonError.BadNumber, start);
    }
    if (p < n && this.at(p) == 0x2e) {
      p++;
      if (p >= n || !isDigit(this.at(p))) return this.fail(JsonError.BadNumber, start);
      while (p < n && isDigit(this.at(p))) p++;
    }
    if (p < n && (this.at(p) | 0x20) == 0x65) {
      p++;
      if (p < n && (this.at(p) == 0x2b || this.at(p) == 0x2d)) p++;
      if (p >= n || !isDigit(this.at(p))) return this.fail(JsonError.BadNumber, start);
      while (p < n && isDigit(this.at(p))) p++;
    }
    // A digit right after "0" (leading zero) is caught here: "01" stops at 1.
    if (p < n && isDigit(this.at(p))) return this.fail(JsonError.BadNumber, start);
    this.pos = p;
    return true;
  }

  /**
   * Scans a string token at the cursor ('"'), validating escapes and UTF-8.
   * Sets strStart/strEnd (content) and strEscaped; cursor after the closing quote.
   * Plain ASCII runs are skipped 8 bytes at a time (SWAR).
   */
  private scanString(): bool {
    const base = this.base;
    const n = this.len;
    let p = this.pos + 1;
    this.strStart = p;
    let escaped = false;
    while (true) {
      // Fast path: runs with no '"', '\\', control byte or non-ASCII byte,
      // 16 then 8 bytes at a time (loads stay inside the input).
      let stopped = false;
      while (p + 16 <= n) {
        const a = specialBytes(load<u64>(base + <usize>p));
        const b = specialBytes(load<u64>(base + <usize>p, 8));
        if ((a | b) == 0) {
          p += 16;
          continue;
        }
        // The lowest flagged byte of a word is exact (borrows only propagate upwards).
        p += a != 0 ? <i32>(ctz(a) >> 3) : 8 + <i32>(ctz(b) >> 3);
        stopped = true;
        break;
      }
      if (!stopped) {
        while (p + 8 <= n) {
          const t = specialBytes(load<u64>(base + <usize>p));
          if (t == 0) {
            p += 8;
            continue;
          }
          p += <i32>(ctz(t) >> 3);
          break;
        }
      }
      if (p >= n) return this.fail(JsonError.UnexpectedEnd, p);
      let c = <u32>load<u8>(base + <usize>p);
      if (c >= 0x80) {
        // A run of multi-byte sequences (CJK text, emoji) is walked here
        // without going back to the ASCII fast path between characters.
        while (true) {
          let w = utf8Common(base, p, n, c);
          if (w == 0) {
            w = utf8SeqLen(base, p, n);
            if (w <= 0) return this.fail(w == 0 ? JsonError.BadUtf8 : JsonError.UnexpectedEnd, p);
          }
          p += w;
          if (p >= n) break;
          c = <u32>load<u8>(base + <usize>p);
          if (c < 0x80) break;
        }
        continue;
      }
      if (c == 0x22) break;
      if (c == 0x5c) {
        escaped = true;
        if (p + 1 >= n) return this.fail(JsonError.UnexpectedEnd, p);
        const e = <u32>load<u8>(base + <usize>(p + 1));
        if (e == 0x75) {
          for (let i = 2; i < 6; i++) {
            if (p + i >= n) return this.fail(JsonError.UnexpectedEnd, p);
            if (hexVal(<u32>load<u8>(base + <usize>(p + i))) < 0) return this.fail(JsonError.BadEscape, p);
          }
          p += 6;
        } else if (e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74) {
          p += 2;
        } else {
          return this.fail(JsonError.BadEscape, p);
        }
        continue;
      }
      if (c < 0x20) return this.fail(JsonError.ControlCharInString, p);
      p++; // plain ASCII in the last < 8 bytes
    }
    this.strEnd = p;
    this.strEscaped = escaped;
    this.pos = p + 1;
    return true;
  }

  // Decoded content of the last scanned string: a view when unescaped.
  private decodedString(): Uint8Array {
    if (!this.strEscaped) return this.bytes.subarray(this.strStart, this.strEnd);
    return unescapeJson(this.base, this.strStart, this.strEnd);
  }
}

/** Flags (0x80 in its byte) every byte of `v` that is '"', '\\', < 0x20 or >= 0x80; the lowest flag is exact. */
// @ts-ignore: decorator
@inline function specialBytes(v: u64): u64 {
  const q = v ^ (ONES * 0x22);
  const b = v ^ (ONES * 0x5c);
  return (((q - ONES) & ~q) | ((b - ONES) & ~b) | (v - ONES * 0x20) | v) & HIGHS;
}

/**
 * Length (2, 3 or 4) of a valid UTF-8 sequence at base+p whose lead byte is
 * `c` (>= 0x80), checked with one 4-byte load when 4 bytes remain; 0 when it
 * is not valid or too close to the end — then utf8SeqLen decides (and names
 * the error). Accepts exactly what utf8SeqLen accepts (Unicode Table 3-7).
 */
// @ts-ignore: decorator
@inline function utf8Common(base: usize, p: i32, n: i32, c: u32): i32 {
  if (p + 4 > n) return 0;
  const w4 = load<u32>(base + <usize>p);
  const d1 = (w4 >> 8) & 0xff;
  // C2..DF 80..BF
  if ((w4 & 0xc0e0) == 0x80c0) return c >= 0xc2 ? 2 : 0;
  // E0..EF 80..BF 80..BF; E0 needs A0..BF (no overlong), ED 80..9F (no surrogate)
  if ((w4 & 0xc0c0f0) == 0x8080e0) return (c != 0xe0 || d1 >= 0xa0) && (c != 0xed || d1 < 0xa0) ? 3 : 0;
  // F0..F4 + 3 continuation bytes; F0 needs 90..BF, F4 80..8F (nothing past U+10FFFF)
  if ((w4 & 0xc0c0c0f8) == 0x808080f0) return c <= 0xf4 && (c != 0xf0 || d1 >= 0x90) && (c != 0xf4 || d1 < 0x90) ? 4 : 0;
  return 0;
}

/**
 * Length of the valid UTF-8 sequence starting at base+p (first byte >= 0x80),
 * 0 if invalid, -1 if truncated by the end n. Unicode Table 3-7.
 */
export function utf8SeqLen(base: usize, p: i32, n: i32): i32 {
  const c = <u32>load<u8>(base + <usize>p);
  let need: i32;
  let lo: u32 = 0x80;
  let hi: u32 = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    need = 1;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c == 0xe0) lo = 0xa0;
    else if (c == 0xed) hi = 0x9f; // no UTF-8-encoded surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c == 0xf0) lo = 0x90;
    else if (c == 0xf4) hi = 0x8f; // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (p + need >= n) {
    // Check the bytes that are there: a wrong one is invalid, not truncated.
    for (let i = 1; p + i < n; i++) {
      const d = <u32>load<u8>(base + <usize>(p + i));
      if (i == 1 ? d < lo || d > hi : d < 0x80 || d > 0xbf) return 0;
    }
    return -1;
  }
  const d1 = <u32>load<u8>(base + <usize>(p + 1));
  if (d1 < lo || d1 > hi) return 0;
  for (let i = 2; i <= need; i++) {
    const d = <u32>load<u8>(base + <usize>(p + i));
    if (d < 0x80 || d > 0xbf) return 0;
  }
  return need + 1;
}

function hex4(base: usize, p: i32): u32 {
  let v: u32 = 0;
  for (let i = 0; i < 4; i++) v = (v << 4) | <u32>hexVal(<u32>load<u8>(base + <usize>(p + i)));
  return v;
}

function putUtf8(out: usize, o: i32, cp: u32): i32 {
  if (cp < 0x80) {
    store<u8>(out + <usize>o, <u8>cp);
    return o + 1;
  }
  if (cp < 0x800) {
    store<u8>(out + <usize>o, <u8>(0xc0 | (cp >> 6)));
    store<u8>(out + <usize>o + 1, <u8>(0x80 | (cp & 0x3f)));
    return o + 2;
  }
  if (cp < 0x10000) {
    store<u8>(out + <usize>o, <u8>(0xe0 | (cp >> 12)));
    store<u8>(out + <usize>o + 1, <u8>(0x80 | ((cp >> 6) & 0x3f)));
    store<u8>(out + <usize>o + 2, <u8>(0x80 | (cp & 0x3f)));
    return o + 3;
  }
  store<u8>(out + <usize>o, <u8>(0xf0 | (cp >> 18)));
  store<u8>(out + <usize>o + 1, <u8>(0x80 | ((cp >> 12) & 0x3f)));
  store<u8>(out + <usize>o + 2, <u8>(0x80 | ((cp >> 6) & 0x3f)));
  store<u8>(out + <usize>o + 3, <u8>(0x80 | (cp & 0x3f)));
  return o + 4;
}

/**
 * Decodes the raw content of a JSON string token (quotes excluded) that the
 * scanner has validated, e.g. JsonScanner.lastStringContent(). Returns
 * `content` itself when it has no backslash. Never reads outside `content`,
 * whatever the bytes (a malformed escape, impossible after validation, is
 * dropped rather than read past the end).
 */
export function decodeJsonString(content: Uint8Array): Uint8Array {
  return unescapeJson(content.dataStart, 0, content.length, content);
}

/**
 * Index of the first '\\' in [p, e), or e. Eight bytes at a time; loads stay
 * inside [p, e) (the tail is read byte by byte).
 */
function nextBackslash(base: usize, p: i32, e: i32): i32 {
  while (p + 8 <= e) {
    const b = load<u64>(base + <usize>p) ^ (ONES * 0x5c);
    // The lowest flagged byte is exact (borrows only propagate upwards).
    const t = (b - ONES) & ~b & HIGHS;
    if (t != 0) return p + <i32>(ctz(t) >> 3);
    p += 8;
  }
  while (p < e && load<u8>(base + <usize>p) != 0x5c) p++;
  return p;
}

/**
 * Decodes the content [s, e) of a string token. The output is never longer
 * than the input (every escape shrinks), so it is written straight into one
 * buffer of the input's length and viewed at its decoded length: no scratch
 * copy. `whole`, when given, is returned as is if there is no escape.
 */
function unescapeJson(base: usize, s: i32, e: i32, whole: Uint8Array | null = null): Uint8Array {
  let p = nextBackslash(base, s, e);
  if (p >= e && whole !== null) return whole;
  const buf = new ArrayBuffer(e - s);
  const o0 = changetype<usize>(buf);
  let o = p - s;
  memory.copy(o0, base + <usize>s, <usize>o);
  while (p < e) {
    // Here bytes[p] is a backslash.
    if (p + 1 >= e) {
      store<u8>(o0 + <usize>o, 0x5c);
      o++;
      break;
    }
    const x = <u32>load<u8>(base + <usize>(p + 1));
    p += 2;
    let b: u32 = x; // \" \\ \/
    if (x == 0x62) b = 0x08;
    else if (x == 0x66) b = 0x0c;
    else if (x == 0x6e) b = 0x0a;
    else if (x == 0x72) b = 0x0d;
    else if (x == 0x74) b = 0x09;
    else if (x == 0x75 && p + 4 <= e) {
      let cp = hex4(base, p);
      p += 4;
      if (cp >= 0xd800 && cp <= 0xdbff) {
        // High surrogate: combine with a following \uDC00-\uDFFF, else U+FFFD.
        if (p + 6 <= e && load<u8>(base + <usize>p) == 0x5c && load<u8>(base + <usize>(p + 1)) == 0x75) {
          const lo = hex4(base, p + 2);
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
          } else cp = 0xfffd;
        } else cp = 0xfffd;
      } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        cp = 0xfffd; // lone low surrogate
      }
      o = putUtf8(o0, o, cp);
    }
    if (x != 0x75) {
      store<u8>(o0 + <usize>o, <u8>b);
      o++;
    }
    // Copy the run up to the next backslash in one go.
    const q = nextBackslash(base, p, e);
    memory.copy(o0 + <usize>o, base + <usize>p, <usize>(q - p));
    o += q - p;
    p = q;
  }
  return Uint8Array.wrap(buf, 0, o);
}

/** True when the `n` bytes at `p` equal the ASCII literal `lit` (lit.length == n checked by the caller). */
// @ts-ignore: decorator
@inline function rawEqualsLiteral(p: usize, n: i32, lit: string): bool {
  // UTF-16 code units read directly: no bounds-checked charCodeAt per byte.
  const l = changetype<usize>(lit);
  for (let i = 0; i < n; i++) {
    if (<u32>load<u8>(p + <usize>i) != <u32>load<u16>(l + (<usize>i << 1))) return false;
  }
  return true;
}

/** True when `b` equals the ASCII literal `lit`. */
export function asciiEquals(b: Uint8Array, lit: string): bool {
  const n = b.length;
  if (n != lit.length) return false;
  for (let i = 0; i < n; i++) {
    if (<i32>unchecked(b[i]) != <i32>lit.charCodeAt(i)) return false;
  }
  return true;
}

/** Validates a whole document: JsonError.None when `bytes` is one valid JSON value. */
export function validateJson(bytes: Uint8Array, maxDepth: i32 = DEFAULT_MAX_DEPTH): JsonError {
  const sc = new JsonScanner(bytes, maxDepth);
  sc.skipValue();
  sc.finish();
  return sc.error;
}

/**
 * Parses a JSON number's text as an unsigned 32-bit integer (token ids).
 * Returns -1 if it is not a plain non-negative integer that fits in u32
 * (fractions, exponents, signs and overflow are refused, not rounded).
 */
export function parseU32(text: Uint8Array): i64 {
  const n = text.length;
  if (n == 0 || n > 10) return -1;
  let v: i64 = 0;
  for (let i = 0; i < n; i++) {
    const c = <u32>unchecked(text[i]);
    if (!isDigit(c)) return -1;
    v = v * 10 + <i64>(c - 0x30);
  }
  if (n > 1 && unchecked(text[0]) == 0x30) return -1;
  return v <= 0xffffffff ? v : -1;
}

// ---------------------------------------------------------------------------
// JsonReader: DOM-free reading of small configuration documents.

/**
 * Reads a configuration object with a JSON path for error messages.
 *
 *   const r = new JsonReader(bytes);
 *   if (r.object()) {
 *     let k: string | null;
 *     while ((k = r.key()) != null) {          // path is now e.g. "scorers[1].weight"
 *       if (k == "weight") { const w = r.number(); if (!r.ok) break; }
 *       else if (k == "name") { const s = r.string(); ... }
 *       else if (k == "list") { if (r.array()) while (r.item()) { ... } }
 *       else r.fail("unknown key");             // records "<path>: unknown key"
 *     }
 *   }
 *   r.end();                                    // trailing data check
 *   if (!r.ok) log(r.error)                     // "scorers[1].weight: expected a number, got string"
 *
 * Typed reads check the kind first and record "expected X, got Y" without
 * consuming the value (the caller may `skip()`); syntax errors record the
 * scanner's message. The first error wins; later calls are no-ops.
 */
export class JsonReader {
  readonly sc: JsonScanner;
  /** First error, "<path>: <what>" (path omitted at the top level). */
  error: string = "";
  /** Path of the first error alone (e.g. "scorers[1].weight"). */
  errorPath: string = "";
  private segs: Array<string> = [];
  private idx: Array<i32> = []; // -1 for object levels, else current index

  constructor(bytes: Uint8Array, maxDepth: i32 = DEFAULT_MAX_DEPTH) {
    this.sc = new JsonScanner(bytes, maxDepth);
  }

  get ok(): bool {
    return this.error.length == 0;
  }

  /** Current JSON path: "a.b[2].c" ("" at the top level). */
  path(): string {
    let s = "";
    for (let i = 0; i < this.segs.length; i++) {
      const seg = unchecked(this.segs[i]);
      if (seg.length == 0) continue;
      if (seg.charCodeAt(0) == 0x5b || s.length == 0) s += seg;
      else s += "." + seg;
    }
    return s;
  }

  /** Records `msg` at the current path (first error wins). Returns false. */
  fail(msg: string): bool {
    if (this.error.length == 0) {
      const p = this.path();
      this.errorPath = p;
      this.error = p.length > 0 ? p + ": " + msg : msg;
    }
    return false;
  }

  private syntax(): bool {
    return this.fail("invalid JSON: " + this.sc.errorMessage());
  }

  /** Kind of the next value (JsonKind.Invalid after an error). */
  kind(): JsonKind {
    if (!this.ok) return JsonKind.Invalid;
    const k = this.sc.peek();
    if (k == JsonKind.Invalid) this.syntax();
    return k;
  }

  private expect(want: JsonKind, name: string): bool {
    const k = this.kind();
    if (k == JsonKind.Invalid) return false;
    if (k == want || (want == JsonKind.True && k == JsonKind.False)) return true;
    return this.fail("expected " + name + ", got " + jsonKindName(k));
  }

  /** Opens an object (false + error if the value is not one). */
  object(): bool {
    if (!this.expect(JsonKind.Object, "an object")) return false;
    if (!this.sc.beginObject()) return this.syntax();
    this.segs.push("");
    this.idx.push(-1);
    return true;
  }

  /** Next key of the open object, or null at its end / on error. */
  key(): string | null {
    if (!this.ok) return null;
    if (!this.sc.nextKey()) {
      if (this.sc.failed) this.syntax();
      else this.pop();
      return null;
    }
    const k = String.UTF8.decodeUnsafe(this.sc.key.dataStart, <usize>this.sc.key.length);
    if (this.segs.length > 0) this.segs[this.segs.length - 1] = k;
    return k;
  }

  /** Opens an array. */
  array(): bool {
    if (!this.expect(JsonKind.Array, "an array")) return false;
    if (!this.sc.beginArray()) return this.syntax();
    this.segs.push("");
    this.idx.push(-1);
    return true;
  }

  /** True when the open array has another element (path gets "[i]"). */
  item(): bool {
    if (!this.ok) return false;
    if (!this.sc.nextItem()) {
      if (this.sc.failed) this.syntax();
      else this.pop();
      return false;
    }
    const last = this.idx.length - 1;
    const i = this.idx[last] + 1;
    this.idx[last] = i;
    this.segs[last] = "[" + i.toString() + "]";
    return true;
  }

  private pop(): void {
    if (this.segs.length > 0) {
      this.segs.pop();
      this.idx.pop();
    }
  }

  /** A string value (decoded), or null + error. */
  string(): string | null {
    if (!this.expect(JsonKind.String, "a string")) return null;
    const b = this.sc.readString();
    if (b == null) {
      this.syntax();
      return null;
    }
    return String.UTF8.decodeUnsafe(b.dataStart, <usize>b.length);
  }

  /** A number value as f64 (1e999 → Infinity: check isFinite when it matters); NaN + error otherwise. */
  number(): f64 {
    if (!this.expect(JsonKind.Number, "a number")) return NaN;
    if (!this.sc.readNumber()) {
      this.syntax();
      return NaN;
    }
    const t = this.sc.valueBytes();
    return F64.parseFloat(String.UTF8.decodeUnsafe(t.dataStart, <usize>t.length));
  }

  /** An integer value in [lo, hi]; records an error otherwise (returns lo on error). */
  int(lo: i64, hi: i64): i64 {
    const v = this.number();
    if (!this.ok) return lo;
    if (!isFinite(v) || Math.floor(v) != v) {
      this.fail("expected an integer");
      return lo;
    }
    if (v < <f64>lo || v > <f64>hi) {
      this.fail("must be between " + lo.toString() + " and " + hi.toString());
      return lo;
    }
    return <i64>v;
  }

  /** A boolean value; false + error otherwise. */
  bool(): bool {
    if (!this.expect(JsonKind.True, "a boolean")) return false;
    const b = this.sc.readBool();
    if (b < 0) {
      this.syntax();
      return false;
    }
    return b == 1;
  }

  /** True (and consumed) if the next value is `null`. */
  isNull(): bool {
    if (this.kind() != JsonKind.Null) return false;
    if (!this.sc.readNull()) return this.syntax();
    return true;
  }

  /** Skips any value (validating it). */
  skip(): bool {
    if (!this.ok) return false;
    if (!this.sc.skipValue()) return this.syntax();
    return true;
  }

  /** Raw bytes of the next value as sent (skipped; a view into the input). */
  raw(): Uint8Array | null {
    if (!this.skip()) return null;
    return this.sc.valueBytes();
  }

  /** Checks that nothing but whitespace follows the top-level value. */
  end(): bool {
    if (!this.ok) return false;
    if (!this.sc.finish()) return this.syntax();
    return true;
  }
}

/** "an object", "a string", ... for messages like "expected a string, got a number". */
export function jsonKindName(k: JsonKind): string {
  switch (k) {
    case JsonKind.Object: return "an object";
    case JsonKind.Array: return "an array";
    case JsonKind.String: return "a string";
    case JsonKind.Number: return "a number";
    case JsonKind.True:
    case JsonKind.False: return "a boolean";
    case JsonKind.Null: return "null";
  }
  return "invalid JSON";
}
