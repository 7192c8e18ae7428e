// Parser of the Prometheus text exposition format for the body of a vLLM
// server's GET /metrics (the signals the scorers use: docs/design.md).
//
// Format: https://prometheus.io/docs/instrumenting/exposition_formats/
//   line      = comment | sample | empty
//   comment   = "#" anything            (HELP, TYPE, EOF, plain comments)
//   sample    = name [ "{" labels "}" ] ws value [ ws timestamp ] [ ws "#" exemplar ]
//   labels    = label { "," label } [ "," ]
//   label     = lname "=" '"' escaped '"'   (escapes: \\  \"  \n)
//
// Rules this parser keeps:
//  - It never traps, whatever the server returns: every read is bounds
//    checked, nothing throws, and a line that does not parse is skipped (and
//    counted in `rejectedLines`) instead of failing the whole page. The
//    upstream picker's Go parser drops the whole page on a syntax error; a lenient parser keeps
//    the metrics we understand when a server adds a line we do not.
//  - It works on the UTF-8 bytes; only the label values we need (adapter
//    lists, integers) become strings, and those are bounded (MAX_ADAPTERS,
//    MAX_ADAPTER_NAME_BYTES), so a hostile 1 MB label cannot blow up state.
//  - Missing values are unknown, not zero: every field has a presence flag.
//
// Several series of one metric (vLLM labels them by model_name and, with data
// parallelism, by engine): waiting and running are SUMMED (requests queued on
// any engine of the server are queued on the server), KV-cache usage takes the
// MAX (the hottest engine is the one that will preempt). Non-finite or
// negative sample values are ignored (a NaN queue carries no information).
import { ByteWriter } from "../util/bytes";

export const MAX_ADAPTERS: i32 = 64;
export const MAX_ADAPTER_NAME_BYTES: i32 = 256;
/** Longest value token we accept (Go's float syntax never needs more). */
const MAX_NUMBER_BYTES: i32 = 64;

/**
 * The load and cache signals a model server reports, each with a presence
 * flag (has* = false: unknown, never zero by default). Shared by a scrape's
 * result (EndpointMetrics) and the scheduler's view of an endpoint
 * (pool/endpoint_state.ts EndpointState).
 */
export class ServerSignals {
  waiting: f64 = 0;
  hasWaiting: bool = false;
  running: f64 = 0;
  hasRunning: bool = false;
  /** Fraction 0..1 of the KV cache in use, clamped to [0,1]. */
  kvCacheUsage: f64 = 0;
  hasKvCacheUsage: bool = false;
  runningLoras: Array<string> = [];
  waitingLoras: Array<string> = [];
  /** The lists above come from a `vllm:lora_requests_info` series. */
  hasLoras: bool = false;
  maxLoras: i32 = 0;
  hasMaxLoras: bool = false;
  blockSize: i32 = 0;
  hasBlockSize: bool = false;
  numGpuBlocks: i32 = 0;
  hasNumGpuBlocks: bool = false;
}

/** What a scrape told us about one server. */
export class EndpointMetrics extends ServerSignals {
  /** Sample lines of the metrics above that were accepted (other metrics are skipped unparsed). */
  samples: i32 = 0;
  /** Lines that did not parse and were skipped (lines without a metric name, or of the metrics above). */
  rejectedLines: i32 = 0;
}

// Metric kinds this parser extracts.
const KIND_OTHER: i32 = 0;
const KIND_WAITING: i32 = 1;
const KIND_RUNNING: i32 = 2;
const KIND_KV: i32 = 3;
const KIND_GPU_KV: i32 = 4;
const KIND_LORA: i32 = 5;
const KIND_CACHE_CONFIG: i32 = 6;

// Label slots kept while parsing one line (only for LORA and CACHE_CONFIG).
const LABEL_NONE: i32 = -1;
const LABEL_RUNNING_ADAPTERS: i32 = 0;
const LABEL_WAITING_ADAPTERS: i32 = 1;
const LABEL_MAX_LORA: i32 = 2;
const LABEL_BLOCK_SIZE: i32 = 3;
const LABEL_NUM_GPU_BLOCKS: i32 = 4;
const LABEL_SLOTS: i32 = 5;

