// Plugin configuration: one JSON document, defaults first, strict at load
// (style.md practice 4). Any problem rejects the whole configuration with an
// error naming the field path and the offending value; Envoy then keeps the
// previous configuration (on_configure returns false). Empty = defaults.
import { JsonKind } from "../json/kinds";
import { JsonReader } from "../json/reader";
import {
  Config,
  ConfigError,
  ConfigResult,
  EndpointConfig,
  FleetConfig,
  MAX_INDEX_ENDPOINTS,
  MetricsConfig,
  PoolConfig,
  PrefixConfig,
} from "./types";
import { isValidAddress } from "./address";
import { readEndpointsSnapshot } from "../pool/snapshot";
import { MAX_LABEL_KEY_BYTES, MAX_LABEL_VALUE_BYTES, MAX_LABELS } from "../pool/labels";
import { BoundConfig, GuardConfig, SaturationConfig, ScoringConfig } from "../scoring/config";
import { registeredScorers } from "../scoring/registry";

/** `weights.<key>` entries, applied once the whole document (and so the profile) is known. */
class WeightSetting {
  constructor(
    public key: string,
    public value: f64,
  ) {}
}

/** Parses and validates plugin configuration bytes. Never traps. */
export function parseConfig(bytes: Uint8Array): ConfigResult {
  const result = new ConfigResult();
  const config = new Config();
  if (isBlank(bytes)) {
    result.config = config;
    return result;
  }
  const r = new JsonReader(bytes, 32);
  const weights = new Array<WeightSetting>();
  readConfig(r, config, weights);
  r.end();
  if (!r.ok) {
    result.error = new ConfigError(r.errorPath.length > 0 ? r.errorPath : "(document)", stripPath(r.error, r.errorPath));
    return result;
  }
  const weightError = applyWeights(config.scoring, weights);
  if (weightError != null) {
    result.error = weightError;
    return result;
  }
  endpointsFromSnapshot(config);
  sizeIndexForEndpoints(config);
  const crossFieldError = checkConsistency(config);
  if (crossFieldError != null) {
    result.error = crossFieldError;
    return result;
  }
  result.config = config;
  return result;
}

/** Rules that involve several fields (each named in the message). */
function checkConsistency(c: Config): ConfigError | null {
  const pool = c.pool.cluster;
  if (pool.length > 0 && c.snapshot != null) {
    return new ConfigError("pool.cluster", "\"" + pool + "\" cannot be combined with snapshot (fixed endpoint states)");
  }
  if (pool.length > 0 && c.endpoints.length > 0) {
    // One source of truth: a static list beside the cluster would disagree with it.
    return new ConfigError("pool.cluster", "\"" + pool + "\" cannot be combined with a static endpoints list (the pool is the cluster's membership): remove endpoints or pool.cluster");
  }
  if (c.fleet.cluster.length > 0 && c.fleet.secret.length == 0) {
    return new ConfigError("fleet.secret", "is required with fleet.cluster (replicas recognise forwarded requests by it)");
  }
  if (c.fleet.secret.length > 0 && c.fleet.cluster.length == 0) {
    return new ConfigError("fleet.cluster", "is required with fleet.secret");
  }
  // Each index bucket holds a prompt's block group for maxEndpoints
  // endpoints; past that a prompt every server holds is forgotten for some
  // of them (docs/hashing.md "Bucket size").
  const listed = c.endpoints.length;
  if (listed > c.prefix.maxEndpoints) {
    if (c.prefix.maxEndpointsGiven) {
      return new ConfigError("prefix.maxEndpoints", "must be at least the number of endpoints (" + listed.toString() + "), got " + c.prefix.maxEndpoints.toString());
    }
    return new ConfigError("endpoints", listed.toString() + " endpoints, more than the prefix index supports (" + MAX_INDEX_ENDPOINTS.toString() + ")");
  }
  const m = c.metrics;
  // A staleness bound at or below the scrape interval marks endpoints
  // unhealthy between two good scrapes: they would flap.
  if (m.enabled && m.staleAfterMs <= m.intervalMs) {
    return new ConfigError("metrics.staleAfterMs", "must be greater than metrics.intervalMs (" + m.intervalMs.toString() + "), got " + m.staleAfterMs.toString());
  }
  // An idle endpoint is scraped less often, but never so rarely that it
  // would go stale (and unhealthy) between two scrapes, with room for one late one.
  if (m.enabled && m.idleIntervalMs > 0) {
    if (m.idleIntervalMs < m.intervalMs) {
      return new ConfigError("metrics.idleIntervalMs", "must be at least metrics.intervalMs (" + m.intervalMs.toString() + "), got " + m.idleIntervalMs.toString());
    }
    if (m.idleIntervalMs > m.staleAfterMs / 2) {
      return new ConfigError("metrics.idleIntervalMs", "must be at most half of metrics.staleAfterMs (" + m.staleAfterMs.toString() + "), got " + m.idleIntervalMs.toString());
    }
  }
  return null;
}

