// What a scrape of a model server's /metrics yields: the load and cache
// signals the scorers use (docs/design.md), each with a presence flag.

export const MAX_ADAPTERS: i32 = 64;
export const MAX_ADAPTER_NAME_BYTES: i32 = 256;

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
  /**
   * Token counters, each since the server started and summed over its
   * engines: `vllm:prompt_tokens_total` (every prompt token prefilled,
   * cached or not), `vllm:prefix_cache_queries_total` and `_hits_total`
   * (prompt tokens looked up in the prefix cache, and those found there),
   * `vllm:generation_tokens_total`. Only their change between two scrapes
   * means anything; not part of ServerSignals, the scheduler keeps what it
   * learns from them instead (EndpointState.blocksPerToken).
   */
  promptTokens: f64 = 0;
  hasPromptTokens: bool = false;
  prefixQueries: f64 = 0;
  hasPrefixQueries: bool = false;
  prefixHits: f64 = 0;
  hasPrefixHits: bool = false;
  generationTokens: f64 = 0;
  hasGenerationTokens: bool = false;

  /**
   * The tokens the server has written into its KV cache since it started,
   * as far as its counters tell (NaN when they do not): the prompt tokens
   * it did not find cached (queries − hits; every prompt token when the
   * prefix-cache counters are missing) plus the tokens it generated.
   */
  get cacheWrites(): f64 {
    let prompt: f64 = NaN;
    if (this.hasPrefixQueries && this.hasPrefixHits) prompt = this.prefixQueries > this.prefixHits ? this.prefixQueries - this.prefixHits : 0;
    else if (this.hasPromptTokens) prompt = this.promptTokens;
    if (isNaN(prompt)) return NaN;
    return this.hasGenerationTokens ? prompt + this.generationTokens : prompt;
  }

  /** Sample lines of the metrics above that were accepted (other metrics are skipped unparsed). */
  samples: i32 = 0;
  /** Lines that did not parse and were skipped (lines without a metric name, or of the metrics above). */
  rejectedLines: i32 = 0;
}
