// The /metrics parser (assembly/metrics) against a straightforward reference
// written here from the rules in assembly/metrics/prometheus.ts: split the
// page into lines, tokenize every line, regular expressions for names and
// numbers, JavaScript's Number() for values. The filter's parser skips
// lines from their first bytes and reads numbers without strings; on random
// pages both must give exactly the same values and line counts.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, ROOT, type Units, UNKNOWN_SIGNALS, VLLM_V1_FIXTURE, VLLM_V1_FIXTURE_VALUES } from "../support";

let u: Units<"scoring">;
beforeAll(async () => {
  u = await loadUnits("scoring");
});

const enc = (s: string) => new TextEncoder().encode(s);

// ---- the reference --------------------------------------------------------

interface Reference {
  samples: number;
  rejectedLines: number;
  waiting: number | null;
  running: number | null;
  kvCacheUsage: number | null;
  maxLoras: number | null;
  blockSize: number | null;
  numGpuBlocks: number | null;
  promptTokens: number | null;
  prefixQueries: number | null;
  prefixHits: number | null;
  generationTokens: number | null;
  runningLoras: string[] | null;
  waitingLoras: string[] | null;
}

const WANTED = new Set([
  "vllm:num_requests_waiting",
  "vllm:num_requests_running",
  "vllm:kv_cache_usage_perc",
  "vllm:gpu_cache_usage_perc",
  "vllm:lora_requests_info",
  "vllm:cache_config_info",
  "vllm:prompt_tokens_total",
  "vllm:prefix_cache_queries_total",
  "vllm:prefix_cache_hits_total",
  "vllm:generation_tokens_total",
]);
const KEPT_LABELS: Record<string, string[]> = {
  "vllm:lora_requests_info": ["running_lora_adapters", "waiting_lora_adapters", "max_lora"],
  "vllm:cache_config_info": ["block_size", "num_gpu_blocks"],
};
const GO_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const GO_WORD = /^[+-]?(inf|infinity|nan)$/i;

/** Go float syntax, at most 64 bytes; null when not a number. */
function refNumber(text: string): number | null {
  if (text.length === 0 || text.length > 64) return null;
  if (GO_WORD.test(text)) return /nan/i.test(text) ? Number.NaN : text.startsWith("-") ? -Infinity : Infinity;
  return GO_NUMBER.test(text) ? Number(text) : null;
}

/** ASCII whitespace off both ends, as the parser trims label values (not String.prototype.trim's Unicode set). */
const trimAscii = (s: string) => s.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, "");

function refNonNegativeInt(text: string): number | null {
  const s = trimAscii(text);
  if (!/^\d{1,10}$/.test(s)) return null;
  const v = Number(s);
  return v > 2147483647 ? null : v;
}

function refAdapters(list: string): string[] {
  const out: string[] = [];
  for (const part of list.split(",")) {
    const name = trimAscii(part);
    if (name.length === 0 || enc(name).length > 256) continue;
    if (out.length >= 64) break;
    out.push(name);
  }
  return out;
}

/** One sample line: name, kept labels, value; null when the line is malformed. */
function refSample(line: string): { name: string; labels: Map<string, string>; value: number } | null | "other" {
  let i = 0;
  const blank = () => {
    while (line[i] === " " || line[i] === "\t") i++;
  };
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line.slice(i))?.[0];
  if (name === undefined) return null;
  if (!WANTED.has(name)) return "other";
  i += name.length;
  const labels = new Map<string, string>();
  if (line[i] === "{") {
    i++;
    for (;;) {
      blank();
      if (line[i] === "}") {
        i++;
        break;
      }
      const lname = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i))?.[0];
      if (lname === undefined) return null;
      i += lname.length;
      blank();
      if (line[i] !== "=") return null;
      i++;
      blank();
      if (line[i] !== '"') return null;
      i++;
      let value = "";
      for (;;) {
        if (i >= line.length) return null;
        const c = line[i++];
        if (c === '"') break;
        if (c === "\\") {
          if (i >= line.length) return null;
          const e = line[i++];
          value += e === "n" ? "\n" : e;
        } else value += c;
      }
      if (KEPT_LABELS[name]?.includes(lname)) labels.set(lname, value);
      blank();
      if (line[i] === ",") i++;
      else if (line[i] !== "}") return null;
    }
  }
  const before = i;
  blank();
  if (i === before) return null;
  const token = /^[^ \t]*/.exec(line.slice(i))![0];
  const value = refNumber(token);
  return value === null ? null : { name, labels, value };
}