const NAME_WAITING = bytesOf("vllm:num_requests_waiting");
const NAME_RUNNING = bytesOf("vllm:num_requests_running");
const NAME_KV = bytesOf("vllm:kv_cache_usage_perc");
const NAME_GPU_KV = bytesOf("vllm:gpu_cache_usage_perc");
const NAME_LORA = bytesOf("vllm:lora_requests_info");
const NAME_CACHE_CONFIG = bytesOf("vllm:cache_config_info");
const LNAME_RUNNING_ADAPTERS = bytesOf("running_lora_adapters");
const LNAME_WAITING_ADAPTERS = bytesOf("waiting_lora_adapters");
const LNAME_MAX_LORA = bytesOf("max_lora");
const LNAME_BLOCK_SIZE = bytesOf("block_size");
const LNAME_NUM_GPU_BLOCKS = bytesOf("num_gpu_blocks");

// Every name above starts with "vllm:" ("vllm" as a little-endian u32, then ":").
const VLLM_PREFIX_LEN: i32 = 5;
const VLLM_PREFIX_WORD: u32 = 0x6d6c6c76;

function bytesOf(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

/** Accumulates samples across lines, then produces EndpointMetrics. */
class Accumulator {
  out: EndpointMetrics = new EndpointMetrics();
  gpuKv: f64 = 0;
  hasGpuKv: bool = false;
  // Best lora_requests_info series with at least one adapter label non-empty.
  loraValue: f64 = -Infinity;
  hasLoraSeries: bool = false;
  loraRunning: string = "";
  loraWaiting: string = "";
  loraMax: string = "";
  loraHasMax: bool = false;
  // Best series with both adapter labels empty (fallback, see finish()).
  emptyLoraValue: f64 = -Infinity;
  hasEmptyLoraSeries: bool = false;
  emptyLoraMax: string = "";
  emptyLoraHasMax: bool = false;

  finish(): EndpointMetrics {
    const m = this.out;
    // The older name is only used when the newer one is absent (vLLM V1
    // renamed gpu_cache_usage_perc to kv_cache_usage_perc).
    if (!m.hasKvCacheUsage && this.hasGpuKv) {
      m.kvCacheUsage = this.gpuKv;
      m.hasKvCacheUsage = true;
    }
    if (m.hasKvCacheUsage) m.kvCacheUsage = clamp01(m.kvCacheUsage);
    if (this.hasLoraSeries) {
      m.hasLoras = true;
      m.runningLoras = splitAdapters(this.loraRunning);
      m.waitingLoras = splitAdapters(this.loraWaiting);
      if (this.loraHasMax) setMaxLoras(m, this.loraMax);
    } else if (this.hasEmptyLoraSeries) {
      // The upstream picker ignores series whose adapter labels are both empty.
      // When they are all we have, LoRA is on and nothing is loaded: we keep
      // that (empty lists, max_lora) so the free-slot rule can apply, rather
      // than calling the LoRA state unknown.
      m.hasLoras = true;
      if (this.emptyLoraHasMax) setMaxLoras(m, this.emptyLoraMax);
    }
    return m;
  }
}

function setMaxLoras(m: EndpointMetrics, text: string): void {
  const v = parseNonNegativeInt(text);
  if (v >= 0) {
    m.maxLoras = v;
    m.hasMaxLoras = true;
  }
}

function clamp01(x: f64): f64 {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/**
 * Parses a vLLM /metrics body. Never traps; unknown metrics are ignored,
 * malformed lines skipped.
 */
export function parseVllmMetrics(body: Uint8Array): EndpointMetrics {
  const acc = new Accumulator();
  const line = new LineParser(body);
  let pos = 0;
  const n = body.length;
  const base = body.dataStart;
  while (pos < n) {
    const end = indexOfNewline(body, pos);
    if (!skippable(base, pos, end)) line.parse(pos, end, acc);
    pos = end + 1;
  }
  return acc.finish();
}

/**
 * True for a line LineParser.parse would leave without effect, decided from
 * its first bytes: a comment (HELP, TYPE) or a sample of a family we do not
 * read (its name starts with a name byte and not with "vllm:" plus the first
 * letter of a wanted name). Anything else (blank-led, malformed, short or
 * wanted lines) goes to the full parse, so the result is exactly the same.
 * Most lines of a vLLM page are histogram buckets: this keeps them to one
 * or two loads each.
 */
// @ts-ignore: decorator
@inline
function skippable(base: usize, start: i32, end: i32): bool {
  if (start >= end) return false;
  const c = load<u8>(base + <usize>start);
  if (c == 0x23 /* # */) return true;
  if (!isNameByte(c, true)) return false;
  if (end - start <= VLLM_PREFIX_LEN || load<u32>(base + <usize>start) != VLLM_PREFIX_WORD || load<u8>(base + <usize>start, 4) != 0x3a) return true;
  const k = load<u8>(base + <usize>(start + VLLM_PREFIX_LEN));
  return k != 0x6e && k != 0x6b && k != 0x67 && k != 0x6c && k != 0x63; // n k g l c: the wanted names
}

/**
 * Index of the next "\n" at or after `from`, or b.length. Eight bytes at a
 * time (SWAR "has zero byte" test on the word XOR 0x0a..0a): the lowest set
 * bit of the test is exact for the first match, false positives only occur
 * above a real match. Scanning dominates the cost of a /metrics page.
 */
function indexOfNewline(b: Uint8Array, from: i32): i32 {
  const n = b.length;
  const base = b.dataStart;
  let i = from;
  while (i + 8 <= n) {
    const w = load<u64>(base + <usize>i) ^ 0x0a0a0a0a0a0a0a0a;
    const t = (w - 0x0101010101010101) & ~w & 0x8080808080808080;
    if (t != 0) return i + <i32>(ctz<u64>(t) >> 3);
    i += 8;
  }
  while (i < n && load<u8>(base + <usize>i) != 0x0a) i++;
  return i;
}

/** Parses one line [start, end) of the body into the accumulator. */
class LineParser {
  body: Uint8Array;
  pos: i32 = 0;
  end: i32 = 0;
  labels: StaticArray<string> = new StaticArray<string>(LABEL_SLOTS);
  labelSeen: StaticArray<bool> = new StaticArray<bool>(LABEL_SLOTS);
  scratch: ByteWriter = new ByteWriter(64);

  constructor(body: Uint8Array) {
    this.body = body;
  }

  private peek(): i32 {
    return this.pos < this.end ? <i32>unchecked(this.body[this.pos]) : -1;
  }

  private skipBlanks(): void {
    while (this.pos < this.end) {
      const c = unchecked(this.body[this.pos]);
      if (c != 0x20 && c != 0x09) break;
      this.pos++;
    }
  }

  parse(start: i32, end: i32, acc: Accumulator): void {
    // Tolerate CRLF line endings.
    if (end > start && this.body[end - 1] == 0x0d) end--;
    this.pos = start;
    this.end = end;
    this.skipBlanks();
    const c = this.peek();
    if (c < 0 || c == 0x23 /* # */) return; // empty, HELP, TYPE, comment
    const kind = this.parseName();
    if (kind < 0) {
      acc.out.rejectedLines++;
      return;
    }
    // Most of a vLLM page is histograms we do not read: skip them unparsed.
    if (kind == KIND_OTHER) return;
    for (let i = 0; i < LABEL_SLOTS; i++) unchecked((this.labelSeen[i] = false));
    if (this.peek() == 0x7b /* { */) {
      this.pos++;
      if (!this.parseLabels(kind)) {
        acc.out.rejectedLines++;
        return;
      }
    }
    const before = this.pos;
    this.skipBlanks();
    if (this.pos == before) {
      acc.out.rejectedLines++;
      return;
    }
    const value = this.parseValue();
    if (!value.ok) {
      acc.out.rejectedLines++;
      return;
    }
    // A timestamp and/or an OpenMetrics exemplar ("# {...} v") may follow;
    // neither matters for a gauge read every 50 ms.
    acc.out.samples++;
    this.apply(kind, value.value, acc);
  }

  /**
   * Reads the metric name; returns its kind, or -1 when there is none. Most
   * of a vLLM page is families we do not read (histogram buckets, counters,
   * process and GC metrics), so their names are never scanned: every name we
   * read starts with "vllm:", a line that does not is KIND_OTHER once its
   * first byte shows it has a name, and a "vllm:" line is compared with each
   * wanted name directly (a wanted name followed by a byte that cannot
   * continue a name is exactly a full-name match). Only the position after a
   * wanted name matters; other lines are skipped whole by the caller.
   */
  private parseName(): i32 {
    const start = this.pos;
    if (start >= this.end || !isNameByte(unchecked(this.body[start]), true)) return -1;
    if (this.end - start <= VLLM_PREFIX_LEN || load<u32>(this.body.dataStart + <usize>start) != VLLM_PREFIX_WORD || unchecked(this.body[start + 4]) != 0x3a) return KIND_OTHER;
    const c = unchecked(this.body[start + VLLM_PREFIX_LEN]);
    if (c == 0x6e /* n */) {
      if (this.startsWithName(start, NAME_WAITING)) return KIND_WAITING;
      if (this.startsWithName(start, NAME_RUNNING)) return KIND_RUNNING;
    } else if (c == 0x6b /* k */) {
      if (this.startsWithName(start, NAME_KV)) return KIND_KV;
    } else if (c == 0x67 /* g */) {
      if (this.startsWithName(start, NAME_GPU_KV)) return KIND_GPU_KV;
    } else if (c == 0x6c /* l */) {
      if (this.startsWithName(start, NAME_LORA)) return KIND_LORA;
    } else if (c == 0x63 /* c */) {
      if (this.startsWithName(start, NAME_CACHE_CONFIG)) return KIND_CACHE_CONFIG;
    }
    return KIND_OTHER;
  }

  /** The line's name at `start` is exactly `name`; on success the position moves past it. */
  private startsWithName(start: i32, name: Uint8Array): bool {
    const len = name.length;
    if (this.end - start < len) return false;
    if (memory.compare(this.body.dataStart + <usize>start, name.dataStart, <usize>len) != 0) return false;
    if (start + len < this.end && isNameByte(unchecked(this.body[start + len]), false)) return false;
    this.pos = start + len;
    return true;
  }

  private matches(start: i32, len: i32, name: Uint8Array): bool {
    if (len != name.length) return false;
    return memory.compare(this.body.dataStart + <usize>start, name.dataStart, <usize>len) == 0;
  }

  /** After "{": reads labels up to and including "}". */
  private parseLabels(kind: i32): bool {
    while (true) {
      this.skipBlanks();
      const c = this.peek();
      if (c == 0x7d /* } */) {
        this.pos++;
        return true;
      }
      if (c < 0) return false;
      const slot = this.parseLabelName(kind);
      if (slot == -2) return false;
      this.skipBlanks();
      if (this.peek() != 0x3d /* = */) return false;
      this.pos++;
      this.skipBlanks();
      if (this.peek() != 0x22 /* " */) return false;
      this.pos++;
      if (!this.parseLabelValue(slot)) return false;
      this.skipBlanks();
      const sep = this.peek();
      if (sep == 0x2c /* , */) {
        this.pos++;
      } else if (sep != 0x7d) {
        return false;
      }
    }
    return false; // unreachable; keeps the compiler's flow analysis happy
  }

  /** Returns the slot to keep the value in, LABEL_NONE to skip it, -2 on error. */
  private parseLabelName(kind: i32): i32 {
    const start = this.pos;
    // Locals, not fields, in the byte loops (a field is a memory access per byte).
    const base = this.body.dataStart;
    const end = this.end;
    let p = start;
    while (p < end && isLabelNameByte(load<u8>(base + <usize>p), p == start)) p++;
    this.pos = p;
    const len = p - start;
    if (len == 0) return -2;
    if (kind == KIND_LORA) {
      if (this.matches(start, len, LNAME_RUNNING_ADAPTERS)) return LABEL_RUNNING_ADAPTERS;
      if (this.matches(start, len, LNAME_WAITING_ADAPTERS)) return LABEL_WAITING_ADAPTERS;
      if (this.matches(start, len, LNAME_MAX_LORA)) return LABEL_MAX_LORA;
    } else if (kind == KIND_CACHE_CONFIG) {
      if (this.matches(start, len, LNAME_BLOCK_SIZE)) return LABEL_BLOCK_SIZE;
      if (this.matches(start, len, LNAME_NUM_GPU_BLOCKS)) return LABEL_NUM_GPU_BLOCKS;
    }
    return LABEL_NONE;
  }

  /** After the opening quote: reads up to and including the closing quote. */
  private parseLabelValue(slot: i32): bool {
    const keep = slot >= 0;
    if (!keep) return this.skipLabelValue();
    const w = this.scratch;
    w.reset();
    while (this.pos < this.end) {
      const c = unchecked(this.body[this.pos]);
      this.pos++;
      if (c == 0x22) {
        if (keep) {
          unchecked((this.labels[slot] = String.UTF8.decodeUnsafe(w.view().dataStart, <usize>w.length)));
          unchecked((this.labelSeen[slot] = true));
        }
        return true;
      }
      if (c == 0x5c /* \ */) {
        if (this.pos >= this.end) return false;
        const e = unchecked(this.body[this.pos]);
        this.pos++;
        if (keep) w.byte(e == 0x6e /* n */ ? 0x0a : e); // \\ \" \n (others: the char itself)
        continue;
      }
      if (keep) w.byte(c);
    }
    return false; // no closing quote on this line
  }

  /** parseLabelValue for a value that is not kept: to the closing quote, over escapes. */
  private skipLabelValue(): bool {
    const base = this.body.dataStart;
    const end = this.end;
    let p = this.pos;
    while (p < end) {
      const c = load<u8>(base + <usize>p);
      p++;
      if (c == 0x22) {
        this.pos = p;
        return true;
      }
      if (c == 0x5c /* \ */) {
        if (p >= end) {
          this.pos = p;
          return false;
        }
        p++; // the escaped byte
      }
    }
    this.pos = p;
    return false; // no closing quote on this line
  }

  private parseValue(): NumberResult {
    const start = this.pos;
    while (this.pos < this.end) {
      const c = unchecked(this.body[this.pos]);
      if (c == 0x20 || c == 0x09) break;
      this.pos++;
    }
    return parseGoFloat(this.body, start, this.pos);
  }

  private label(slot: i32): string {
    return unchecked(this.labelSeen[slot]) ? unchecked(this.labels[slot]) : "";
  }

  private apply(kind: i32, v: f64, acc: Accumulator): void {
    const m = acc.out;
    const usable = isFinite(v) && v >= 0;
    if (kind == KIND_WAITING) {
      if (usable) {
        m.waiting += v;
        m.hasWaiting = true;
      }
    } else if (kind == KIND_RUNNING) {
      if (usable) {
        m.running += v;
        m.hasRunning = true;
      }
    } else if (kind == KIND_KV) {
      if (usable && (!m.hasKvCacheUsage || v > m.kvCacheUsage)) {
        m.kvCacheUsage = v;
        m.hasKvCacheUsage = true;
      }
    } else if (kind == KIND_GPU_KV) {
      if (usable && (!acc.hasGpuKv || v > acc.gpuKv)) {
        acc.gpuKv = v;
        acc.hasGpuKv = true;
      }
    } else if (kind == KIND_LORA) {
      this.applyLora(v, acc);
    } else if (kind == KIND_CACHE_CONFIG) {
      // Value is always 1 (an "info" metric); the labels carry the data.
      if (unchecked(this.labelSeen[LABEL_BLOCK_SIZE])) {
        const b = parseNonNegativeInt(unchecked(this.labels[LABEL_BLOCK_SIZE]));
        if (b >= 0 && !m.hasBlockSize) {
          m.blockSize = b;
          m.hasBlockSize = true;
        }
      }
      if (unchecked(this.labelSeen[LABEL_NUM_GPU_BLOCKS])) {
        const g = parseNonNegativeInt(unchecked(this.labels[LABEL_NUM_GPU_BLOCKS]));
        if (g >= 0 && !m.hasNumGpuBlocks) {
          m.numGpuBlocks = g;
          m.hasNumGpuBlocks = true;
        }
      }
    }
  }

  // vLLM writes one lora_requests_info series per adapter-set change, with the
  // time of the change as value: the series with the LARGEST value is the
  // current one (as upstream reads it). Ties keep the first series seen. NaN values never win.
  private applyLora(v: f64, acc: Accumulator): void {
    if (isNaN(v)) return;
    const running = this.label(LABEL_RUNNING_ADAPTERS);
    const waiting = this.label(LABEL_WAITING_ADAPTERS);
    const hasMax = unchecked(this.labelSeen[LABEL_MAX_LORA]);
    const max = this.label(LABEL_MAX_LORA);
    if (running.length == 0 && waiting.length == 0) {
      if (!acc.hasEmptyLoraSeries || v > acc.emptyLoraValue) {
        acc.hasEmptyLoraSeries = true;
        acc.emptyLoraValue = v;
        acc.emptyLoraMax = max;
        acc.emptyLoraHasMax = hasMax;
      }
      return;
    }
    if (!acc.hasLoraSeries || v > acc.loraValue) {
      acc.hasLoraSeries = true;
      acc.loraValue = v;
      acc.loraRunning = running;
      acc.loraWaiting = waiting;
      acc.loraMax = max;
      acc.loraHasMax = hasMax;
    }
  }
}

function isNameByte(c: u8, first: bool): bool {
  if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c == 0x5f || c == 0x3a) return true;
  return !first && c >= 0x30 && c <= 0x39;
}

function isLabelNameByte(c: u8, first: bool): bool {
  if (c == 0x3a) return false;
  return isNameByte(c, first);
}

/** A comma-separated adapter list: names trimmed, empties dropped, bounded. */
export function splitAdapters(list: string): Array<string> {
  const out = new Array<string>();
  let start = 0;
  const n = list.length;
  for (let i = 0; i <= n; i++) {
    if (i < n && list.charCodeAt(i) != 0x2c) continue;
    const name = list.substring(start, i).trim();
    start = i + 1;
    if (name.length == 0) continue;
    if (String.UTF8.byteLength(name) > MAX_ADAPTER_NAME_BYTES) continue;
    if (out.length >= MAX_ADAPTERS) break;
    out.push(name);
  }
  return out;
}

/** Decimal digits only, at most i32 max; -1 for anything else (e.g. "None"). */
export function parseNonNegativeInt(text: string): i32 {
  const s = text.trim();
  const n = s.length;
  if (n == 0 || n > 10) return -1;
  let v: i64 = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + <i64>(c - 0x30);
  }
  return v > <i64>i32.MAX_VALUE ? -1 : <i32>v;
}

