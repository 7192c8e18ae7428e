import { ScoringConfig } from "../scoring/config";
import { Labels } from "../pool/labels";

// Plugin configuration with its defaults. Every key is documented in
// README.md ("Configuration"); each default says what it trades off.

export class EndpointConfig {
  /** "ip:port" (IPv6 as "[::1]:8000"), the value Envoy's override_host/ORIGINAL_DST accepts. */
  address: string = "";
  /** Labels (e.g. {"model":"llama-3-8b"}); `model` restricts the models it serves (docs/fleet.md "Labels"). */
  labels: Labels = new Labels();
}

/** The most endpoints prefix.maxEndpoints may size the index for. */
export const MAX_INDEX_ENDPOINTS: i32 = 4096;

export class PrefixConfig {
  /** Prefix affinity on (hash, look up, record). Off: load-only picking, no index traffic. */
  enabled: bool = true;
  /** Bytes per block: 64 = 16 tokens × ~4 bytes, vLLM's default block (as upstream). */
  blockSize: i32 = 64;
  /** 256 blocks × 64 B ≈ 4K tokens matched at most; longer prompts share that prefix anyway. */
  maxBlocks: i32 = 256;
  /** Hash the trailing partial block too: without it short prompts with a shared prefix hot-spot (GIE #2823). */
  hashTrailingBlock: bool = true;
  /**
   * Count a chat's previous reply as cached where the previous turn went
   * (servers cache the KV blocks they generate, as vLLM's prefix cache
   * does): docs/routing.md "Replies are cached". Off for engines that cache
   * prompts only. The seed profile never does (the seed does not).
   */
  creditReplies: bool = true;
  /** Count an endpoint's entries only until its KV cache has had them written over (docs/hashing.md "Evictions"). */
  followEvictions: bool = true;
  /**
   * While a prompt's first prefill still runs at one server and another is
   * idle, start a prompt that takes little of a cache on the idle one
   * instead of queueing behind it: docs/routing.md "Prefill still running".
   * The seed profile never does.
   */
  spreadFirstPrefills: bool = true;
  /** Blocks remembered per endpoint: upstream's 31,250 ≈ 500K tokens of KV cache per server. */
  capacityPerEndpoint: i32 = 31250;
  /** Endpoints the index is sized for (total entries = capacityPerEndpoint × maxEndpoints). A fixed size, so pool changes never reshape (and so never drop) the index. */
  maxEndpoints: i32 = 16;
  /** maxEndpoints was written in the configuration (not the default): a static pool larger than it is then an error, not a reason to grow it. */
  maxEndpointsGiven: bool = false;
}

/** Default scrape interval of an idle endpoint (see MetricsConfig.idleIntervalMs). */
export const DEFAULT_IDLE_INTERVAL_MS: i32 = 500;

export class MetricsConfig {
  /** Envoy cluster the scrape callouts go through (must route by x-gateway-destination-endpoint). */
  cluster: string = "model_servers";
  path: string = "/metrics";
  /** Scrape interval while the pool is busy (upstream's --refresh-metrics-interval). */
  intervalMs: i32 = 50;
  /**
   * How often an idle endpoint is scraped (nothing in flight from this Envoy,
   * nothing running or waiting at its last scrape). 0 = the default,
   * min(DEFAULT_IDLE_INTERVAL_MS, staleAfterMs / 2) but never below
   * intervalMs: half the staleness bound leaves room for one late scrape
   * before an idle endpoint would turn unhealthy.
   */
  idleIntervalMs: i32 = 0;
  /** A scrape older than this makes the endpoint unhealthy. */
  staleAfterMs: i32 = 1000;
  timeoutMs: i32 = 1000;
  /** The idle interval in force: idleIntervalMs, or its default. */
  idleInterval(): i32 {
    if (this.idleIntervalMs > 0) return this.idleIntervalMs;
    return max(this.intervalMs, min(DEFAULT_IDLE_INTERVAL_MS, this.staleAfterMs / 2));
  }
  /** Scraping off (e.g. for servers without /metrics): endpoints are then always healthy. */
  enabled: bool = true;
}

/**
 * The pool as an Envoy cluster's live membership (docs/fleet.md "Pool"):
 * with `cluster` set, the filter reads Envoy's admin `/clusters` through
 * `adminCluster` every `intervalMs` (one VM per Envoy, under the scrape
 * lease) and routes over the members Envoy would route to. Mutually
 * exclusive with a static `endpoints` list and with `snapshot`.
 */
export class PoolConfig {
  /** Envoy cluster whose members are the pool ("" = the static `endpoints` list). */
  cluster: string = "";
  /** Cluster that reaches Envoy's own admin listener on loopback (Istio and Envoy Gateway ship one as prometheus_stats). */
  adminCluster: string = "llm_picker_admin";
  /** Membership poll period: a new member takes traffic within about one interval. */
  intervalMs: i32 = 1000;
  timeoutMs: i32 = 1000;
  /** Largest admin response read (the filtered /clusters page is ~1 KB per host). */
  maxResponseBytes: i32 = 4 * 1024 * 1024;
  /** EDS metadata namespace (filter_metadata key) whose string fields are the members' labels; "" = none read. */
  metadataNamespace: string = "llm-picker";
}

/**
 * Several Envoy replicas acting as one router (docs/fleet.md "Sharding"):
 * each request's session key picks, through Envoy's Maglev over `cluster`
 * (the replicas), the replica that owns the session; a replica that does not
 * own it forwards it there, marked with `secret` so the owner knows it
 * already hopped. Off when `cluster` is empty.
 */
export class FleetConfig {
  /** Envoy cluster of the replicas (Maglev, hash_policy on x-llm-picker-session). */
  cluster: string = "";
  /** Shared by the replicas; a request carrying it in x-llm-picker-hop was forwarded by one (16+ characters). */
  secret: string = "";
}

export class Config {
  endpoints: Array<EndpointConfig> = [];
  pool: PoolConfig = new PoolConfig();
  fleet: FleetConfig = new FleetConfig();
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