/** The page as the rules say, line by line (ASCII pages: one char per byte). */
function refParse(page: string): Reference {
  const r: Reference = { samples: 0, rejectedLines: 0, ...UNKNOWN_SIGNALS, promptTokens: null, prefixQueries: null, prefixHits: null, generationTokens: null };
  let gpuKv: number | null = null;
  type Lora = { value: number; running: string; waiting: string; max: string | undefined };
  let lora: Lora | null = null;
  let emptyLora: Lora | null = null;
  const lines = page.split("\n");
  if (page.endsWith("\n")) lines.pop();
  for (let line of lines) {
    if (line.endsWith("\r")) line = line.slice(0, -1);
    line = line.replace(/^[ \t]*/, "");
    if (line.length === 0 || line.startsWith("#")) continue;
    const s = refSample(line);
    if (s === "other") continue;
    if (s === null) {
      r.rejectedLines++;
      continue;
    }
    r.samples++;
    const usable = Number.isFinite(s.value) && s.value >= 0;
    if (s.name === "vllm:num_requests_waiting" && usable) r.waiting = (r.waiting ?? 0) + s.value;
    else if (s.name === "vllm:num_requests_running" && usable) r.running = (r.running ?? 0) + s.value;
    // The largest value; the first of equal ones (0 and -0 are equal).
    else if (s.name === "vllm:kv_cache_usage_perc" && usable) r.kvCacheUsage = r.kvCacheUsage === null || s.value > r.kvCacheUsage ? s.value : r.kvCacheUsage;
    else if (s.name === "vllm:prompt_tokens_total" && usable) r.promptTokens = (r.promptTokens ?? 0) + s.value;
    else if (s.name === "vllm:prefix_cache_queries_total" && usable) r.prefixQueries = (r.prefixQueries ?? 0) + s.value;
    else if (s.name === "vllm:prefix_cache_hits_total" && usable) r.prefixHits = (r.prefixHits ?? 0) + s.value;
    else if (s.name === "vllm:generation_tokens_total" && usable) r.generationTokens = (r.generationTokens ?? 0) + s.value;
    else if (s.name === "vllm:gpu_cache_usage_perc" && usable) gpuKv = gpuKv === null || s.value > gpuKv ? s.value : gpuKv;
    else if (s.name === "vllm:lora_requests_info" && !Number.isNaN(s.value)) {
      const series: Lora = {
        value: s.value,
        running: s.labels.get("running_lora_adapters") ?? "",
        waiting: s.labels.get("waiting_lora_adapters") ?? "",
        max: s.labels.get("max_lora"),
      };
      // Largest value wins, ties keep the first series.
      if (series.running === "" && series.waiting === "") {
        if (emptyLora === null || series.value > emptyLora.value) emptyLora = series;
      } else if (lora === null || series.value > lora.value) lora = series;
    } else if (s.name === "vllm:cache_config_info") {
      const block = s.labels.has("block_size") ? refNonNegativeInt(s.labels.get("block_size")!) : null;
      if (block !== null && r.blockSize === null) r.blockSize = block;
      const blocks = s.labels.has("num_gpu_blocks") ? refNonNegativeInt(s.labels.get("num_gpu_blocks")!) : null;
      if (blocks !== null && r.numGpuBlocks === null) r.numGpuBlocks = blocks;
    }
  }
  if (r.kvCacheUsage === null) r.kvCacheUsage = gpuKv;
  if (r.kvCacheUsage !== null) r.kvCacheUsage = Math.min(r.kvCacheUsage, 1); // never below 0: negatives are not usable
  const chosen = lora ?? emptyLora;
  if (chosen !== null) {
    r.runningLoras = lora ? refAdapters(chosen.running) : [];
    r.waitingLoras = lora ? refAdapters(chosen.waiting) : [];
    if (chosen.max !== undefined) r.maxLoras = refNonNegativeInt(chosen.max);
  }
  return r;
}

