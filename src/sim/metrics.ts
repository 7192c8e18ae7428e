// /metrics in Prometheus text format 0.0.4 with vLLM's (v1 engine) metric
// names and labels, formatted the way vLLM's Python prometheus_client does it
// (floats always with a decimal point, large values in exponent form, counters
// exposed as `_total` with a `_created` companion), so a metrics parser tested
// against the simulator sees what it would see from vLLM.
//
// Names read by the picker (docs/reference/seed.md#metrics-scraped-from-model-servers): vllm:num_requests_waiting,
// vllm:num_requests_running, vllm:kv_cache_usage_perc / vllm:gpu_cache_usage_perc,
// vllm:lora_requests_info{running_lora_adapters,waiting_lora_adapters,max_lora}
// (value: a timestamp in seconds), vllm:cache_config_info{block_size,num_gpu_blocks}.

import type { SimConfig } from "./config.js";
import { TTFT_BUCKETS_SECONDS, type SimEngine } from "./engine.js";

/** Python prometheus_client's floatToGoString: "1.0", "0.25", "1.7e+09", "+Inf". */
export function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  let s = pythonFloatRepr(value);
  const dot = s.indexOf(".");
  if (value > 0 && dot > 6 && !s.includes("e")) {
    // Go style: 1.71e+09 instead of 1710000000.0
    const digits = s.slice(0, dot) + s.slice(dot + 1);
    const mantissa = (digits[0] + "." + digits.slice(1)).replace(/0+$/, "").replace(/\.$/, "");
    s = `${mantissa}e+0${dot - 1}`;
  }
  return s;
}

/** repr() of a Python float for the ranges we print. */
function pythonFloatRepr(value: number): string {
  if (Number.isInteger(value) && Math.abs(value) < 1e16) return value.toFixed(1);
  const s = String(value);
  return s.replace(/e([+-])(\d)$/, "e$10$2"); // JS "1e-7" → Python "1e-07"
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

class Exposition {
  private lines: string[] = [];
  family(name: string, type: "gauge" | "counter" | "histogram", help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }
  sample(name: string, labels: Record<string, string>, value: number): void {
    this.lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
  }
  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

export interface MetricsContext {
  config: SimConfig;
  engine: SimEngine;
  /** Unix seconds when the counters were last reset (for `_created`). */
  createdSeconds: number;
  /** Unix seconds now. */
  nowSeconds: number;
}

export function renderMetrics(ctx: MetricsContext): string {
  const { config, engine } = ctx;
  const base = { engine: "0", model_name: config.model };
  const out = new Exposition();
  const c = engine.counters;

  out.family("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.");
  out.sample("vllm:num_requests_running", base, engine.running);
  out.family("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.");
  out.sample("vllm:num_requests_waiting", base, engine.waiting);

  const lora = engine.loraAdapters();
  out.family("vllm:lora_requests_info", "gauge", "Running stats on lora requests.");
  out.sample(
    "vllm:lora_requests_info",
    { max_lora: String(config.maxLoras), running_lora_adapters: lora.running.join(","), waiting_lora_adapters: lora.waiting.join(",") },
    ctx.nowSeconds,
  );

  out.family("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.");
  out.sample("vllm:kv_cache_usage_perc", base, engine.cache.usage);
  out.family("vllm:gpu_cache_usage_perc", "gauge", "GPU KV-cache usage. 1 means 100 percent usage. (Deprecated name.)");
  out.sample("vllm:gpu_cache_usage_perc", base, engine.cache.usage);

  const counter = (name: string, help: string, value: number, labels: Record<string, string> = base) => {
    out.family(`${name}_total`, "counter", help);
    out.sample(`${name}_total`, labels, value);
    out.sample(`${name}_created`, labels, ctx.createdSeconds);
  };
  counter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.", c.promptTokens);
  counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", c.cachedTokens);
  counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.", 0);
  counter("vllm:prompt_tokens", "Number of prefill tokens processed.", c.promptTokens);
  counter("vllm:generation_tokens", "Number of generation tokens processed.", c.generationTokens);

  out.family("vllm:request_success_total", "counter", "Count of successfully processed requests.");
  for (const [reason, value] of [
    ["abort", c.cancelled],
    ["length", c.finishedLength],
    ["stop", c.finishedStop],
  ] as const) {
    const labels = { ...base, finished_reason: reason };
    out.sample("vllm:request_success_total", labels, value);
    out.sample("vllm:request_success_created", labels, ctx.createdSeconds);
  }

  out.family("vllm:time_to_first_token_seconds", "histogram", "Histogram of time to first token in seconds.");
  const h = engine.ttftHistogram;
  TTFT_BUCKETS_SECONDS.forEach((le, i) => {
    out.sample("vllm:time_to_first_token_seconds_bucket", { ...base, le: formatValue(le) }, h.buckets[i]);
  });
  out.sample("vllm:time_to_first_token_seconds_bucket", { ...base, le: "+Inf" }, h.count);
  out.sample("vllm:time_to_first_token_seconds_count", base, h.count);
  out.sample("vllm:time_to_first_token_seconds_sum", base, h.sum);
  out.sample("vllm:time_to_first_token_seconds_created", base, ctx.createdSeconds);

  out.family("vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig");
  out.sample(
    "vllm:cache_config_info",
    {
      block_size: String(config.blockSize),
      cache_dtype: "auto",
      enable_prefix_caching: "True",
      engine: "0",
      num_gpu_blocks: String(config.numGpuBlocks),
      prefix_caching_hash_algo: "sha256",
    },
    1,
  );
  return out.text();
}
