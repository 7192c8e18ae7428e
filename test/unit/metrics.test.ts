// assembly/metrics through build/units-scoring.wasm: the vLLM /metrics
// parser, and scrape results turned into endpoint state and health (the
// state encoding and the snapshot reader are in pool.test.ts).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, mutate, mutation, ROOT, type Units, UNKNOWN_SIGNALS, VLLM_V1_FIXTURE, VLLM_V1_FIXTURE_VALUES } from "../support";

let u: Units<"scoring">;
beforeAll(async () => {
  u = await loadUnits("scoring");
});

const enc = (s: string) => new TextEncoder().encode(s);
const parse = (body: string | Uint8Array) => JSON.parse(u.parseMetrics(typeof body === "string" ? enc(body) : body));

// A vLLM V1 /metrics page, written from vLLM's documented metric names and
// labels (docs/design/metrics.md, vllm/v1/metrics/loggers.py): gauges with
// engine + model_name labels, a histogram, counters, the LoRA info gauge
// (one series per adapter-set change, value = time of the change) and the
// cache-config info gauge (every CacheConfig field as a label).
const MODEL = "meta-llama/Llama-3.1-8B-Instruct";
const V1_PAGE = `# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 12345.0
process_start_time_seconds 1.7216e+09
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="${MODEL}"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="${MODEL}"} 2.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="${MODEL}"} 0.4375
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="${MODEL}"} 98304.0
# HELP vllm:lora_requests_info Running stats on lora requests.
# TYPE vllm:lora_requests_info gauge
vllm:lora_requests_info{max_lora="4",running_lora_adapters="sql-lora,tweet-lora",waiting_lora_adapters=""} 1.7216801e+09
vllm:lora_requests_info{max_lora="4",running_lora_adapters="",waiting_lora_adapters=""} 1.7216805e+09
vllm:lora_requests_info{max_lora="4",running_lora_adapters="sql-lora",waiting_lora_adapters="chat-lora"} 1.7216803e+09
# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",cache_dtype="auto",calculate_kv_scales="False",cpu_offload_gb="0",enable_prefix_caching="True",gpu_memory_utilization="0.9",is_attention_free="False",num_cpu_blocks="None",num_gpu_blocks="27394",num_gpu_blocks_override="None",prefix_caching_hash_algo="sha256",sliding_window="None",swap_space="4",swap_space_bytes="4294967296"} 1.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.001",model_name="${MODEL}"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="${MODEL}"} 10.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="${MODEL}"} 10.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="${MODEL}"} 1.25
`;

// vLLM V0 (before the rename to kv_cache_usage_perc), no engine label.
const V0_PAGE = `# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="${MODEL}"} 1.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="${MODEL}"} 0.0
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="${MODEL}"} 0.25
`;

const UNKNOWN = UNKNOWN_SIGNALS;