function isBlank(b: Uint8Array): bool {
  for (let i = 0; i < b.length; i++) {
    const c = unchecked(b[i]);
    if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) return false;
  }
  return true;
}

function stripPath(error: string, path: string): string {
  if (path.length > 0 && error.startsWith(path + ": ")) return error.substring(path.length + 2);
  return error;
}

function readConfig(r: JsonReader, c: Config, weights: Array<WeightSetting>): void {
  if (!r.object()) return;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if (key == "endpoints") readEndpoints(r, c);
    else if (key == "maxBodyBytes") c.maxBodyBytes = <i32>r.int(1024, 1 << 30);
    else if (key == "prefix") readPrefix(r, c.prefix);
    else if (key == "profile") readProfile(r, c.scoring);
    else if (key == "bound") readBound(r, c.scoring.bound);
    else if (key == "weights") readWeights(r, weights);
    else if (key == "metrics") readMetrics(r, c.metrics);
    else if (key == "pool") readPool(r, c.pool);
    else if (key == "fleet") readFleet(r, c.fleet);
    else if (key == "admission") readAdmission(r, c.scoring.saturation);
    else if (key == "hotSpot") readHotSpot(r, c.scoring.guard);
    else if (key == "debugHeaders") c.debugHeaders = r.bool();
    else if (key == "inspect") c.inspect = r.bool();
    else if (key == "snapshot") readSnapshot(r, c);
    else if (key == "seed") c.seed = <u64>r.int(0, 9007199254740991);
    else unknownKey(r, key);
  }
}

function readSnapshot(r: JsonReader, c: Config): void {
  if (r.kind() != JsonKind.Object) {
    r.fail("expected an object mapping \"ip:port\" to endpoint state");
    return;
  }
  const raw = r.raw();
  if (raw == null) return;
  const result = readEndpointsSnapshot(raw!);
  if (!result.ok) {
    r.fail(result.error);
    return;
  }
  c.snapshot = raw!.slice(0);
}

/**
 * Without an explicit endpoint list, the snapshot's addresses are the pool.
 * Done after the whole document is read, so key order does not matter.
 */
function endpointsFromSnapshot(c: Config): void {
  const snapshot = c.snapshot;
  if (snapshot == null || c.endpoints.length > 0) return;
  const states = readEndpointsSnapshot(snapshot!).states;
  for (let i = 0; i < states.length; i++) {
    const ep = new EndpointConfig();
    ep.address = unchecked(states[i]).address;
    c.endpoints.push(ep);
  }
}

/**
 * A static pool larger than the default prefix.maxEndpoints sizes the index
 * for itself (unless maxEndpoints was given: then checkConsistency names it).
 */
function sizeIndexForEndpoints(c: Config): void {
  const listed = c.endpoints.length;
  if (c.prefix.maxEndpointsGiven || listed <= c.prefix.maxEndpoints) return;
  c.prefix.maxEndpoints = min(listed, MAX_INDEX_ENDPOINTS);
}

function unknownKey(r: JsonReader, key: string): void {
  r.fail("unknown key \"" + key + "\"");
}

function readEndpoints(r: JsonReader, c: Config): void {
  if (!r.array()) return;
  const seen = new Set<string>();
  while (r.item()) {
    const ep = new EndpointConfig();
    if (!r.object()) return;
    let k: string | null;
    while ((k = r.key()) != null) {
      const key = k!;
      if (key == "address") {
        const a = r.string();
        if (a == null) return;
        if (!isValidAddress(a!)) {
          r.fail("\"" + a! + "\" is not an ip:port address (hostnames are not accepted: Envoy routes on the literal address)");
          return;
        }
        if (seen.has(a!)) {
          r.fail("\"" + a! + "\" is listed twice");
          return;
        }
        seen.add(a!);
        ep.address = a!;
      } else if (key == "labels") {
        readLabels(r, ep);
      } else unknownKey(r, key);
    }
    if (!r.ok) return;
    if (ep.address.length == 0) {
      r.fail("an endpoint needs \"address\"");
      return;
    }
    c.endpoints.push(ep);
  }
}

