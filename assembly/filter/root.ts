// The root (plugin) context: owns one validated configuration, its Router
// (prefix index handle, tie-break PRNG), its stats and the metrics scraper.
// Envoy creates a new root context for each plugin configuration (an ECDS
// config-only update reuses the VM with a new root), so all of this lives
// here, never in VM globals; streams keep the root they started with, so an
// in-flight request finishes under the configuration it began with.
import {
  BufferType,
  getBufferBytes,
  getBufferBytesScratch,
  getHeader,
  HeaderPair,
  encodePairs,
  httpCallEncoded,
  log,
  LogLevel,
  MapType,
  nowMs,
  nowNs,
  refreshLogLevel,
  setTickPeriodMs,
  SharedDataStore,
} from "./host";
import { Config } from "../config/types";
import { parseConfig } from "../config/parse";
import { Router } from "../picker/route";
import { Stats } from "./stats";
import { acquireLease, ensurePoolKeys, leaseExpiry, releaseLease, prunePublished, publishScrape, publishSnapshot, readStates } from "../pool/shared_state";
import { InFlight, pruneInFlight, readInFlight } from "../pool/in_flight";
import { EndpointState } from "../pool/endpoint_state";
import { endpointId } from "../prefix/endpoint_id";
import { readEndpointsSnapshot } from "../pool/snapshot";
import { parseVllmMetrics } from "../metrics/prometheus";
import { DESTINATION_HEADER } from "./headers";
import { MembershipPoller } from "./membership";
import { reportHeap, rootConfigured, rootRetired } from "./heap";

/** Addresses whose encoded scrape headers are kept (more than any pool; past it the cache starts over). */
const SCRAPE_HEADERS_MAX: i32 = 1024;
const NO_BODY = new Uint8Array(0);

/**
 * A root without a tick of its own (scraping off, a pool snapshot) ticks
 * this often while batched counters are pending, to flush them (Stats).
 */
const STATS_FLUSH_MS: u32 = 1000;

/** The scrape lease lasts this many intervals, so a VM that stops scraping is replaced soon. */
const LEASE_INTERVALS: i64 = 3;

export class RootContext {
  config: Config = new Config();
  configured: bool = false;
  router: Router | null = null;
  stats: Stats | null = null;
  readonly store: SharedDataStore = new SharedDataStore();
  /** When this root last started a scrape round (ms), and the VM's routed-request count then. */
  private lastRoundMs: i64 = i64.MIN_VALUE;
  private routedAtLastRound: i64 = 0;
  /** Reads the Envoy cluster's membership (pool.cluster set), on the lease holder. */
  private membership: MembershipPoller | null = null;
  /** Tick period: the scrape interval, or the membership poll's when that is shorter or scraping is off. */
  private tickMs: i32 = 0;
  /** The period in force now: tickMs, or longer while there is nothing to do until a known time (sleepUntil). */
  private tickNowMs: i32 = 0;
  /** Scrape callouts in flight: token → endpoint address. */
  private pendingScrapes: Map<u32, string> = new Map<u32, string>();
  /** The addresses in pendingScrapes (one callout per address at a time). */
  private scraping: Set<string> = new Set<string>();
  /** Each address's scrape headers, encoded (scrapeHeaders). */
  private encodedScrapeHeaders: Map<string, Uint8Array> = new Map<string, Uint8Array>();
  /** This root's identity for the scrape lease. */
  private leaseOwner: u64 = 0;
  /** A root without a tick set one to flush its batched counters (flushSoon). */
  private flushTicking: bool = false;

  constructor(public id: u32) {}