describe("vLLM /metrics parser: table", () => {
  const cases: Array<[string, string, Record<string, unknown>]> = [
    [
      "vLLM V1 page",
      V1_PAGE,
      {
        waiting: 2,
        running: 3,
        kvCacheUsage: 0.4375,
        // largest value wins among series with an adapter; the empty-empty
        // series (newest here) is ignored like the seed does
        // (docs/reference/seed.md#metrics-scraped-from-model-servers)
        runningLoras: ["sql-lora"],
        waitingLoras: ["chat-lora"],
        maxLoras: 4,
        blockSize: 16,
        numGpuBlocks: 27394,
        prefixQueries: 98304,
        samples: 8, // other metrics are skipped unparsed
        rejectedLines: 0,
      },
    ],
    ["vLLM V0 page: gpu_cache_usage_perc", V0_PAGE, { ...UNKNOWN, waiting: 0, running: 1, kvCacheUsage: 0.25, samples: 3 }],
    [
      "kv_cache_usage_perc wins over the older name even when smaller",
      "vllm:gpu_cache_usage_perc 0.9\nvllm:kv_cache_usage_perc 0.1\n",
      { ...UNKNOWN, kvCacheUsage: 0.1 },
    ],
    [
      "several series: waiting/running summed, kv max",
      'vllm:num_requests_waiting{engine="0"} 2\nvllm:num_requests_waiting{engine="1"} 5\nvllm:num_requests_running{engine="0"} 1\nvllm:num_requests_running{engine="1"} 1\nvllm:kv_cache_usage_perc{engine="0"} 0.3\nvllm:kv_cache_usage_perc{engine="1"} 0.7\nvllm:kv_cache_usage_perc{engine="2"} 0.5\n',
      { ...UNKNOWN, waiting: 7, running: 2, kvCacheUsage: 0.7 },
    ],
    ["empty body", "", { ...UNKNOWN, samples: 0, rejectedLines: 0 }],
    ["comments only", "# HELP x y\n# TYPE x gauge\n#\n# EOF\n", { ...UNKNOWN, samples: 0, rejectedLines: 0 }],
    [
      "NaN and Inf carry no information",
      "vllm:num_requests_waiting NaN\nvllm:num_requests_running +Inf\nvllm:kv_cache_usage_perc -Inf\n",
      { ...UNKNOWN, samples: 3, rejectedLines: 0 },
    ],
    ["a NaN series does not poison the sum", 'vllm:num_requests_waiting{a="1"} NaN\nvllm:num_requests_waiting{a="2"} 4\n', { ...UNKNOWN, waiting: 4 }],
    ["negative gauge ignored", "vllm:num_requests_waiting -3\n", { ...UNKNOWN, samples: 1 }],
    ["kv usage clamped to [0,1]", "vllm:kv_cache_usage_perc 1.5\n", { ...UNKNOWN, kvCacheUsage: 1 }],
    ["exponent notation", "vllm:num_requests_waiting 1e1\nvllm:kv_cache_usage_perc 2.5E-1\n", { ...UNKNOWN, waiting: 10, kvCacheUsage: 0.25 }],
    [
      "timestamps and OpenMetrics exemplars are ignored",
      'vllm:num_requests_waiting{model_name="m"} 7 1712345678000\nvllm:num_requests_running{model_name="m"} 2 # {trace_id="abc"} 1.0 1712345678.5\n',
      { ...UNKNOWN, waiting: 7, running: 2, rejectedLines: 0 },
    ],
    [
      "label values with }, commas and escapes do not end the labels",
      'vllm:num_requests_waiting{model_name="x},y=\\"z\\"\\\\",engine="0",} 4\n',
      { ...UNKNOWN, waiting: 4, rejectedLines: 0 },
    ],
    [
      "escaped adapter names are decoded",
      'vllm:lora_requests_info{max_lora="2",running_lora_adapters="a\\\\b, c\\"d ,",waiting_lora_adapters="x\\ny"} 1\n',
      { ...UNKNOWN, runningLoras: ["a\\b", 'c"d'], waitingLoras: ["x\ny"], maxLoras: 2 },
    ],
    [
      "malformed lines are skipped, the rest is kept",
      'vllm:num_requests_waiting{model_name="x" 4\nvllm:num_requests_waiting 4abc\nvllm:num_requests_waiting\nvllm:num_requests_waiting 0x10\n{"a"} 1\nvllm:num_requests_running 6\n',
      { ...UNKNOWN, running: 6, samples: 1, rejectedLines: 5 },
    ],
    ["CRLF line endings", "vllm:num_requests_waiting 3\r\nvllm:num_requests_running 4\r\n", { ...UNKNOWN, waiting: 3, running: 4, rejectedLines: 0 }],
    [
      "leading blanks and tabs between name and value",
      "  vllm:num_requests_waiting\t\t8\n\tvllm:num_requests_running   9   \n",
      { ...UNKNOWN, waiting: 8, running: 9 },
    ],
    [
      "page truncated mid-line",
      'vllm:num_requests_waiting{model_name="m"} 1\nvllm:num_requests_running{model_na',
      { ...UNKNOWN, waiting: 1, samples: 1, rejectedLines: 1 },
    ],
    [
      "histogram parts of a same-prefix name are not the gauge",
      'vllm:num_requests_waiting_sum 100\nvllm:num_requests_waiting_bucket{le="+Inf"} 3\n',
      { ...UNKNOWN, samples: 0 },
    ],
    [
      "only empty LoRA series: LoRA on, nothing loaded, max_lora kept",
      'vllm:lora_requests_info{max_lora="3",running_lora_adapters="",waiting_lora_adapters=""} 5\nvllm:lora_requests_info{max_lora="2",running_lora_adapters="",waiting_lora_adapters=""} 9\n',
      { ...UNKNOWN, runningLoras: [], waitingLoras: [], maxLoras: 2 },
    ],
    [
      "LoRA: tie keeps the first, NaN never wins",
      'vllm:lora_requests_info{max_lora="1",running_lora_adapters="first",waiting_lora_adapters=""} 7\nvllm:lora_requests_info{max_lora="1",running_lora_adapters="second",waiting_lora_adapters=""} 7\nvllm:lora_requests_info{max_lora="1",running_lora_adapters="nan",waiting_lora_adapters=""} NaN\n',
      { ...UNKNOWN, runningLoras: ["first"], waitingLoras: [], maxLoras: 1 },
    ],
    [
      "LoRA: +Inf is the largest value",
      'vllm:lora_requests_info{running_lora_adapters="a",waiting_lora_adapters=""} 7\nvllm:lora_requests_info{running_lora_adapters="b",waiting_lora_adapters=""} +Inf\n',
      { ...UNKNOWN, runningLoras: ["b"], waitingLoras: [] },
    ],
    [
      "LoRA: bad max_lora is unknown, lists still read",
      'vllm:lora_requests_info{max_lora="four",running_lora_adapters="a",waiting_lora_adapters="b"} 1\n',
      { ...UNKNOWN, runningLoras: ["a"], waitingLoras: ["b"] },
    ],
    [
      "prefix-cache queries and hits, generation tokens: summed over engines, NaN and negatives not counted",
      'vllm:prefix_cache_queries_total{engine="0"} 1000.0\nvllm:prefix_cache_queries_total{engine="1"} 500.0\nvllm:prefix_cache_hits_total{engine="0"} 700.0\nvllm:prefix_cache_hits_total{engine="1"} NaN\nvllm:generation_tokens_total{engine="0"} 40.0\nvllm:generation_tokens_total{engine="1"} 2.0\nvllm:generation_tokens_total{engine="2"} -1\nvllm:prefix_cache_hits_created 1.7e+09\n',
      { ...UNKNOWN, prefixQueries: 1500, prefixHits: 700, generationTokens: 42, samples: 7, rejectedLines: 0 },
    ],
    [
      "prompt tokens: summed over engines; NaN, negative and the _created companion are not counted",
      'vllm:prompt_tokens_total{engine="0",model_name="m"} 1.5e+06\nvllm:prompt_tokens_total{engine="1",model_name="m"} 250000.0\nvllm:prompt_tokens_total{engine="2"} NaN\nvllm:prompt_tokens_total{engine="3"} -4\nvllm:prompt_tokens_created{engine="0"} 1.7e+09\nvllm:prompt_tokens 9\n',
      { ...UNKNOWN, promptTokens: 1750000, samples: 4, rejectedLines: 0 },
    ],
    ["cache_config_info: None is unknown", 'vllm:cache_config_info{block_size="32",num_gpu_blocks="None"} 1.0\n', { ...UNKNOWN, blockSize: 32 }],
    [
      "cache_config_info: out-of-range integer is unknown",
      'vllm:cache_config_info{block_size="99999999999",num_gpu_blocks="12"} 1.0\n',
      { ...UNKNOWN, numGpuBlocks: 12 },
    ],
    // Names are matched whole: a wanted name followed by more name bytes is another metric.
    [
      "names that extend or cut a wanted name are other metrics",
      "vllm:num_requests_waiting_total 9\nvllm:num_requests_waitin 9\nvllm:kv_cache_usage_perc2 0.9\nvllm:num_requests_running:x 9\nvllm:gpu_cache_usage_perc_ 0.9\nvllm:lora_requests_info_created 9\nvllm:cache_config_info0 1\nxvllm:num_requests_running 9\nVLLM:num_requests_running 9\nvllm: 9\nvllm 9\nvllm:num_requests_running 4\n",
      { ...UNKNOWN, running: 4, samples: 1, rejectedLines: 0 },
    ],
    [
      "a wanted name right before labels, a tab, or a carriage return",
      'vllm:num_requests_waiting{engine="0"} 2\nvllm:num_requests_running\t3\r\n  vllm:kv_cache_usage_perc 0.5\n',
      { ...UNKNOWN, waiting: 2, running: 3, kvCacheUsage: 0.5, samples: 3, rejectedLines: 0 },
    ],
    [
      "a wanted name with nothing after it, or at the very end of the body, is a rejected line",
      "vllm:num_requests_running\nvllm:num_requests_waiting",
      { ...UNKNOWN, samples: 0, rejectedLines: 2 },
    ],
    [
      "lines skipped on their first bytes (comments, other families, other vllm: names) next to wanted ones with escaped, unread labels",
      '# TYPE vllm:num_requests_running gauge\nvllm:time_to_first_token_seconds_bucket{le="0.1"} 7\nvllm:num_preemptions_total 5\nprocess_open_fds 9\n' +
        'vllm:num_requests_running{model_name="a \\"quoted\\" \\\\ name",engine="0"} 2\nvllm:kv_cache_usage_perc{engine="0"} 0.25\nvllm:\nvllm 3\n',
      { ...UNKNOWN, running: 2, kvCacheUsage: 0.25, samples: 2, rejectedLines: 0 },
    ],
    [
      "a line that starts with no name is rejected, whatever follows",
      '9vllm:num_requests_running 1\n{a="b"} 1\n',
      { ...UNKNOWN, samples: 0, rejectedLines: 2 },
    ],
    [
      // bench:overhead's upstream page (test/fixtures/metrics): the gauges among
      // 13 histograms, counters and process metrics, 39,682 bytes.
      "real-size vLLM V1 page (40 KB, histograms)",
      readFileSync(resolve(ROOT, VLLM_V1_FIXTURE), "utf8"),
      VLLM_V1_FIXTURE_VALUES,
    ],
  ];
  for (const [name, body, expected] of cases) {
    it(name, () => {
      expect(parse(body)).toMatchObject(expected);
    });
  }
});

