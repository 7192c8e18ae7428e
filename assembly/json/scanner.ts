// JsonScanner: a byte-level pull cursor over one UTF-8 JSON document that
// never traps and returns errors as values. Strict RFC 8259; grammar, API
// and the reasons for hand-writing it: README.md in this folder.
import { DEFAULT_MAX_DEPTH, JsonError, jsonErrorText, JsonKind } from "./kinds";
import { asciiEquals, hexVal, isSimpleEscape, rawEqualsLiteral, unescapeJson } from "./strings";
import { nextSpecial16, specialBytes } from "./swar";
import { blockEscaped, scanStringBlocks } from "./string_blocks";
import { isDigit, isWs, literalEnd, numberEnd } from "./tokens";
import { utf8Common, utf8SeqLen } from "./utf8";

// Container stack entries: bit 0 = object (else array), bit 1 = has members.
// @ts-ignore: decorator
@inline const C_OBJECT: u8 = 1;
// @ts-ignore: decorator
@inline const C_HAS_MEMBERS: u8 = 2;

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
  /**
   * Bytes before this index are known valid (the start of a body that
   * parsed): long strings there are only searched for their end
   * (string_blocks.ts). 0: check everything.
   */
  trustedEnd: i32 = 0;

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

  /** True when the string scanned last, without escapes, ends with the ASCII literal `lit`. */
  stringEndsWith(lit: string): bool {
    const n = this.strEnd - this.strStart;
    if (this.strEscaped || n < lit.length) return false;
    return rawEqualsLiteral(this.base + <usize>(this.strEnd - lit.length), lit.length, lit);
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

  // @ts-ignore: decorator
  @inline
  private scanLiteral(): bool {
    const e = literalEnd(this.base, this.pos, this.len);
    if (e < 0) return this.fail(e == -2 ? JsonError.UnexpectedEnd : JsonError.BadLiteral, this.pos);
    this.pos = e;
    return true;
  }

  // @ts-ignore: decorator
  @inline
  private scanNumber(): bool {
    const e = numberEnd(this.base, this.pos, this.len);
    if (e < 0) return this.fail(JsonError.BadNumber, this.pos);
    this.pos = e;
    return true;
  }

  /**
   * Scans a string token at the cursor ('"'), validating escapes and UTF-8.
   * Sets strStart/strEnd (content) and strEscaped; cursor after the closing quote.
   * Whole 64-byte blocks are checked at once (string_blocks.ts); the byte
   * loop below finishes the last < 64 bytes of the input and names faults.
   */
  private scanString(): bool {
    const base = this.base;
    const n = this.len;
    let p = this.pos + 1;
    this.strStart = p;
    const found = scanStringBlocks(base, p, n, this.trustedEnd);
    if (found >= 0) {
      this.strEnd = found;
      this.strEscaped = blockEscaped;
      this.pos = found + 1;
      return true;
    }
    // The last < 64 bytes of the input, or a fault to name exactly.
    p = ~found;
    let escaped = blockEscaped;
    while (true) {
      // Fast path: runs with no '"', '\\', control byte or non-ASCII byte,
      // 32 and 16 bytes at a time (SIMD), then 8 (loads stay inside the input).
      p = nextSpecial16(base, p, n);
      const stopped = p + 16 <= n;
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
        } else if (isSimpleEscape(e)) {
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
