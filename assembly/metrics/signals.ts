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
   * `vllm:prompt_tokens_total`: the prompt tokens the server has scheduled
   * since it started (every client's, cached ones included). A counter, so
   * only its change between two scrapes means anything; not part of
   * ServerSignals, the scheduler keeps what it learns from it instead
   * (EndpointState.blocksPerToken).
   */
  promptTokens: f64 = 0;
  hasPromptTokens: bool = false;
  /** Sample lines of the metrics above that were accepted (other metrics are skipped unparsed). */
  samples: i32 = 0;
  /** Lines that did not parse and were skipped (lines without a metric name, or of the metrics above). */
  rejectedLines: i32 = 0;
}