  onConfigure(size: u32): bool {
    refreshLogLevel();
    const bytes = size > 0 ? getBufferBytes(BufferType.PluginConfiguration, 0, size) : new Uint8Array(0);
    const result = parseConfig(bytes != null ? bytes! : new Uint8Array(0));
    const err = result.error;
    if (err != null) {
      // Returning false makes Envoy reject the configuration (NACK, or a
      // failed ECDS update that keeps the previous one in force).
      log(LogLevel.Critical, "llm_picker: " + err.toString());
      return false;
    }
    const config = result.config!;
    this.config = config;
    const addresses = new Array<string>();
    for (let i = 0; i < config.endpoints.length; i++) addresses.push(unchecked(config.endpoints[i]).address);
    const seed = config.seed != 0 ? config.seed : <u64>(Math.random() * 9007199254740991.0);
    this.leaseOwner = (<u64>(Math.random() * 4294967295.0) << 32) | <u64>this.id;
    const router = new Router(config, this.store, seed, <u64>(Math.random() * 9007199254740991.0));
    // Creates the index's fixed key space on first start; one read afterwards.
    router.index.init();
    this.router = router;
    // A second configuration of this root: the counts batched under the first go out now.
    const previous = this.stats;
    if (previous != null) previous.flush();
    this.stats = new Stats(addresses);
    this.stats!.syncIndexBytes(router.index.stats.valueBytes);
    ensurePoolKeys(this.store);
    const follows = router.pool.followsCluster;
    // A static list prunes state of endpoints no longer configured; a cluster
    // pool prunes when the membership changes (MembershipPoller).
    if (!follows) {
      prunePublished(this.store, addresses);
      pruneInFlight(this.store, addresses);
    }
    const polls = follows || router.replicas != null;
    this.membership = polls ? new MembershipPoller(config, this.store, router.index.config) : null;
    const snapshot = config.snapshot;
    if (snapshot != null) {
      const states = readEndpointsSnapshot(snapshot!).states;
      publishSnapshot(this.store, states);
      config.metrics.enabled = false; // the snapshot is the pool state: no scraping over it
    }
    let tick: i32 = 0;
    if (config.metrics.enabled && (follows || addresses.length > 0)) tick = config.metrics.intervalMs;
    if (polls && (tick == 0 || config.pool.intervalMs < tick)) tick = config.pool.intervalMs;
    this.tickMs = tick;
    this.tickNowMs = tick;
    this.flushTicking = false;
    setTickPeriodMs(<u32>tick);
    if (!this.configured) rootConfigured();
    this.configured = true;
    if (follows) log(LogLevel.Info, "llm_picker: configured, pool follows cluster \"" + config.pool.cluster + "\"");
    else log(LogLevel.Info, "llm_picker: configured with " + addresses.length.toString() + " endpoint(s)");
    return true;
  }

  /**
   * A request added to batched counters: they reach Envoy on the next tick.
   * A root with a tick has one within tickMs (a request wakes it); one
   * without sets a tick of STATS_FLUSH_MS until a tick finds nothing to flush.
   */
  flushSoon(): void {
    if (this.tickMs > 0 || this.flushTicking) return;
    this.flushTicking = true;
    setTickPeriodMs(STATS_FLUSH_MS);
  }

  /** Flushes the batched counters; scrapes every endpoint's /metrics, if this VM holds the lease (one scraper per Envoy). */
  onTick(): void {
    if (!this.configured) return;
    const stats = this.stats;
    if (this.tickMs == 0) {
      // Only the flush tick (flushSoon): it stops once a tick finds nothing pending.
      if (stats != null && stats.hasPending) stats.flush();
      else if (this.flushTicking) {
        this.flushTicking = false;
        setTickPeriodMs(0);
      }
      return;
    }
    if (stats != null) stats.flush();
    reportHeap();
    const m = this.config.metrics;
    const now = nowMs();
    if (!acquireLease(this.store, this.leaseOwner, now, <i64>this.tickMs * LEASE_INTERVALS)) {
      if (stats != null) stats.forgetGauges();
      // Nothing to do here until the holder's lease runs out.
      this.sleepUntil(leaseExpiry(this.store, this.leaseOwner), now);
      return;
    }
    const membership = this.membership;
    if (membership != null) membership.tick(now, this.stats);
    if (!m.enabled) return;
    const addresses = this.poolAddresses();
    const states = readStates(this.store);
    // A hung scrape never reaches scrapeDone: refresh every endpoint's health
    // gauge here too, so one that goes stale shows 0.
    const inflight = readInFlight(this.store);
    this.refreshHealthGauges(states, inflight, now, addresses);
    const busy = this.poolBusy(states, inflight, addresses);
    if (this.scrapeDue(busy, now)) {
      this.lastRoundMs = now;
      this.routedAtLastRound = this.routedCount();
      this.scrapeAll(addresses);
    }
    if (busy) this.wake();
    else if (this.sleepUntil(this.lastRoundMs + <i64>m.idleInterval(), now)) {
      // The lease must outlast the sleep, or another VM would take it over meanwhile.
      acquireLease(this.store, this.leaseOwner, now, <i64>this.tickNowMs + <i64>this.tickMs * LEASE_INTERVALS);
    }
  }