function readLabels(r: JsonReader, ep: EndpointConfig): void {
  if (!r.object()) return;
  let k: string | null;
  while ((k = r.key()) != null) {
    const v = r.string();
    if (v == null) return;
    if (!ep.labels.add(k!, v!)) {
      r.fail("label \"" + k! + "\": empty, repeated, or past the bounds (" + MAX_LABELS.toString() + " labels, keys of " + MAX_LABEL_KEY_BYTES.toString() + " and values of " + MAX_LABEL_VALUE_BYTES.toString() + " bytes)");
      return;
    }
  }
}

function readPrefix(r: JsonReader, p: PrefixConfig): void {
  if (!r.object()) return;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    // A block size of 0 loops forever in the upstream picker: reject <= 0.
    if (key == "enabled") p.enabled = r.bool();
    else if (key == "blockSize") p.blockSize = <i32>r.int(1, 1 << 20);
    else if (key == "maxBlocks") p.maxBlocks = <i32>r.int(1, 1 << 16);
    else if (key == "hashTrailingBlock") p.hashTrailingBlock = r.bool();
    else if (key == "creditReplies") p.creditReplies = r.bool();
    else if (key == "followEvictions") p.followEvictions = r.bool();
    else if (key == "spreadFirstPrefills") p.spreadFirstPrefills = r.bool();
    else if (key == "capacityPerEndpoint") p.capacityPerEndpoint = <i32>r.int(1, 1 << 24);
    else if (key == "maxEndpoints") {
      p.maxEndpoints = <i32>r.int(1, MAX_INDEX_ENDPOINTS);
      p.maxEndpointsGiven = true;
    }
    else unknownKey(r, key);
  }
}

function weight(r: JsonReader): f64 {
  const v = r.number();
  if (!r.ok) return 0;
  if (!isFinite(v) || v < 0 || v > 1000) {
    r.fail("must be a number between 0 and 1000, got " + v.toString());
    return 0;
  }
  return v;
}

/** `weights.<key>`: one weight per scorer, named by the scorer's weightKey (any registered scorer's key). */
function readWeights(r: JsonReader, out: Array<WeightSetting>): void {
  if (!r.object()) return;
  const scorers = registeredScorers();
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    let known = false;
    for (let i = 0; i < scorers.length; i++) if (unchecked(scorers[i]).weightKey == key) known = true;
    if (!known) unknownKey(r, key);
    else {
      const v = weight(r);
      if (r.ok) out.push(new WeightSetting(key, v));
    }
  }
}

/** Applies `weights` to the selected profile; a weight for a scorer the profile does not run is an error. */
function applyWeights(scoring: ScoringConfig, weights: Array<WeightSetting>): ConfigError | null {
  const p = scoring.profile;
  for (let i = 0; i < weights.length; i++) {
    const w = unchecked(weights[i]);
    const entry = p.byWeightKey(w.key);
    if (entry == null) return new ConfigError("weights." + w.key, "the \"" + p.name + "\" profile has no such scorer (set \"profile\" to use it)");
    entry.weight = w.value;
  }
  return null;
}

function readProfile(r: JsonReader, scoring: ScoringConfig): void {
  const s = r.string();
  if (s == null) return;
  if (!scoring.selectProfile(s!)) r.fail("\"" + s! + "\" is not a profile (expected \"default\" or \"seed\")");
}

function readBound(r: JsonReader, b: BoundConfig): void {
  if (!r.object()) return;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if (key == "loadFactor") {
      const v = r.number();
      // Below 1 the pool's capacity is smaller than its load: someone is always over.
      if (r.ok && !(v >= 1 && v <= 1000)) r.fail("must be a number between 1 and 1000, got " + v.toString());
      else b.loadFactor = v;
    } else if (key == "waitRatio") {
      const v = r.number();
      // Below 1 even the best endpoint would be over it.
      if (r.ok && !(v >= 1 && v <= 1000)) r.fail("must be a number between 1 and 1000, got " + v.toString());
      else b.waitRatio = v;
    } else if (key == "loadYieldRatio") {
      const v = r.number();
      // 0 turns the yield off; between 0 and 1 it would take back endpoints costlier than the best kept.
      if (r.ok && !(v == 0 || (v >= 1 && v <= 1000))) r.fail("must be 0 or a number between 1 and 1000, got " + v.toString());
      else b.loadYieldRatio = v;
    } else unknownKey(r, key);
  }
}

