import { ScoringConfig } from "../scoring/config";

// Plugin configuration with its defaults. Every key is documented in
// README.md ("Configuration"); each default says what it trades off.

export class EndpointConfig {
  /** "ip:port" (IPv6 as "[::1]:8000"), the value Envoy's override_host/ORIGINAL_DST accepts. */
  address: string = "";
  /** Free-form labels (e.g. {"gpu":"a100"}), kept for scorers and stats. */
  labelKeys: Array<string> = [];
  labelValues: Array<string> = [];
}

export class PrefixConfig {
  /** Prefix affinity on (hash, look up, record). Off: load-only picking, no index traffic. */
  enabled: bool = true;
  /** Bytes per block: 64 = 16 tokens × ~4 bytes, vLLM's default block (as upstream). */
  blockSize: i32 = 64;
  /** 256 blocks × 64 B ≈ 4K tokens matched at most; longer prompts share that prefix anyway. */
  maxBlocks: i32 = 256;
  /** Hash the trailing partial block too: without it short prompts with a shared prefix hot-spot (GIE #2823). */
  hashTrailingBlock: bool = true;
  /** Blocks remembered per endpoint: upstream's 31,250 ≈ 500K tokens of KV cache per server. */
  capacityPerEndpoint: i32 = 31250;
  /** Endpoints the index is sized for (total entries = capacityPerEndpoint × maxEndpoints). A fixed size, so pool changes never reshape (and so never drop) the index. */
  maxEndpoints: i32 = 16;
}

export class MetricsConfig {
  /** Envoy cluster the scrape callouts go through (must route by x-gateway-destination-endpoint). */
  cluster: string = "model_servers";
  path: string = "/metrics";
  /** Scrape interval (upstream's --refresh-metrics-interval). */
  intervalMs: i32 = 50;
  /** A scrape older than this makes the endpoint unhealthy. */
  staleAfterMs: i32 = 1000;
  timeoutMs: i32 = 1000;
  /** Scraping off (e.g. for servers without /metrics): endpoints are then always healthy. */
  enabled: bool = true;
}

export class Config {
  endpoints: Array<EndpointConfig> = [];
  /** Largest request body read; larger gets 413. Must stay ≤ Envoy's buffer limit. */
  maxBodyBytes: i32 = 8 * 1024 * 1024;
  prefix: PrefixConfig = new PrefixConfig();
  /**
   * Scoring knobs, kept in the scoring core's own types (assembly/scoring/config.ts,
   * where each default is explained): `weights`, `hotSpot` (the guard) and
   * `admission` (saturation thresholds) in the JSON document.
   */
  scoring: ScoringConfig = new ScoringConfig();
  metrics: MetricsConfig = new MetricsConfig();
  /** Adds x-llm-picker-scores to the upstream request (off: it reveals pool state). */
  debugHeaders: bool = false;
  /** Publishes the decision as filter state for `llm-picker inspect` (tests and CLI only). */
  inspect: bool = false;
  /**
   * Endpoint states to publish at configure time instead of scraping, in the
   * `llm-picker inspect --endpoints` format (raw JSON). For the CLI and tests.
   */
  snapshot: Uint8Array | null = null;
  /** Tie-break PRNG seed; 0 = seeded from the clock. */
  seed: u64 = 0;
}

/** A configuration error naming the field path and the offending value. */
export class ConfigError {
  constructor(public field: string, public message: string) {}
  toString(): string {
    return "invalid configuration: " + this.field + ": " + this.message;
  }
}

export class ConfigResult {
  config: Config | null = null;
  error: ConfigError | null = null;
}