describe("vLLM /metrics parser: the tokens a server wrote into its KV cache (cacheWrites)", () => {
  const q = (v: number) => `vllm:prefix_cache_queries_total ${v}\n`;
  const h = (v: number) => `vllm:prefix_cache_hits_total ${v}\n`;
  const g = (v: number) => `vllm:generation_tokens_total ${v}\n`;
  const p = (v: number) => `vllm:prompt_tokens_total ${v}\n`;
  it.each([
    ["prompt tokens not found cached, plus generated ones", q(1500) + h(700) + g(42) + p(9999), 842],
    ["without generation tokens: the uncached prompt tokens", q(1500) + h(700), 800],
    ["without the prefix-cache counters: every prompt token, plus generated ones", p(1000) + g(10), 1010],
    ["queries without hits: every prompt token", q(1500) + p(1000), 1000],
    ["hits above queries (counters read mid-update): no uncached prompt token", q(700) + h(800) + g(5), 5],
    ["generation tokens alone tell nothing", g(42), null],
    ["no counter", "vllm:num_requests_running 1\n", null],
  ] as Array<[string, string, number | null]>)("%s", (_name, page, expected) => {
    const v = u.parseMetricsValues(enc(page))[12];
    expect(Number.isNaN(v) ? null : v).toBe(expected);
  });
});