function nonEmptyName(r: JsonReader): string | null {
  const s = r.string();
  if (s == null) return null;
  if (s!.length == 0) {
    r.fail("must not be empty");
    return null;
  }
  if (s!.length > 256) {
    r.fail("must be at most 256 characters");
    return null;
  }
  return s;
}

function readFleet(r: JsonReader, f: FleetConfig): void {
  if (!r.object()) return;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if (key == "cluster") {
      const s = nonEmptyName(r);
      if (s != null) f.cluster = s!;
    } else if (key == "secret") {
      const s = r.string();
      if (s == null) continue;
      if (s!.length < 16 || s!.length > 256 || !isHeaderToken(s!)) r.fail("must be 16 to 256 characters from [A-Za-z0-9._~-] (it travels in a header)");
      else f.secret = s!;
    } else unknownKey(r, key);
  }
}

function isHeaderToken(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2e || c == 0x5f || c == 0x7e || c == 0x2d;
    if (!ok) return false;
  }
  return true;
}

function isMetadataNamespace(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2e || c == 0x5f || c == 0x2d;
    if (!ok) return false;
  }
  return true;
}

function readPool(r: JsonReader, p: PoolConfig): void {
  if (!r.object()) return;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if (key == "cluster") {
      const s = nonEmptyName(r);
      if (s != null) p.cluster = s!;
    } else if (key == "adminCluster") {
      const s = nonEmptyName(r);
      if (s != null) p.adminCluster = s!;
    } else if (key == "intervalMs") p.intervalMs = <i32>r.int(10, 3600000);
    else if (key == "timeoutMs") p.timeoutMs = <i32>r.int(1, 60000);
    else if (key == "maxResponseBytes") p.maxResponseBytes = <i32>r.int(1024, 64 * 1024 * 1024);
    else if (key == "metadataNamespace") {
      // "" turns the labels read off; otherwise a filter_metadata key as control planes write them.
      const s = r.string();
      if (s != null) {
        if (s!.length > 0 && (s!.length > 128 || !isMetadataNamespace(s!))) r.fail("\"" + s! + "\" is not a metadata namespace (1-128 characters [A-Za-z0-9._-])");
        else p.metadataNamespace = s!;
      }
    } else unknownKey(r, key);
  }
}

function readMetrics(r: JsonReader, m: MetricsConfig): void {
  if (!r.object()) return;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if (key == "cluster") {
      const s = r.string();
      if (s != null) {
        if (s!.length == 0) r.fail("must not be empty");
        else m.cluster = s!;
      }
    } else if (key == "path") {
      const s = r.string();
      if (s != null) {
        if (!s!.startsWith("/")) r.fail("\"" + s! + "\" must start with /");
        else m.path = s!;
      }
    } else if (key == "intervalMs") m.intervalMs = <i32>r.int(10, 60000);
    else if (key == "idleIntervalMs") m.idleIntervalMs = <i32>r.int(10, 300000);
    else if (key == "staleAfterMs") m.staleAfterMs = <i32>r.int(10, 600000);
    else if (key == "timeoutMs") m.timeoutMs = <i32>r.int(1, 60000);
    else if (key == "enabled") m.enabled = r.bool();
    else unknownKey(r, key);
  }
}

function readAdmission(r: JsonReader, a: SaturationConfig): void {
  if (!r.object()) return;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if (key == "queueThreshold") a.queueThreshold = <f64>r.int(0, 1 << 20);
    else if (key == "kvCacheThreshold") {
      const v = r.number();
      if (r.ok && !(v > 0 && v <= 1)) r.fail("must be in (0, 1], got " + v.toString());
      else a.kvCacheThreshold = v;
    } else unknownKey(r, key);
  }
}

function readHotSpot(r: JsonReader, h: GuardConfig): void {
  if (!r.object()) return;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if (key == "enabled") h.enabled = r.bool();
    else if (key == "absoluteThreshold") {
      const v = r.number();
      if (r.ok && !(v >= 0 && isFinite(v))) r.fail("must be a finite number >= 0");
      else h.absThreshold = v;
    } else if (key == "relativeThreshold") {
      const v = r.number();
      if (r.ok && !(v >= 1 && isFinite(v))) r.fail("must be a finite number >= 1");
      else h.relThreshold = v;
    } else unknownKey(r, key);
  }
}
