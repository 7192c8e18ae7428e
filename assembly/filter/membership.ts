// Glue for `pool.cluster` and `fleet.cluster`: the VM holding the scrape
// lease reads Envoy's admin `/clusters?format=json` for those clusters every
// pool.intervalMs (an http_call to pool.adminCluster, a loopback cluster
// pointing at the admin listener), publishes each membership for every
// worker, and sweeps departed model servers out of the prefix index
// (docs/fleet.md "Pool"). With pool.metadataNamespace set, the pool's
// endpoint labels are read first from `/config_dump` (the EDS metadata;
// `/clusters` does not carry it), so a new member is published with its
// labels, never without them.
//
// Why the admin page: proxy-wasm 0.2.1 in Envoy 1.40 has no property or
// foreign function that lists a cluster's hosts (properties describe the
// current request's upstream only), so the admin API is the one view of
// the live membership a filter can reach.
import { BufferType, getBufferBytes, getHeader, HeaderPair, httpCall, log, LogLevel, MapType } from "./host";
import { Config } from "../config/types";
import { readClusterMembers } from "../pool/cluster_status";
import { EndpointLabelsResult, readEndpointLabels } from "../pool/endpoint_metadata";
import { FLEET_MEMBERS_KEY, Member, publishMembers } from "../pool/members";
import { prunePublished } from "../pool/shared_state";
import { pruneInFlight } from "../pool/in_flight";
import { PrefixIndexConfig } from "../prefix/index_config";
import { endpointId } from "../prefix/endpoint_id";
import { enqueuePurge, purgeStep } from "../prefix/purge";
import { KeyValueStore } from "../util/store";
import { Stats } from "./stats";

/** Index buckets cleaned per tick while a departed endpoint is being purged. */
const PURGE_BUCKETS_PER_TICK: i32 = 256;

export class MembershipPoller {
  /** The last handled response added members (the root scrapes them at once). */
  joined: bool = false;
  /** The pending /clusters call (0: none). */
  private token: u32 = 0;
  /** The pending /config_dump call for the labels (0: none). */
  private labelsToken: u32 = 0;
  private nextPollAt: i64 = 0;
  private failing: bool = false;
  private readonly path: string;
  /** "" when no labels are read (no pool.cluster, or pool.metadataNamespace ""). */
  private readonly labelsPath: string;
  /** The pool's labels as last read (kept when a read fails). */
  private labels: EndpointLabelsResult = new EndpointLabelsResult();

  constructor(private config: Config, private kv: KeyValueStore, private index: PrefixIndexConfig) {
    const pool = config.pool.cluster;
    const fleet = config.fleet.cluster;
    let names = "";
    if (pool.length > 0) names = regexEscape(pool);
    if (fleet.length > 0) names += (names.length > 0 ? "|" : "") + regexEscape(fleet);
    this.path = "/clusters?format=json&filter=" + percentEncode("^(" + names + ")$");
    this.labelsPath = "";
    if (pool.length > 0 && config.pool.metadataNamespace.length > 0) {
      this.labelsPath = "/config_dump?include_eds&mask=static_endpoint_configs,dynamic_endpoint_configs&name_regex="
        + percentEncode("^" + regexEscape(pool) + "$");
    }
  }

  /** Called on every tick of the lease holder: polls when due, and advances the purge sweep. */
  tick(now: i64, stats: Stats | null): void {
    const step = purgeStep(this.kv, this.index, PURGE_BUCKETS_PER_TICK);
    if (stats != null && step.dropped > 0) stats.dropEntries(step.dropped);
    if (this.token != 0 || this.labelsToken != 0 || now < this.nextPollAt) return;
    this.nextPollAt = now + <i64>this.config.pool.intervalMs;
    if (this.labelsPath.length > 0) this.labelsToken = this.call(this.labelsPath, stats);
    else this.token = this.call(this.path, stats);
  }

  /** An admin GET; its token, or 0 (counted as a failed refresh) when Envoy refused the call. */
  private call(path: string, stats: Stats | null): u32 {
    const headers = new Array<HeaderPair>();
    headers.push(new HeaderPair(":method", "GET"));
    headers.push(new HeaderPair(":path", path));
    headers.push(new HeaderPair(":authority", "envoy-admin"));
    const token = httpCall(this.config.pool.adminCluster, headers, new Uint8Array(0), <u32>this.config.pool.timeoutMs);
    if (token == 0) this.failed("admin cluster \"" + this.config.pool.adminCluster + "\" refused the call (is it defined?)", stats);
    return token;
  }