  /**
   * Idle ticks (docs/benchmarks.md "Overhead"): a VM with nothing to do
   * before `untilMs` (the next idle scrape round; the expiry of another VM's
   * lease) sets its tick to fire then instead of every tickMs: an idle
   * Envoy's VMs wake about once per idle interval instead of 20 times a
   * second. Never with a membership poller (its own cadence). Returns true
   * when the period is now longer than tickMs.
   */
  private sleepUntil(untilMs: i64, now: i64): bool {
    if (this.membership != null || untilMs <= now + <i64>this.tickMs) {
      this.wake();
      return false;
    }
    const period = <i32>min<i64>(untilMs - now, <i64>i32.MAX_VALUE);
    if (period != this.tickNowMs) {
      this.tickNowMs = period;
      setTickPeriodMs(<u32>period);
    }
    return true;
  }

  /**
   * Back to a tick every tickMs: the pool is busy, a request started on this
   * VM, or a scrape found a server with queued work (the next busy round is
   * then at most tickMs away, not an idle interval).
   */
  wake(): void {
    if (this.tickNowMs == this.tickMs) return;
    this.tickNowMs = this.tickMs;
    setTickPeriodMs(<u32>this.tickMs);
  }

  /** One /metrics callout per pool member not already being scraped. */
  private scrapeAll(addresses: Array<string>): void {
    const m = this.config.metrics;
    for (let i = 0; i < addresses.length; i++) {
      const address = unchecked(addresses[i]);
      if (this.scraping.has(address)) continue;
      const token = httpCallEncoded(m.cluster, this.scrapeHeaders(address), NO_BODY, <u32>m.timeoutMs);
      if (token == 0) {
        log(LogLevel.Warn, "llm_picker: scrape of " + address + " refused by Envoy (cluster \"" + m.cluster + "\")");
        this.scrapeDone(address, false, null, nowMs());
        continue;
      }
      this.pendingScrapes.set(token, address);
      this.scraping.add(address);
    }
  }

  /** The scrape callout's headers for `address`, encoded once per address (the pool is bounded; see SCRAPE_HEADERS_MAX). */
  private scrapeHeaders(address: string): Uint8Array {
    if (this.encodedScrapeHeaders.has(address)) return this.encodedScrapeHeaders.get(address);
    const headers = new Array<HeaderPair>();
    headers.push(new HeaderPair(":method", "GET"));
    headers.push(new HeaderPair(":path", this.config.metrics.path));
    headers.push(new HeaderPair(":authority", address));
    // The scrape cluster routes on the same header as requests do, so the
    // callout reaches exactly this member (envoy/envoy.yaml).
    headers.push(new HeaderPair(DESTINATION_HEADER, address));
    const encoded = encodePairs(headers);
    // A cluster-following pool can see many addresses over a VM's life: start over past the bound.
    if (this.encodedScrapeHeaders.size >= SCRAPE_HEADERS_MAX) this.encodedScrapeHeaders.clear();
    this.encodedScrapeHeaders.set(address, encoded);
    return encoded;
  }

  private routedCount(): i64 {
    const router = this.router;
    return router != null ? router.routedCount : 0;
  }

  /**
   * Scraping is proportional to need (docs/benchmarks.md "Overhead"): the
   * pool is scraped every intervalMs while it is busy, every
   * idleInterval() (at most half of staleAfterMs) while it is idle. Busy:
   * some endpoint has requests in flight from this Envoy, reported requests
   * running or waiting at its last scrape, was never scraped or is
   * unhealthy, or this VM routed a request since the last scrape round.
   */
  private scrapeDue(busy: bool, now: i64): bool {
    const m = this.config.metrics;
    if (this.lastRoundMs == i64.MIN_VALUE) return true;
    const idle = m.idleInterval();
    // Ticks come every intervalMs: half a tick of slack keeps a tick that
    // fires a little early from pushing a round a whole tick later.
    const elapsed = now - this.lastRoundMs + <i64>(m.intervalMs / 2);
    if (elapsed >= <i64>idle) return true;
    if (elapsed < <i64>m.intervalMs) return false;
    return busy;
  }

  private poolBusy(states: Array<EndpointState>, inflight: InFlight, addresses: Array<string>): bool {
    if (this.routedCount() != this.routedAtLastRound) return true;
    for (let i = 0; i < addresses.length; i++) {
      const address = unchecked(addresses[i]);
      if (inflight.countOf(endpointId(address)) > 0 || serverBusy(states, address)) return true;
    }
    return false;
  }

  /** The pool's addresses now (the static list, or the published cluster membership). */
  private poolAddresses(): Array<string> {
    const router = this.router;
    return router != null ? router.pool.current().addresses : new Array<string>();
  }

