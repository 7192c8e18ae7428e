// Envoy stats defined by the filter. proxy_define_metric creates
// `wasmcustom.<name>` in the base VM's scope, one stat per name across all
// worker VMs: counters add up, so
// everything shared is a counter; the per-endpoint health gauge is only
// written by the VM holding the scrape lease. Prometheus output shows them
// as e.g. `llm_picker_requests_routed` (sanitised, no envoy_ prefix).
import { defineMetric, incrementMetric, MetricType, recordMetric } from "./host";
import { Stored } from "../picker/route_result";

/**
 * A counter every decided request adds to: kept in the VM and sent to Envoy
 * by Stats.flush (one host call per counter per flush instead of one per
 * request).
 */
class BatchedCounter {
  pending: i64 = 0;
  constructor(public id: u32) {}
}

function sanitize(address: string): string {
  // "10.0.0.1:8000" → "10_0_0_1_8000": stat names keep to [a-zA-Z0-9_].
  let s = "";
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    s += ok ? String.fromCharCode(c) : "_";
  }
  return s;
}

/**
 * The totals every request adds to (requests.routed and .passed,
 * prefix.matched_blocks, .total_blocks and .evicted_lookups) are batched: added to in the VM
 * and flushed by the root on its next tick (every metrics.intervalMs while
 * requests come; a root without a tick sets one while counts are pending)
 * and when it is retired (README.md "Stats", docs/benchmarks.md "Fifth
 * pass"). The per-endpoint picks stay exact at every moment (they show
 * where the filter sends requests now, e.g. when it stops picking a failed
 * server), as do the rare counters (rejections, the guard, fleet hops) and
 * the histograms.
 */
export class Stats {
  private routed: BatchedCounter = new BatchedCounter(defineMetric(MetricType.Counter, "llm_picker.requests.routed"));
  private passed: BatchedCounter = new BatchedCounter(defineMetric(MetricType.Counter, "llm_picker.requests.passed"));
  rejected400: u32 = defineMetric(MetricType.Counter, "llm_picker.requests.rejected_400");
  rejected413: u32 = defineMetric(MetricType.Counter, "llm_picker.requests.rejected_413");
  rejected429: u32 = defineMetric(MetricType.Counter, "llm_picker.requests.rejected_429");
  rejected503: u32 = defineMetric(MetricType.Counter, "llm_picker.requests.rejected_503");
  /** Prefix match ratio = prefix_matched_blocks / prefix_total_blocks. */
  private prefixMatched: BatchedCounter = new BatchedCounter(defineMetric(MetricType.Counter, "llm_picker.prefix.matched_blocks"));
  private prefixTotal: BatchedCounter = new BatchedCounter(defineMetric(MetricType.Counter, "llm_picker.prefix.total_blocks"));
  /** Routed requests whose lookup left out entries an endpoint had written over since (docs/hashing.md "Evictions"). */
  private prefixEvicted: BatchedCounter = new BatchedCounter(defineMetric(MetricType.Counter, "llm_picker.prefix.evicted_lookups"));
  guardFired: u32 = defineMetric(MetricType.Counter, "llm_picker.hot_spot_guard");
  /** Decisions where the chosen endpoint holds fewer leading blocks than the best-matching one (default profile: load bound or queued prefill). */
  loadOverrodeAffinity: u32 = defineMetric(MetricType.Counter, "llm_picker.route.load_overrode_affinity");
  /** Decisions made again because another worker changed the in-flight value between a decision's read and its write (docs/routing.md "Workers deciding at once"). */
  redecided: u32 = defineMetric(MetricType.Counter, "llm_picker.route.redecided");
  decisionMicros: u32 = defineMetric(MetricType.Histogram, "llm_picker.decision_time_us");
  /** The filter's own time per scrape answer: the page read into the VM, parsed, published (Envoy's callout not included). */
  scrapeMicros: u32 = defineMetric(MetricType.Histogram, "llm_picker.scrape_time_us");
  /** Index bucket writes given up after the bounded CAS retries (fail open: the request still routes). */
  indexWritesAbandoned: u32 = defineMetric(MetricType.Counter, "llm_picker.prefix.writes_abandoned");
  private indexWritesAbandonedSeen: i64 = 0;
  /** pool.cluster: failed membership reads, members now, joins and departures seen. */
  poolRefreshFailures: u32 = defineMetric(MetricType.Counter, "llm_picker.pool.refresh_failures");
  poolMembers: u32 = defineMetric(MetricType.Gauge, "llm_picker.pool.members");
  poolJoined: u32 = defineMetric(MetricType.Counter, "llm_picker.pool.joined");
  poolLeft: u32 = defineMetric(MetricType.Counter, "llm_picker.pool.left");
  /** Fleet: requests sent on to the replica that owns their session. */
  fleetForwarded: u32 = defineMetric(MetricType.Counter, "llm_picker.fleet.forwarded");
  /** Fleet: decisions where a placement hint credited an endpoint with more of the request than the index knew. */
  fleetHintsFollowed: u32 = defineMetric(MetricType.Counter, "llm_picker.fleet.placement_hints");
  /** Fleet: usable replicas in fleet.cluster at the last read (those Maglev balances over). */
  fleetReplicas: u32 = defineMetric(MetricType.Gauge, "llm_picker.fleet.replicas");
  /** Requests naming a stored response (previous_response_id, a GET or cancel of one) sent to the server that stores it. */
  storedFollowed: u32 = defineMetric(MetricType.Counter, "llm_picker.responses.followed");
  /** Requests naming a stored response this Envoy did not see answered, or whose server is gone or unhealthy: routed as any other. */
  storedUnknown: u32 = defineMetric(MetricType.Counter, "llm_picker.responses.unknown");
  /** Prefix-index entries of departed endpoints removed by the purge sweep. */
  prefixEntriesDropped: u32 = defineMetric(MetricType.Counter, "llm_picker.prefix.entries_dropped");
  /** Bytes of the shared prefix index (gauge; every VM adds what its writes changed). */
  indexBytes: u32 = defineMetric(MetricType.Gauge, "llm_picker.prefix.index_bytes");
  private indexBytesSeen: i64 = 0;
  private picks: Map<string, u32> = new Map<string, u32>();
  /** Every batched counter, for flush. */
  private batched: Array<BatchedCounter> = new Array<BatchedCounter>();
  /** Some batched counter holds a count Envoy has not seen yet. */
  hasPending: bool = false;
  /** Set when the root is retired: no tick flushes any more, so every count goes to Envoy at once. */
  private unbatched: bool = false;
  private scrapeFailures: Map<string, u32> = new Map<string, u32>();
  private healthy: Map<string, u32> = new Map<string, u32>();
  private inFlight: Map<string, u32> = new Map<string, u32>();
  private horizon: Map<string, u32> = new Map<string, u32>();
  private unexpected: Map<string, u32> = new Map<string, u32>();
  /** The value this VM last set each per-endpoint gauge to (metric id → value). */
  private recorded: Map<u32, u64> = new Map<u32, u64>();

