// The root (plugin) context: owns one validated configuration, its Router
// (prefix index handle, tie-break PRNG), its stats and the metrics scraper.
// Envoy creates a new root context for each plugin configuration (an ECDS
// config-only update reuses the VM with a new root), so all of this lives
// here, never in VM globals; streams keep the root they started with, so an
// in-flight request finishes under the configuration it began with.
import {
  BufferType,
  getBufferBytes,
  getHeader,
  HeaderPair,
  httpCall,
  log,
  LogLevel,
  MapType,
  nowMs,
  refreshLogLevel,
  setTickPeriodMs,
  SharedDataStore,
} from "./host";
import { Config } from "../config/types";
import { parseConfig } from "../config/parse";
import { Router } from "../picker/route";
import { Stats } from "./stats";
import { acquireLease, ensurePoolKeys, releaseLease, prunePublished, pruneInFlight, publishScrape, publishSnapshot, readInFlight, readStates } from "../pool/shared_state";
import { endpointId } from "../prefix/prefix_index";
import { readEndpointsSnapshot } from "../pool/snapshot";
import { parseVllmMetrics } from "../metrics/prometheus";
import { DESTINATION_HEADER } from "./headers";
import { reportHeap, rootConfigured, rootRetired } from "./heap";

/** The scrape lease lasts this many intervals, so a VM that stops scraping is replaced soon. */
const LEASE_INTERVALS: i64 = 3;

export class RootContext {
  config: Config = new Config();
  configured: bool = false;
  router: Router | null = null;
  stats: Stats | null = null;
  readonly store: SharedDataStore = new SharedDataStore();
  private addresses: Array<string> = [];
  /** Scrape callouts in flight: token → endpoint address. */
  private pendingScrapes: Map<u32, string> = new Map<u32, string>();
  /** This root's identity for the scrape lease. */
  private leaseOwner: u64 = 0;

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
    this.addresses = new Array<string>();
    for (let i = 0; i < config.endpoints.length; i++) this.addresses.push(unchecked(config.endpoints[i]).address);
    const seed = config.seed != 0 ? config.seed : <u64>(Math.random() * 9007199254740991.0);
    this.leaseOwner = (<u64>(Math.random() * 4294967295.0) << 32) | <u64>this.id;
    const router = new Router(config, this.store, seed);
    // Creates the index's fixed key space on first start; one read afterwards.
    router.index.init();
    this.router = router;
    this.stats = new Stats(this.addresses);
    this.stats!.syncIndexBytes(router.index.stats.valueBytes);
    ensurePoolKeys(this.store);
    prunePublished(this.store, this.addresses);
    pruneInFlight(this.store, this.addresses);
    const snapshot = config.snapshot;
    if (snapshot != null) {
      const states = readEndpointsSnapshot(snapshot!).states;
      publishSnapshot(this.store, states);
      config.metrics.enabled = false; // the snapshot is the pool state: no scraping over it
    }
    if (config.metrics.enabled && this.addresses.length > 0) setTickPeriodMs(<u32>config.metrics.intervalMs);
    else setTickPeriodMs(0);
    if (!this.configured) rootConfigured();
    this.configured = true;
    log(LogLevel.Info, "llm_picker: configured with " + this.addresses.length.toString() + " endpoint(s)");
    return true;
  }

  /** Scrapes every endpoint's /metrics, if this VM holds the lease (one scraper per Envoy). */
  onTick(): void {
    if (!this.configured) return;
    reportHeap();
    const m = this.config.metrics;
    const now = nowMs();
    if (!acquireLease(this.store, this.leaseOwner, now, <i64>m.intervalMs * LEASE_INTERVALS)) return;
    // A hung scrape never reaches scrapeDone: refresh every endpoint's health
    // gauge here too, so one that goes stale shows 0.
    this.refreshHealthGauges(now);
    for (let i = 0; i < this.addresses.length; i++) {
      const address = unchecked(this.addresses[i]);
      if (this.isScraping(address)) continue;
      const headers = new Array<HeaderPair>();
      headers.push(new HeaderPair(":method", "GET"));
      headers.push(new HeaderPair(":path", m.path));
      headers.push(new HeaderPair(":authority", address));
      // The scrape cluster routes on the same header as requests do, so the
      // callout reaches exactly this member (envoy/envoy.yaml).
      headers.push(new HeaderPair(DESTINATION_HEADER, address));
      const token = httpCall(m.cluster, headers, new Uint8Array(0), <u32>m.timeoutMs);
      if (token == 0) {
        log(LogLevel.Warn, "llm_picker: scrape of " + address + " refused by Envoy (cluster \"" + m.cluster + "\")");
        this.scrapeDone(address, false, null);
        continue;
      }
      this.pendingScrapes.set(token, address);
    }
  }

  private refreshHealthGauges(now: i64): void {
    const stats = this.stats;
    if (stats == null) return;
    const states = readStates(this.store);
    const inflight = readInFlight(this.store);
    for (let i = 0; i < this.addresses.length; i++) {
      const address = unchecked(this.addresses[i]);
      stats.setInFlight(address, inflight.countOf(endpointId(address)));
      let healthy: bool = true; // never scraped, nothing failed yet: unknown, which requests treat as healthy
      for (let j = 0; j < states.length; j++) {
        const s = unchecked(states[j]);
        if (s.address == address) healthy = s.refreshHealth(now, <i64>this.config.metrics.staleAfterMs);
      }
      stats.setHealthy(address, healthy);
    }
  }

  private isScraping(address: string): bool {
    const vals = this.pendingScrapes.values();
    for (let i = 0; i < vals.length; i++) if (unchecked(vals[i]) == address) return true;
    return false;
  }

  onHttpCallResponse(token: u32, numHeaders: u32, bodySize: u32): void {
    if (!this.pendingScrapes.has(token)) return;
    const address = this.pendingScrapes.get(token);
    this.pendingScrapes.delete(token);
    if (numHeaders == 0) {
      this.scrapeDone(address, false, null);
      return;
    }
    const status = getHeader(MapType.HttpCallResponseHeaders, ":status");
    if (status == null || status! != "200") {
      this.scrapeDone(address, false, null);
      return;
    }
    const body = bodySize > 0 ? getBufferBytes(BufferType.HttpCallResponseBody, 0, bodySize) : new Uint8Array(0);
    this.scrapeDone(address, true, body);
  }

  private scrapeDone(address: string, ok: bool, body: Uint8Array | null): void {
    const now = nowMs();
    const metrics = ok && body != null ? parseVllmMetrics(body!) : null;
    publishScrape(this.store, address, metrics, now);
    const stats = this.stats;
    if (stats == null) return;
    if (!ok) stats.scrapeFailed(address);
    // Health as requests will see it (one read, on the scraping VM only).
    const states = readStates(this.store);
    for (let i = 0; i < states.length; i++) {
      const s = unchecked(states[i]);
      if (s.address != address) continue;
      stats.setHealthy(address, s.refreshHealth(now, <i64>this.config.metrics.staleAfterMs));
    }
  }

  /** The root is retired (configuration update or shutdown): hand the scrape lease on at once. */
  onDone(): void {
    if (!this.configured) return;
    releaseLease(this.store, this.leaseOwner, nowMs());
    rootRetired();
  }
}