  private refreshHealthGauges(states: Array<EndpointState>, inflight: InFlight, now: i64, addresses: Array<string>): void {
    const stats = this.stats;
    if (stats == null) return;
    for (let i = 0; i < addresses.length; i++) {
      const address = unchecked(addresses[i]);
      stats.setInFlight(address, inflight.countOf(endpointId(address)));
      let healthy: bool = true; // never scraped, nothing failed yet: unknown, which requests treat as healthy
      for (let j = 0; j < states.length; j++) {
        const s = unchecked(states[j]);
        if (s.address == address) healthy = s.refreshHealth(now, <i64>this.config.metrics.staleAfterMs);
      }
      stats.setHealthy(address, healthy);
    }
  }

  onHttpCallResponse(token: u32, numHeaders: u32, bodySize: u32): void {
    const membership = this.membership;
    if (membership != null && membership.onResponse(token, numHeaders, bodySize, this.stats)) {
      // Newcomers are scraped at once, so their load is known from their first
      // interval instead of after the next scrape round (until then unknown).
      if (membership.joined && this.config.metrics.enabled) this.scrapeAll(this.poolAddresses());
      membership.joined = false;
      return;
    }
    if (!this.pendingScrapes.has(token)) return;
    const address = this.pendingScrapes.get(token);
    this.pendingScrapes.delete(token);
    this.scraping.delete(address);
    const startedNs = nowNs();
    this.scrapeAnswered(address, numHeaders, bodySize, <i64>(startedNs / 1_000_000));
    const stats = this.stats;
    if (stats != null) stats.scrapeTime((nowNs() - startedNs) / 1000);
  }

  /** A scrape callout's answer: the page read, parsed and published (its time is scrape_time_us). */
  private scrapeAnswered(address: string, numHeaders: u32, bodySize: u32, now: i64): void {
    if (numHeaders == 0) {
      this.scrapeDone(address, false, null, now);
      return;
    }
    const status = getHeader(MapType.HttpCallResponseHeaders, ":status");
    if (status == null || status! != "200") {
      this.scrapeDone(address, false, null, now);
      return;
    }
    // The page is parsed and dropped here: read into the reused scratch buffer.
    const body = bodySize > 0 ? getBufferBytesScratch(BufferType.HttpCallResponseBody, 0, bodySize) : new Uint8Array(0);
    this.scrapeDone(address, true, body, now);
  }

  private scrapeDone(address: string, ok: bool, body: Uint8Array | null, now: i64): void {
    const metrics = ok && body != null ? parseVllmMetrics(body!) : null;
    const published = publishScrape(this.store, address, metrics, now);
    // Queued work or a failure: the pool is busy, scrape it every tickMs from now.
    if (!ok || published == null || stateBusy(published!)) this.wake();
    const stats = this.stats;
    if (stats == null) return;
    if (!ok) stats.scrapeFailed(address);
    // Health as requests will see it: from the state just published, or
    // (the write was lost) from one read of what is published.
    const stale = <i64>this.config.metrics.staleAfterMs;
    if (published != null) {
      // healthAt, not refreshHealth: the published state is kept for the next publish (shared_state.ts).
      stats.setHealthy(address, published.healthAt(now, stale));
      stats.addUnexpectedPrefill(address, published!.unexpected.foundBlocks());
      const router = this.router;
      // The horizon as decisions see it: with what the in-flight counts measured (publishScrape read them).
      if (router != null) stats.setEvictionHorizon(address, router.horizonOf(published!));
      return;
    }
    const states = readStates(this.store);
    for (let i = 0; i < states.length; i++) {
      const s = unchecked(states[i]);
      if (s.address != address) continue;
      stats.setHealthy(address, s.refreshHealth(now, stale));
    }
  }

  /** The root is retired (configuration update or shutdown): hand the scrape lease on at once. */
  onDone(): void {
    if (!this.configured) return;
    // No tick flushes after this: streams still running under this root count directly.
    const stats = this.stats;
    if (stats != null) stats.retire();
    releaseLease(this.store, this.leaseOwner, nowMs());
    rootRetired();
  }
}

/** Requests running or waiting at the endpoint's last scrape; true when it was never scraped or is unhealthy. */
function serverBusy(states: Array<EndpointState>, address: string): bool {
  for (let i = 0; i < states.length; i++) {
    const s = unchecked(states[i]);
    if (s.address == address) return stateBusy(s);
  }
  return true;
}

function stateBusy(s: EndpointState): bool {
  if (!s.hasScrapedAt || !s.isHealthy) return true;
  return (s.hasRunning && s.running > 0) || (s.hasWaiting && s.waiting > 0);
}
