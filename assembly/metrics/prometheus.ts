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
// MAX (the hottest engine is the one that will preempt), and the token
// counters (prompt, prefix-cache queries and hits, generation) are SUMMED
// (every engine's work). Non-finite or
// negative sample values are ignored (a NaN queue carries no information).
import { ByteWriter } from "../util/bytes";
import { isLabelNameByte, isNameByte, newlineMask64, nextQuoteOrEscape, sameBytes, skipBlanksFrom, skippable, skipQuoted, startsWithVllm, VLLM_PREFIX_LEN } from "./lines";
import { parseGoFloat, parseNonNegativeInt, ParsedNumber, trimAscii } from "./numbers";
import { EndpointMetrics, MAX_ADAPTER_NAME_BYTES, MAX_ADAPTERS } from "./signals";

// Metric kinds this parser extracts.
const KIND_OTHER: i32 = 0;
const KIND_WAITING: i32 = 1;
const KIND_RUNNING: i32 = 2;
const KIND_KV: i32 = 3;
const KIND_GPU_KV: i32 = 4;
const KIND_LORA: i32 = 5;
const KIND_CACHE_CONFIG: i32 = 6;
const KIND_PROMPT_TOKENS: i32 = 7;
const KIND_PREFIX_QUERIES: i32 = 8;
const KIND_PREFIX_HITS: i32 = 9;
const KIND_GENERATION_TOKENS: i32 = 10;

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
const NAME_PROMPT_TOKENS = bytesOf("vllm:prompt_tokens_total");
const NAME_PREFIX_QUERIES = bytesOf("vllm:prefix_cache_queries_total");
const NAME_PREFIX_HITS = bytesOf("vllm:prefix_cache_hits_total");
const NAME_GENERATION_TOKENS = bytesOf("vllm:generation_tokens_total");
const LNAME_RUNNING_ADAPTERS = bytesOf("running_lora_adapters");
const LNAME_WAITING_ADAPTERS = bytesOf("waiting_lora_adapters");
const LNAME_MAX_LORA = bytesOf("max_lora");
const LNAME_BLOCK_SIZE = bytesOf("block_size");
const LNAME_NUM_GPU_BLOCKS = bytesOf("num_gpu_blocks");