  constructor(endpoints: Array<string>) {
    this.batched.push(this.routed);
    this.batched.push(this.passed);
    this.batched.push(this.prefixMatched);
    this.batched.push(this.prefixTotal);
    this.batched.push(this.prefixEvicted);
    for (let i = 0; i < endpoints.length; i++) this.track(unchecked(endpoints[i]));
  }

  /**
   * Defines an endpoint's stats (idempotent: Envoy returns the same id for a
   * name). Endpoints of a cluster-following pool are tracked as they join;
   * the set is bounded by the pool's membership over the VM's life.
   */
  track(a: string): void {
    if (this.picks.has(a)) return;
    const n = sanitize(a);
    this.picks.set(a, defineMetric(MetricType.Counter, "llm_picker.endpoint.picks." + n));
    this.scrapeFailures.set(a, defineMetric(MetricType.Counter, "llm_picker.endpoint.scrape_failures." + n));
    this.healthy.set(a, defineMetric(MetricType.Gauge, "llm_picker.endpoint.healthy." + n));
    this.inFlight.set(a, defineMetric(MetricType.Gauge, "llm_picker.endpoint.in_flight." + n));
    this.horizon.set(a, defineMetric(MetricType.Gauge, "llm_picker.endpoint.eviction_horizon_blocks." + n));
    this.unexpected.set(a, defineMetric(MetricType.Counter, "llm_picker.endpoint.unexpected_prefill_blocks." + n));
  }

  rejected(status: i32): void {
    if (status == 413) incrementMetric(this.rejected413, 1);
    else if (status == 429) incrementMetric(this.rejected429, 1);
    else if (status == 503) incrementMetric(this.rejected503, 1);
    else incrementMetric(this.rejected400, 1);
  }

  private picked(endpoint: string): void {
    if (endpoint.length == 0) return;
    if (!this.picks.has(endpoint)) this.track(endpoint);
    if (this.picks.has(endpoint)) incrementMetric(this.picks.get(endpoint), 1);
  }

  private add(counter: BatchedCounter, delta: i64): void {
    counter.pending += delta;
    this.hasPending = true;
    if (this.unbatched) this.flush();
  }

  /** Sends every batched count to Envoy: one increment per counter that moved. */
  flush(): void {
    if (!this.hasPending) return;
    this.hasPending = false;
    const batched = this.batched;
    for (let i = 0; i < batched.length; i++) {
      const c = unchecked(batched[i]);
      // Adding 0 would be a host call that changes nothing (and Envoy refuses it).
      if (c.pending == 0) continue;
      incrementMetric(c.id, c.pending);
      c.pending = 0;
    }
  }

  /** The root is retired: flush now, and from now on every count as it comes. */
  retire(): void {
    this.unbatched = true;
    this.flush();
  }

  passedTo(endpoint: string): void {
    this.add(this.passed, 1);
    this.picked(endpoint);
  }