/** The filter's parser, every number bit-exact. */
function filterParse(page: string): Reference {
  const b = enc(page);
  const v = u.parseMetricsValues(b);
  const lists = JSON.parse(u.parseMetrics(b)) as Reference;
  const known = (x: number) => (Number.isNaN(x) ? null : x);
  return {
    samples: v[0],
    rejectedLines: v[1],
    waiting: known(v[2]),
    running: known(v[3]),
    kvCacheUsage: known(v[4]),
    maxLoras: known(v[5]),
    blockSize: known(v[6]),
    numGpuBlocks: known(v[7]),
    promptTokens: known(v[8]),
    prefixQueries: known(v[9]),
    prefixHits: known(v[10]),
    generationTokens: known(v[11]),
    runningLoras: lists.runningLoras,
    waitingLoras: lists.waitingLoras,
  };
}

// ---- random pages -----------------------------------------------------------

const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`));
/**
 * Up to 15 significant digits and a decimal exponent within ±22: the values
 * servers print, read without parseFloat and so compared bit for bit with
 * Number(). Longer tokens go through AssemblyScript's parseFloat, which is
 * not always correctly rounded past 15 digits (see the table below).
 */
const exactDecimal = fc
  .tuple(fc.constantFrom("", "+", "-"), digits(0, 7), fc.boolean(), digits(0, 8), fc.option(fc.integer({ min: -13, max: 13 })))
  .filter(([, a, point, b]) => a.length + (point ? b.length : 0) > 0)
  .map(([s, a, point, b, e]) => `${s}${a}${point ? "." : ""}${point ? b : ""}${e === null ? "" : `e${e}`}`);
/** Doubles of at most 15 significant digits as JavaScript prints them. */
const shortDouble = fc
  .tuple(fc.double({ min: -1e15, max: 1e15, noNaN: true }), fc.integer({ min: 1, max: 15 }))
  .map(([x, k]) => Number(x.toPrecision(k)))
  .filter((x) => x === 0 || Math.abs(x) >= 1e-6);
/** Values as servers write them, and as they should not. */
const valueToken = fc.oneof(
  shortDouble.map(String),
  fc.integer({ min: 0, max: 1000 }).map(String),
  exactDecimal,
  fc.constantFrom("NaN", "+Inf", "-Inf", "inf", "Infinity", "1e", ".", "-", "0x10", "1_0", "1.2.3", "", "١"),
);
const labelValue = fc.oneof(
  fc.constantFrom("", "0", "16", "27000", "None", " 8 ", "a,b", "sql-lora, tweet-lora,", 'x\\"y', "q\\\\", "2147483648"),
  fc.stringMatching(/^[a-z0-9,\- ]{0,30}$/),
);
const labelName = fc.constantFrom(
  "running_lora_adapters",
  "waiting_lora_adapters",
  "max_lora",
  "block_size",
  "num_gpu_blocks",
  "engine",
  "model_name",
  "le",
  "9bad",
  "",
);
const labels = fc.array(fc.tuple(labelName, labelValue, fc.constantFrom("", " ")), { maxLength: 5 }).chain((ls) =>
  fc.constantFrom(
    `{${ls.map(([n, v, sp]) => `${n}${sp}=${sp}"${v}"`).join(",")}}`,
    `{${ls.map(([n, v]) => `${n}="${v}"`).join(",")},}`,
    `{${ls.map(([n, v]) => `${n}="${v}`).join(",")}`, // unterminated
    "",
  ),
);
const metricName = fc.constantFrom(
  ...WANTED,
  "vllm:num_requests_waiting_total",
  "vllm:kv_cache_usage_perc2",
  "vllm:num_preemptions_total",
  "vllm:e2e_request_latency_seconds_bucket",
  "vllm:cache_config",
  "vllm:prompt_tokens_created",
  "vllm:prompt_tokens",
  "vllm:prefix_cache_hits_created",
  "vllm:generation_tokens",
  "vllm:",
  "vllm",
  "process_cpu_seconds_total",
  "python_gc_objects_collected_total",
  "1vllm:num_requests_waiting",
  "",
);
const sampleLine = fc
  .tuple(
    fc.constantFrom("", " ", "\t"),
    metricName,
    labels,
    fc.constantFrom(" ", "\t", "  ", ""),
    valueToken,
    fc.constantFrom("", " 1700000000000", ' # {a="b"} 1'),
  )
  .map(([lead, name, ls, sep, value, tail]) => `${lead}${name}${ls}${sep}${value}${tail}`);
const pageLine = fc.oneof(
  { weight: 6, arbitrary: sampleLine },
  { weight: 1, arbitrary: fc.constantFrom("# HELP vllm:num_requests_waiting Requests waiting.", "# TYPE vllm:num_requests_waiting gauge", "", " ", "#") },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => s.replace(/[\n\r]/g, "").replace(/[^\x20-\x7e\t]/g, "?")) },
);
const page = fc
  .tuple(fc.array(pageLine, { maxLength: 40 }), fc.constantFrom("\n", "\r\n"), fc.boolean())
  .map(([lines, eol, last]) => lines.join(eol) + (last ? eol : ""));

// ---- properties ---------------------------------------------------------------

describe("vLLM /metrics parser against the reference", () => {
  it("adapter names lose ASCII padding only (a no-break space stays part of the name)", () => {
    const page = 'vllm:lora_requests_info{running_lora_adapters=" \t a ,\u00a0b\u00a0, ,c",waiting_lora_adapters=""} 1\n';
    expect(filterParse(page).runningLoras).toEqual(["a", "\u00a0b\u00a0", "c"]);
    expect(refParse(page).runningLoras).toEqual(["a", "\u00a0b\u00a0", "c"]);
  });

  it("random pages: the same values, bit for bit, and the same line counts", () => {
    fc.assert(
      fc.property(page, (p) => {
        expect(filterParse(p)).toEqual(refParse(p));
      }),
      { numRuns: 1500 },
    );
  });

  it("the committed vLLM page", () => {
    const text = readFileSync(resolve(ROOT, VLLM_V1_FIXTURE), "utf8");
    const r = refParse(text);
    expect(filterParse(text)).toEqual(r);
    expect(r).toMatchObject(VLLM_V1_FIXTURE_VALUES);
  });
});

describe("sample values: Go float syntax, read without strings", () => {
  const read = (text: string) => {
    const r = u.parseSampleValue(enc(text));
    return r[0] === 1 ? r[1] : null;
  };

  // Written out: the value each token must read as (null: not a number).
  const table: Array<[string, number | null]> = [
    ["0", 0],
    ["0.1", 0.1],
    ["0.3", 0.3],
    ["0.13", 0.13],
    ["1.7216801e+09", 1721680100],
    ["123456789012345", 123456789012345],
    ["1234567890123456", 1234567890123456], // 16 digits: the parseFloat path
    ["9007199254740993", 9007199254740992], // above 2^53: rounds to even
    ["1e22", 1e22],
    ["1e23", 1e23], // exponent past the exact powers
    ["1e-22", 1e-22],
    ["0.0000000000000000000001", 1e-22],
    ["4.9e-324", 5e-324],
    ["1.7976931348623157e308", Number.MAX_VALUE],
    ["-2.5", -2.5],
    ["+.5", 0.5],
    ["00012.50", 12.5],
    ["1E3", 1000],
    ["1e0003", 1000],
    ["-inf", -Infinity],
    ["iNfInItY", Infinity],
    ["infinit", null],
    ["nana", null],
    ["1e+", null],
    ["--1", null],
    ["1.5e3.5", null],
    [" 1", null],
  ];
  for (const [text, want] of table) it(JSON.stringify(text), () => expect(read(text)).toBe(want));

  it("NaN and -0", () => {
    expect(read("NaN")).toBeNaN();
    expect(Object.is(read("-0"), -0)).toBe(true);
    expect(Object.is(read("-0.000e5"), -0)).toBe(true);
  });

  it("decimal tokens of up to 15 digits read as JavaScript's correctly rounded Number() does, bit for bit", () => {
    fc.assert(
      fc.property(exactDecimal, (t) => {
        expect(Object.is(read(t), Number(t))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it("every double of up to 15 digits written by JavaScript reads back exactly", () => {
    fc.assert(
      fc.property(shortDouble, (x) => {
        expect(Object.is(read(String(x)), x)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