export class NumberResult {
  constructor(public ok: bool, public value: f64) {}
}

const BAD_NUMBER = new NumberResult(false, 0);

/**
 * Go's strconv.ParseFloat syntax as Prometheus writes it: decimal with
 * optional fraction and exponent, or (case-insensitively) Inf, +Inf, -Inf,
 * Infinity, NaN. Hex floats and underscores are refused. The token is
 * validated here byte by byte; only then is it handed (short, ASCII) to
 * AssemblyScript's parseFloat.
 */
export function parseGoFloat(b: Uint8Array, start: i32, end: i32): NumberResult {
  if (start < 0 || end > b.length || start >= end) return BAD_NUMBER;
  const len = end - start;
  if (len > MAX_NUMBER_BYTES) return BAD_NUMBER;
  let i = start;
  let negative = false;
  const s0 = unchecked(b[i]);
  if (s0 == 0x2b || s0 == 0x2d) {
    negative = s0 == 0x2d;
    i++;
  }
  if (i >= end) return BAD_NUMBER;
  const first = unchecked(b[i]) | 0x20; // lower-case letters
  if (first == 0x69 /* i */ || first == 0x6e /* n */) {
    const word = lowerAscii(b, i, end);
    if (word == "inf" || word == "infinity") return new NumberResult(true, negative ? -Infinity : Infinity);
    if (word == "nan") return new NumberResult(true, NaN);
    return BAD_NUMBER;
  }
  let digits = 0;
  while (i < end && isDigit(unchecked(b[i]))) {
    i++;
    digits++;
  }
  if (i < end && unchecked(b[i]) == 0x2e /* . */) {
    i++;
    while (i < end && isDigit(unchecked(b[i]))) {
      i++;
      digits++;
    }
  }
  if (digits == 0) return BAD_NUMBER;
  if (i < end && (unchecked(b[i]) | 0x20) == 0x65 /* e */) {
    i++;
    if (i < end && (unchecked(b[i]) == 0x2b || unchecked(b[i]) == 0x2d)) i++;
    let expDigits = 0;
    while (i < end && isDigit(unchecked(b[i]))) {
      i++;
      expDigits++;
    }
    if (expDigits == 0) return BAD_NUMBER;
  }
  if (i != end) return BAD_NUMBER;
  const text = String.UTF8.decodeUnsafe(b.dataStart + <usize>start, <usize>len);
  return new NumberResult(true, parseFloat(text));
}

function isDigit(c: u8): bool {
  return c >= 0x30 && c <= 0x39;
}

function lowerAscii(b: Uint8Array, start: i32, end: i32): string {
  if (end - start > 8) return "";
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(<i32>(unchecked(b[i]) | 0x20));
  return s;
}