  routedTo(endpoint: string, matchedBlocks: i32, totalBlocks: i32, guardFired: bool, loadOverrodeAffinity: bool, evictionsSeen: bool = false): void {
    this.add(this.routed, 1);
    this.picked(endpoint);
    if (matchedBlocks > 0) this.add(this.prefixMatched, matchedBlocks);
    if (totalBlocks > 0) this.add(this.prefixTotal, totalBlocks);
    if (evictionsSeen) this.add(this.prefixEvicted, 1);
    if (guardFired) incrementMetric(this.guardFired, 1);
    if (guardFired || loadOverrodeAffinity) incrementMetric(this.loadOverrodeAffinity, 1);
  }

  /** Whether a request named a stored response, and went where it is stored (RouteResult.stored). */
  storedResponse(stored: Stored): void {
    if (stored == Stored.Followed) incrementMetric(this.storedFollowed, 1);
    else if (stored == Stored.Unknown) incrementMetric(this.storedUnknown, 1);
  }

  /** Reports new abandoned index writes (`total` is the index's running count on this VM). */
  syncIndexWritesAbandoned(total: i64): void {
    const delta = total - this.indexWritesAbandonedSeen;
    if (delta <= 0) return;
    this.indexWritesAbandonedSeen = total;
    incrementMetric(this.indexWritesAbandoned, delta);
  }

  /** Reports the index bytes this VM's writes added or removed since the last call (`total`: its running sum). */
  syncIndexBytes(total: i64): void {
    const delta = total - this.indexBytesSeen;
    if (delta == 0) return;
    this.indexBytesSeen = total;
    incrementMetric(this.indexBytes, delta);
  }

  /** Histogram of the time from body to decision (Envoy flushes histograms every 5 s). */
  decisionTime(micros: u64): void {
    recordMetric(this.decisionMicros, micros);
  }

  /** Histogram of the filter's own time per scrape answer (scrape_time_us). */
  scrapeTime(micros: u64): void {
    recordMetric(this.scrapeMicros, micros);
  }

  fleetSize(n: i32): void {
    recordMetric(this.fleetReplicas, <u64>n);
  }

  placementHint(): void {
    incrementMetric(this.fleetHintsFollowed, 1);
  }

  /** `n` decisions of one request were made again (RouteResult.redecided). */
  decidedAgain(n: i32): void {
    if (n > 0) incrementMetric(this.redecided, n);
  }

  forwarded(): void {
    incrementMetric(this.fleetForwarded, 1);
  }

  poolRefreshFailed(): void {
    incrementMetric(this.poolRefreshFailures, 1);
  }

  /** Recorded by the lease holder only (gauges are last-writer-wins across workers). */
  poolSize(members: i32): void {
    recordMetric(this.poolMembers, <u64>members);
  }

  poolChanged(joined: i32, left: i32): void {
    if (joined > 0) incrementMetric(this.poolJoined, joined);
    if (left > 0) incrementMetric(this.poolLeft, left);
  }

  dropEntries(n: i32): void {
    incrementMetric(this.prefixEntriesDropped, n);
  }

  scrapeFailed(endpoint: string): void {
    this.track(endpoint);
    if (this.scrapeFailures.has(endpoint)) incrementMetric(this.scrapeFailures.get(endpoint), 1);
  }

  /** The shared in-flight count routing uses for `endpoint` (written by the scraping VM each tick). */
  setInFlight(endpoint: string, count: i32): void {
    if (this.inFlight.has(endpoint)) this.recordGauge(this.inFlight.get(endpoint), <u64>max(count, 0));
  }

  setHealthy(endpoint: string, healthy: bool): void {
    this.track(endpoint);
    if (this.healthy.has(endpoint)) this.recordGauge(this.healthy.get(endpoint), healthy ? 1 : 0);
  }

  /** The eviction horizon the index applies to the endpoint, in index blocks (0: none). */
  setEvictionHorizon(endpoint: string, blocks: u32): void {
    this.track(endpoint);
    if (this.horizon.has(endpoint)) this.recordGauge(this.horizon.get(endpoint), <u64>blocks);
  }

  /** Prefill a scrape of the endpoint found beyond what this Envoy routed there, in index blocks (pool/unexpected_prefill.ts). */
  addUnexpectedPrefill(endpoint: string, blocks: u32): void {
    if (blocks == 0) return;
    this.track(endpoint);
    if (this.unexpected.has(endpoint)) incrementMetric(this.unexpected.get(endpoint), <i64>blocks);
  }

  /**
   * Sets a per-endpoint gauge unless this VM last set it to the same value:
   * the scraping VM refreshes every endpoint's gauges each tick, and they
   * rarely change. Only the scrape-lease holder sets them; when this VM is
   * not holding the lease another may have, so it forgets what it set
   * (forgetGauges) and sets every gauge again once it holds the lease.
   */
  private recordGauge(id: u32, value: u64): void {
    if (this.recorded.has(id) && this.recorded.get(id) == value) return;
    this.recorded.set(id, value);
    recordMetric(id, value);
  }

  /** This VM does not hold the scrape lease: the gauges may be set by another VM from now on. */
  forgetGauges(): void {
    if (this.recorded.size > 0) this.recorded.clear();
  }
}
