/**
 * What the live table shows per endpoint, read from the server's vLLM
 * `/metrics` page (the same names the filter reads; sums over label sets, so
 * several engines or models add up).
 */
export interface EndpointView {
  waiting: number;
  running: number;
  /** 0..1 */
  kvUsage: number;
  /** Prefix-cache hits / queries in tokens since the server started (NaN before any query). */
  hitRate: number;
}

/** Sums every sample of each metric name (labels ignored). Comments and malformed lines are skipped. */
export function sumSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    out.set(m[1], (out.get(m[1]) ?? 0) + value);
  }
  return out;
}

export function endpointView(metricsText: string): EndpointView {
  const s = sumSamples(metricsText);
  const get = (name: string) => s.get(name) ?? NaN;
  const kv = s.has("vllm:kv_cache_usage_perc") ? get("vllm:kv_cache_usage_perc") : get("vllm:gpu_cache_usage_perc");
  const queries = get("vllm:prefix_cache_queries_total");
  const hits = get("vllm:prefix_cache_hits_total");
  return {
    waiting: get("vllm:num_requests_waiting"),
    running: get("vllm:num_requests_running"),
    kvUsage: kv,
    hitRate: queries > 0 ? hits / queries : NaN,
  };
}