function bytesOf(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

/** The slot a label of a `kind` line is kept in, or LABEL_NONE. */
function labelSlot(kind: i32, name: usize, len: i32): i32 {
  if (kind == KIND_LORA) {
    if (isName(name, len, LNAME_RUNNING_ADAPTERS)) return LABEL_RUNNING_ADAPTERS;
    if (isName(name, len, LNAME_WAITING_ADAPTERS)) return LABEL_WAITING_ADAPTERS;
    if (isName(name, len, LNAME_MAX_LORA)) return LABEL_MAX_LORA;
  } else if (kind == KIND_CACHE_CONFIG) {
    if (isName(name, len, LNAME_BLOCK_SIZE)) return LABEL_BLOCK_SIZE;
    if (isName(name, len, LNAME_NUM_GPU_BLOCKS)) return LABEL_NUM_GPU_BLOCKS;
  }
  return LABEL_NONE;
}

function isName(at: usize, len: i32, name: Uint8Array): bool {
  return len == name.length && sameBytes(at, name.dataStart, len);
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
  const line = LINE_PARSER;
  line.start(body);
  const n = body.length;
  const base = body.dataStart;
  let start = 0; // of the current line
  let block = 0;
  for (; block + 64 <= n; block += 64) {
    let mask = newlineMask64(base + <usize>block);
    while (mask != 0) {
      const end = block + <i32>ctz(mask);
      if (!skippable(base, start, end)) line.parse(start, end, acc);
      start = end + 1;
      mask &= mask - 1;
    }
  }
  for (let i = block; i < n; i++) {
    if (load<u8>(base + <usize>i) != 0x0a) continue;
    if (!skippable(base, start, i)) line.parse(start, i, acc);
    start = i + 1;
  }
  // The last line needs no newline.
  if (start < n && !skippable(base, start, n)) line.parse(start, n, acc);
  return acc.finish();
}

/** Parses one line [start, end) of the body into the accumulator. */
class LineParser {
  body: Uint8Array = new Uint8Array(0);
  /** body.dataStart: the byte loops read through it, not through the array. */
  base: usize = 0;
  pos: i32 = 0;
  end: i32 = 0;
  labels: StaticArray<string> = new StaticArray<string>(LABEL_SLOTS);
  labelSeen: StaticArray<bool> = new StaticArray<bool>(LABEL_SLOTS);
  scratch: ByteWriter = new ByteWriter(64);
  value: ParsedNumber = new ParsedNumber();

  /** Begins a page (the parser and its buffers are reused from page to page). */
  start(body: Uint8Array): void {
    this.body = body;
    this.base = body.dataStart;
    // Nothing of the last page is kept alive (a label value can be large).
    for (let i = 0; i < LABEL_SLOTS; i++) unchecked((this.labels[i] = ""));
    if (this.scratch.length > SCRATCH_KEPT_BYTES) this.scratch = new ByteWriter(64);
  }

  // @ts-ignore: decorator
  @inline
  private peek(): i32 {
    return this.pos < this.end ? <i32>load<u8>(this.base + <usize>this.pos) : -1;
  }

  // @ts-ignore: decorator
  @inline
  private skipBlanks(): void {
    this.pos = skipBlanksFrom(this.base, this.pos, this.end);
  }

  parse(start: i32, end: i32, acc: Accumulator): void {
    // Tolerate CRLF line endings.
    if (end > start && load<u8>(this.base + <usize>(end - 1)) == 0x0d) end--;
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
    if (this.pos == before || !this.parseValue()) {
      acc.out.rejectedLines++;
      return;
    }
    // A timestamp and/or an OpenMetrics exemplar ("# {...} v") may follow;
    // neither matters for a gauge read every 50 ms.
    acc.out.samples++;
    this.apply(kind, this.value.value, acc);
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
    const base = this.base;
    if (start >= this.end || !isNameByte(load<u8>(base + <usize>start), true)) return -1;
    if (!startsWithVllm(base, start, this.end)) return KIND_OTHER;
    const c = load<u8>(base + <usize>(start + VLLM_PREFIX_LEN));
    if (c == 0x6e /* n */) {
      if (this.startsWithName(start, NAME_WAITING)) return KIND_WAITING;
      if (this.startsWithName(start, NAME_RUNNING)) return KIND_RUNNING;
    } else if (c == 0x6b /* k */) {
      if (this.startsWithName(start, NAME_KV)) return KIND_KV;
    } else if (c == 0x67 /* g */) {
      if (this.startsWithName(start, NAME_GPU_KV)) return KIND_GPU_KV;
      if (this.startsWithName(start, NAME_GENERATION_TOKENS)) return KIND_GENERATION_TOKENS;
    } else if (c == 0x6c /* l */) {
      if (this.startsWithName(start, NAME_LORA)) return KIND_LORA;
    } else if (c == 0x63 /* c */) {
      if (this.startsWithName(start, NAME_CACHE_CONFIG)) return KIND_CACHE_CONFIG;
    } else if (c == 0x70 /* p */) {
      if (this.startsWithName(start, NAME_PROMPT_TOKENS)) return KIND_PROMPT_TOKENS;
      if (this.startsWithName(start, NAME_PREFIX_QUERIES)) return KIND_PREFIX_QUERIES;
      if (this.startsWithName(start, NAME_PREFIX_HITS)) return KIND_PREFIX_HITS;
    }
    return KIND_OTHER;
  }

  /** The line's name at `start` is exactly `name`; on success the position moves past it. */
  private startsWithName(start: i32, name: Uint8Array): bool {
    const len = name.length;
    if (this.end - start < len || !sameBytes(this.base + <usize>start, name.dataStart, len)) return false;
    if (start + len < this.end && isNameByte(load<u8>(this.base + <usize>(start + len)), false)) return false;
    this.pos = start + len;
    return true;
  }

  /** After "{": reads labels up to and including "}". */
  private parseLabels(kind: i32): bool {
    const base = this.base;
    const end = this.end;
    let p = this.pos;
    while (true) {
      p = skipBlanksFrom(base, p, end);
      if (p >= end) break;
      if (load<u8>(base + <usize>p) == 0x7d /* } */) {
        this.pos = p + 1;
        return true;
      }
      // The label name.
      const nameStart = p;
      while (p < end && isLabelNameByte(load<u8>(base + <usize>p), p == nameStart)) p++;
      if (p == nameStart) break;
      const slot = labelSlot(kind, base + <usize>nameStart, p - nameStart);
      p = skipBlanksFrom(base, p, end);
      if (p >= end || load<u8>(base + <usize>p) != 0x3d /* = */) break;
      p = skipBlanksFrom(base, p + 1, end);
      if (p >= end || load<u8>(base + <usize>p) != 0x22 /* " */) break;
      p = slot == LABEL_NONE ? skipQuoted(base, p + 1, end) : this.keepQuoted(p + 1, slot);
      if (p < 0) return false;
      p = skipBlanksFrom(base, p, end);
      if (p >= end) break;
      const sep = load<u8>(base + <usize>p);
      if (sep == 0x2c /* , */) p++;
      else if (sep != 0x7d /* } */) break;
    }
    return false;
  }

  /** A kept label value after its opening quote, unescaped into labels[slot]; the position after the closing quote, or -1. */
  private keepQuoted(from: i32, slot: i32): i32 {
    const base = this.base;
    const end = this.end;
    // Most kept values have no escape: decoded straight from the page.
    const q = nextQuoteOrEscape(base, from, end);
    if (q < end && load<u8>(base + <usize>q) == 0x22) {
      unchecked((this.labels[slot] = String.UTF8.decodeUnsafe(base + <usize>from, <usize>(q - from))));
      unchecked((this.labelSeen[slot] = true));
      return q + 1;
    }
    const w = this.scratch;
    w.reset();
    let p = from;
    while (p < end) {
      const c = load<u8>(base + <usize>p);
      p++;
      if (c == 0x22) {
        unchecked((this.labels[slot] = String.UTF8.decodeUnsafe(w.view().dataStart, <usize>w.length)));
        unchecked((this.labelSeen[slot] = true));
        return p;
      }
      if (c == 0x5c /* \ */) {
        if (p >= end) return -1;
        const e = load<u8>(base + <usize>p);
        p++;
        w.byte(e == 0x6e /* n */ ? 0x0a : e); // \\ \" \n (others: the char itself)
        continue;
      }
      w.byte(c);
    }
    return -1; // no closing quote on this line
  }

  /** The sample's value token into this.value; false when it is not a number. */
  private parseValue(): bool {
    const base = this.base;
    const end = this.end;
    const start = this.pos;
    let p = start;
    while (p < end) {
      const c = load<u8>(base + <usize>p);
      if (c == 0x20 || c == 0x09) break;
      p++;
    }
    this.pos = p;
    return parseGoFloat(this.body, start, p, this.value);
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
    } else if (kind == KIND_PROMPT_TOKENS) {
      if (usable) {
        m.promptTokens += v;
        m.hasPromptTokens = true;
      }
    } else if (kind == KIND_PREFIX_QUERIES) {
      if (usable) {
        m.prefixQueries += v;
        m.hasPrefixQueries = true;
      }
    } else if (kind == KIND_PREFIX_HITS) {
      if (usable) {
        m.prefixHits += v;
        m.hasPrefixHits = true;
      }
    } else if (kind == KIND_GENERATION_TOKENS) {
      if (usable) {
        m.generationTokens += v;
        m.hasGenerationTokens = true;
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

/** A label value buffer grown past this by a page is not kept for the next. */
const SCRATCH_KEPT_BYTES: i32 = 4096;
/** One line parser for every page: its buffers are kept, not allocated per scrape. */
const LINE_PARSER = new LineParser();

/** A comma-separated adapter list: names trimmed of ASCII whitespace, empties dropped, bounded. */
export function splitAdapters(list: string): Array<string> {
  const out = new Array<string>();
  let start = 0;
  const n = list.length;
  for (let i = 0; i <= n; i++) {
    if (i < n && list.charCodeAt(i) != 0x2c) continue;
    const name = trimAscii(list.substring(start, i));
    start = i + 1;
    if (name.length == 0) continue;
    if (String.UTF8.byteLength(name) > MAX_ADAPTER_NAME_BYTES) continue;
    if (out.length >= MAX_ADAPTERS) break;
    out.push(name);
  }
  return out;
}