  /** True when `token` was one of this poller's calls (then it has been handled). */
  onResponse(token: u32, numHeaders: u32, bodySize: u32, stats: Stats | null): bool {
    if (token == 0) return false;
    if (token == this.labelsToken) {
      this.labelsToken = 0;
      const page = this.page(numHeaders, bodySize, stats);
      if (page != null) {
        const r = readEndpointLabels(page!, this.config.pool.cluster, this.config.pool.metadataNamespace, this.config.pool.maxResponseBytes);
        if (r.error.length > 0) this.failed(r.error, stats);
        else this.labels = r;
      }
      // The membership is read either way: labels a failed read could not refresh are kept.
      this.token = this.call(this.path, stats);
      return true;
    }
    if (token != this.token) return false;
    this.token = 0;
    const body = this.page(numHeaders, bodySize, stats);
    if (body == null) return true;
    const page = body!;
    const max = this.config.pool.maxResponseBytes;
    let pool: Array<Member> | null = null;
    let replicas: Array<Member> | null = null;
    if (this.config.pool.cluster.length > 0) {
      const r = readClusterMembers(page, this.config.pool.cluster, max);
      if (r.error.length > 0) return this.failed(r.error, stats);
      pool = r.members;
      for (let i = 0; i < r.members.length; i++) {
        const m = unchecked(r.members[i]);
        m.labels = this.labels.of(m.address);
      }
    }
    if (this.config.fleet.cluster.length > 0) {
      const r = readClusterMembers(page, this.config.fleet.cluster, max);
      if (r.error.length > 0) return this.failed(r.error, stats);
      replicas = r.members;
    }
    if (this.failing) log(LogLevel.Info, "llm_picker: admin page readable again");
    this.failing = false;
    if (replicas != null) {
      this.publishReplicas(replicas!);
      if (stats != null) stats.fleetSize(usableCount(replicas!));
    }
    if (pool != null) this.publishPool(pool!, stats);
    return true;
  }

  /** The body of an admin answer; null (counted as a failed refresh) when the call failed or the page is too big. */
  private page(numHeaders: u32, bodySize: u32, stats: Stats | null): Uint8Array | null {
    if (numHeaders == 0) {
      this.failed("admin call failed (reset or timeout)", stats);
      return null;
    }
    const status = getHeader(MapType.HttpCallResponseHeaders, ":status");
    if (status == null || status! != "200") {
      this.failed("admin answered " + (status != null ? status! : "no status"), stats);
      return null;
    }
    if (<i64>bodySize > <i64>this.config.pool.maxResponseBytes) {
      this.failed("admin page of " + bodySize.toString() + " bytes exceeds pool.maxResponseBytes", stats);
      return null;
    }
    const body = bodySize > 0 ? getBufferBytes(BufferType.HttpCallResponseBody, 0, bodySize) : new Uint8Array(0);
    return body != null ? body! : new Uint8Array(0);
  }

  private publishReplicas(members: Array<Member>): void {
    const change = publishMembers(this.kv, members, FLEET_MEMBERS_KEY);
    if (!change.written) return;
    log(LogLevel.Info, "llm_picker: fleet \"" + this.config.fleet.cluster + "\": " + members.length.toString() + " replica(s), "
      + change.added.length.toString() + " joined, " + change.removed.length.toString() + " left");
  }

  private publishPool(members: Array<Member>, stats: Stats | null): void {
    const change = publishMembers(this.kv, members);
    if (stats != null) stats.poolSize(members.length);
    if (!change.written) return;
    const addresses = new Array<string>(members.length);
    for (let i = 0; i < addresses.length; i++) unchecked((addresses[i] = unchecked(members[i]).address));
    prunePublished(this.kv, addresses);
    pruneInFlight(this.kv, addresses);
    const gone = new Array<u32>(change.removed.length);
    for (let i = 0; i < gone.length; i++) unchecked((gone[i] = endpointId(unchecked(change.removed[i]))));
    enqueuePurge(this.kv, this.index, gone);
    if (stats != null) stats.poolChanged(change.added.length, change.removed.length);
    this.joined = change.added.length > 0;
    log(LogLevel.Info, "llm_picker: pool \"" + this.config.pool.cluster + "\": " + members.length.toString() + " member(s), "
      + change.added.length.toString() + " joined, " + change.removed.length.toString() + " left");
    // The index was sized at load; a cluster that outgrew it forgets shared
    // prompts for some servers (docs/hashing.md "Bucket size").
    const sizedFor = this.config.prefix.maxEndpoints;
    if (this.config.prefix.enabled && members.length > sizedFor) {
      log(LogLevel.Warn, "llm_picker: pool \"" + this.config.pool.cluster + "\" has " + members.length.toString() + " members, more than prefix.maxEndpoints ("
        + sizedFor.toString() + "): set prefix.maxEndpoints to at least the pool's size");
    }
  }

  private failed(why: string, stats: Stats | null): bool {
    if (stats != null) stats.poolRefreshFailed();
    // Once per failure streak: a missing admin cluster would otherwise log every interval.
    if (!this.failing) log(LogLevel.Warn, "llm_picker: cluster membership not refreshed, keeping the last one: " + why);
    this.failing = true;
    return true;
  }
}

/** Escapes RE2 metacharacters (Istio cluster names hold '|' and '.'). */
function regexEscape(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    if ("\\^$.|?*+()[]{}".includes(c)) out += "\\";
    out += c;
  }
  return out;
}

const HEX = "0123456789ABCDEF";

/** Percent-encodes every byte outside [A-Za-z0-9_~-] (the admin decodes query values). */
function percentEncode(s: string): string {
  const b = Uint8Array.wrap(String.UTF8.encode(s));
  let out = "";
  for (let i = 0; i < b.length; i++) {
    const c = unchecked(b[i]);
    const plain = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f || c == 0x2d || c == 0x7e;
    if (plain) out += String.fromCharCode(c);
    else out += "%" + HEX.charAt(c >> 4) + HEX.charAt(c & 15);
  }
  return out;
}

function usableCount(members: Array<Member>): i32 {
  let n = 0;
  for (let i = 0; i < members.length; i++) if (unchecked(members[i]).usable) n++;
  return n;
}