describe("vLLM /metrics parser: Go float syntax of values", () => {
  const values: Array<[string, number | null]> = [
    ["3", 3],
    ["3.0", 3],
    [".5", 0.5],
    ["5.", 5],
    ["+.5e+3", 500],
    ["-0", 0],
    ["1e-99999999999", 0],
    ["0".repeat(63) + "1", 1],
    ["1e99999999999", null], // +Inf
    ["Infinity", null],
    ["INF", null],
    ["nan", null],
    ["NaN1", null],
    ["1e", null],
    ["1e+", null],
    ["e5", null],
    [".", null],
    ["+", null],
    ["1_000", null],
    ["0x1p-2", null],
    ["1".repeat(65), null], // longer than any float Prometheus writes
  ];
  for (const [text, want] of values) {
    it(JSON.stringify(text), () => expect(parse(`vllm:num_requests_running ${text}\n`).running).toBe(want));
  }
});

const realPages = [V1_PAGE, V0_PAGE];

function checkInvariants(m: any) {
  for (const k of ["waiting", "running"]) if (m[k] !== null) expect(m[k]).toBeGreaterThanOrEqual(0);
  if (m.kvCacheUsage !== null) {
    expect(m.kvCacheUsage).toBeGreaterThanOrEqual(0);
    expect(m.kvCacheUsage).toBeLessThanOrEqual(1);
  }
  if (m.runningLoras !== null) expect(m.runningLoras.length).toBeLessThanOrEqual(64);
}

