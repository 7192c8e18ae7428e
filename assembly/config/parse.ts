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
  MetricsConfig,
  PrefixConfig,
} from "./types";
import { isValidAddress } from "./address";
import { readEndpointsSnapshot } from "../pool/snapshot";
import { GuardConfig, Profile, SaturationConfig } from "../scoring/config";

/** Parses and validates plugin configuration bytes. Never traps. */
export function parseConfig(bytes: Uint8Array): ConfigResult {
  const result = new ConfigResult();
  const config = new Config();
  if (isBlank(bytes)) {
    result.config = config;
    return result;
  }
  const r = new JsonReader(bytes, 32);
  readConfig(r, config);
  r.end();
  if (!r.ok) {
    result.error = new ConfigError(r.errorPath.length > 0 ? r.errorPath : "(document)", stripPath(r.error, r.errorPath));
    return result;
  }
  endpointsFromSnapshot(config);
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
  const m = c.metrics;
  // A staleness bound at or below the scrape interval marks endpoints
  // unhealthy between two good scrapes: they would flap.
  if (m.enabled && m.staleAfterMs <= m.intervalMs) {
    return new ConfigError("metrics.staleAfterMs", "must be greater than metrics.intervalMs (" + m.intervalMs.toString() + "), got " + m.staleAfterMs.toString());
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

function readConfig(r: JsonReader, c: Config): void {
  if (!r.object()) return;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if (key == "endpoints") readEndpoints(r, c);
    else if (key == "maxBodyBytes") c.maxBodyBytes = <i32>r.int(1024, 1 << 30);
    else if (key == "prefix") readPrefix(r, c.prefix);
    else if (key == "weights") readWeights(r, c.scoring.profile);
    else if (key == "metrics") readMetrics(r, c.metrics);
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
    ep.labelKeys.push(k!);
    ep.labelValues.push(v!);
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
    else if (key == "capacityPerEndpoint") p.capacityPerEndpoint = <i32>r.int(1, 1 << 24);
    else if (key == "maxEndpoints") p.maxEndpoints = <i32>r.int(1, 4096);
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

/** `weights.<key>`: one weight per scorer, named by the scorer's weightKey. */
function readWeights(r: JsonReader, p: Profile): void {
  if (!r.object()) return;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    const entry = p.byWeightKey(key);
    if (entry == null) unknownKey(r, key);
    else entry.weight = weight(r);
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
