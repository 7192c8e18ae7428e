// JsonReader: DOM-free reading of small configuration documents (the
// plugin configuration, endpoint snapshots), with a JSON path in every
// error message.
import { DEFAULT_MAX_DEPTH, JsonKind, jsonKindName } from "./kinds";
import { JsonScanner } from "./scanner";

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