describe("vLLM /metrics parser: never traps", () => {
  it("random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (b) => {
        checkInvariants(parse(b));
      }),
      { numRuns: 400 },
    );
  });

  it("mutated real pages (truncation, deletes, inserts, replaced and flipped bytes, duplicated and swapped runs, hostile fragments)", () => {
    fc.assert(
      fc.property(fc.constantFrom(...realPages), fc.array(mutation, { minLength: 1, maxLength: 20 }), (page, muts) => {
        checkInvariants(parse(mutate(enc(page), muts)));
      }),
      { numRuns: 400 },
    );
  });

  it("lines of junk that name no vLLM metric change nothing", () => {
    const base = parse(V1_PAGE);
    const junkLine = fc.string({ maxLength: 200 }).filter((s) => !s.includes("\n") && !s.includes("vllm"));
    fc.assert(
      fc.property(fc.array(junkLine, { maxLength: 10 }), fc.nat(), (junk, at) => {
        const lines = V1_PAGE.split("\n");
        const i = at % lines.length;
        lines.splice(i, 0, ...junk);
        const m = parse(lines.join("\n"));
        const { samples, rejectedLines, ...values } = m;
        const { samples: s0, rejectedLines: r0, ...baseValues } = base;
        expect(values).toEqual(baseValues);
      }),
      { numRuns: 200 },
    );
  });

  it("finds line ends at every alignment (word-at-a-time scan)", () => {
    for (let k = 0; k < 20; k++) {
      const body = "#" + "x".repeat(k) + "\nvllm:num_requests_waiting 3\n" + "y".repeat(k % 9) + "\nvllm:num_requests_running " + k;
      expect(parse(body)).toMatchObject({ waiting: 3, running: k });
    }
  });

  it("every truncation of a real page parses to a subset of its values", () => {
    const full = parse(V1_PAGE);
    const b = enc(V1_PAGE);
    for (let n = 0; n <= b.length; n += 7) {
      const m = parse(b.slice(0, n));
      checkInvariants(m);
      for (const k of ["waiting", "running", "maxLoras", "blockSize"]) if (m[k] !== null) expect(m[k]).toBe(full[k]);
    }
  });

  it("1 MB lines: a huge adapter list, a huge value, a line without newline", () => {
    const mb = 1 << 20;
    const names = Array.from({ length: mb / 8 }, (_, i) => `a${i}`)
      .join(",")
      .slice(0, mb);
    const huge = `vllm:lora_requests_info{max_lora="8",running_lora_adapters="${names}",waiting_lora_adapters=""} 1\nvllm:num_requests_waiting 2\n`;
    const m = parse(huge);
    expect(m.waiting).toBe(2);
    expect(m.runningLoras.length).toBe(64); // bounded (MAX_ADAPTERS)
    expect(m.runningLoras[0]).toBe("a0");

    const longName = `vllm:lora_requests_info{running_lora_adapters="${"x".repeat(mb)},ok",waiting_lora_adapters=""} 1\n`;
    expect(parse(longName).runningLoras).toEqual(["ok"]); // over-long names dropped

    expect(parse(`vllm:num_requests_waiting ${"9".repeat(mb)}\nvllm:num_requests_running 1\n`)).toMatchObject({ waiting: null, running: 1 });
    const noNewline = new Uint8Array(mb).fill(0x7b); // "{{{{..."
    expect(parse(noNewline)).toMatchObject({ ...UNKNOWN, samples: 0, rejectedLines: 1 });
    const unterminated = `vllm:num_requests_waiting{model_name="${"q".repeat(mb)}`;
    expect(parse(unterminated)).toMatchObject({ waiting: null, rejectedLines: 1 });
  });
});

// Scrape results into state, and health.

describe("scrapes and health", () => {
  const seq = (pages: string[], checkAt: number, stale = 1000, maxFailures = 2) =>
    JSON.parse(u.scrapeSequence(enc(pages.join("\u0000")), checkAt, stale, maxFailures));

  it("a partial scrape updates only what it carried, as in the seed", () => {
    const s = seq([V1_PAGE, "vllm:num_requests_waiting 9\n"], 2000);
    expect(s).toMatchObject({
      waiting: 9,
      running: 3,
      kvCacheUsage: 0.4375,
      runningLoras: ["sql-lora"],
      maxLoras: 4,
      blockSize: 16,
      scrapedAtMs: 2000,
      healthy: true,
    });
  });

  it("the slot capacity is the most requests seen running while some waited with room in the KV cache, and never falls", () => {
    const page = (running: number, waiting: number, kvUse?: number) =>
      `vllm:num_requests_running ${running}\nvllm:num_requests_waiting ${waiting}\n` + (kvUse === undefined ? "" : `vllm:kv_cache_usage_perc ${kvUse}\n`);
    // Each row: scrapes in order ("" = a failed scrape), the capacity learned.
    const rows: Array<[string[], number]> = [
      [[page(12, 0)], 0], // nothing waiting: the batch may not be full
      [[page(0, 4)], 0], // nothing running: tells nothing
      [[page(12, 3)], 12],
      [[page(12, 3), page(8, 2)], 12], // a scrape during a long prefill does not lower it
      [[page(12, 3), page(20, 0)], 12], // 20 running, none waiting: not known to be full at 20
      [[page(12, 3), page(32, 1)], 32],
      [[page(12, 3), "", "vllm:num_requests_waiting 5\n"], 12], // failed and partial scrapes keep it
      [["vllm:num_requests_running 30\n"], 0],
      [[page(12, 3, 0.5)], 12],
      [[page(12, 3, 0.8)], 12], // at the threshold: still room
      [[page(22, 1, 0.96)], 0], // a nearly full cache: it may wait for room there, not for a place
      [[page(12, 3, 0.5), page(22, 1, 0.96), page(16, 2, 0.7)], 16],
    ];
    for (const [pages, capacity] of rows) expect(seq(pages, 1000 * pages.length).slotCapacity).toBe(capacity);
  });

  const health: Array<[string, string[], number, number, number, boolean | null]> = [
    ["fresh scrape", [V0_PAGE], 1500, 1000, 2, true],
    ["stale after the threshold", [V0_PAGE], 2001, 1000, 2, false],
    ["exactly at the threshold", [V0_PAGE], 2000, 1000, 2, true],
    // Unknown (null), which routing treats as healthy: cold start keeps prefix affinity.
    ["never scraped, one failed scrape: unknown", [""], 1100, 1000, 2, null],
    ["never scraped, two failed scrapes: unhealthy", ["", ""], 2100, 1000, 2, false],
    ["one failure after a good scrape", [V0_PAGE, ""], 1100, 1000, 2, true],
    ["two failures in a row", [V0_PAGE, "", ""], 1100, 1000, 2, false],
    ["recovers on the next good scrape", [V0_PAGE, "", "", V0_PAGE], 4100, 1000, 2, true],
    ["failure limit 0 disables the count", [V0_PAGE, "", "", ""], 1100, 1000, 0, true],
  ];
  for (const [name, pages, at, stale, maxF, healthy] of health) {
    it(`health: ${name}`, () => {
      expect(seq(pages, at, stale, maxF).healthy).toBe(healthy);
    });
  }
});
