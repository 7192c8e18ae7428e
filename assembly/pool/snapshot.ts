// The endpoints snapshot of `llm-picker inspect --endpoints FILE` and of the
// `snapshot` configuration key, exactly:
//   {"<ip:port>": {"waiting": n, "running": n, "kvCacheUsage": 0..1,
//                  "runningLoras": [..], "waitingLoras": [..], "maxLoras": n,
//                  "inFlight": n, "pendingBlocks": n, "slotCapacity": n,
//                  "healthy": true}}
// (pendingBlocks: prompt blocks routed there whose first response byte has
// not come back yet, the prefill queued ahead of a new request;
// slotCapacity: the requests the server runs at once, as learned from its
// scrapes, 0 or missing when not learned.)
// A missing key (or null) means unknown. Anything else is refused with an
// error naming the JSON path, so a typo in a hand-written file is not
// silently read as "unknown". The file order is the pool order.
import { JsonReader } from "../json/reader";
import { ByteWriter } from "../util/bytes";
import { writeJsonText, writeNumber } from "../json/writer";
import { MAX_ADAPTERS, MAX_ADAPTER_NAME_BYTES } from "../metrics/signals";
import { EndpointState, MAX_SLOT_CAPACITY } from "./endpoint_state";
import { MAX_POOL_SIZE } from "./state_codec";

export class SnapshotResult {
  states: Array<EndpointState> = [];
  /** "" when the snapshot was read; else "<path>: <what>". */
  error: string = "";
  get ok(): bool {
    return this.error.length == 0;
  }
}

export function readEndpointsSnapshot(bytes: Uint8Array): SnapshotResult {
  const res = new SnapshotResult();
  const r = new JsonReader(bytes);
  if (r.object()) {
    let address: string | null;
    while ((address = r.key()) != null) {
      const a = address;
      if (a.length == 0) {
        r.fail("empty endpoint address");
        break;
      }
      if (indexOfAddress(res.states, a) >= 0) {
        r.fail("duplicate endpoint address");
        break;
      }
      if (res.states.length >= MAX_POOL_SIZE) {
        r.fail("more than " + MAX_POOL_SIZE.toString() + " endpoints");
        break;
      }
      const s = new EndpointState(a);
      if (!readEndpoint(r, s)) break;
      res.states.push(s);
    }
  }
  r.end();
  if (!r.ok) {
    res.error = r.error;
    res.states = [];
  }
  return res;
}

function indexOfAddress(states: Array<EndpointState>, address: string): i32 {
  for (let i = 0; i < states.length; i++) if (unchecked(states[i]).address == address) return i;
  return -1;
}

function readEndpoint(r: JsonReader, s: EndpointState): bool {
  if (!r.object()) return false;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k;
    if (r.isNull()) continue; // null = unknown, like a missing key
    if (!r.ok) return false;
    if (key == "waiting") {
      s.waiting = readCount(r);
      s.hasWaiting = true;
    } else if (key == "running") {
      s.running = readCount(r);
      s.hasRunning = true;
    } else if (key == "kvCacheUsage") {
      const v = r.number();
      if (r.ok && !(v >= 0 && v <= 1)) r.fail("must be between 0 and 1");
      s.kvCacheUsage = v;
      s.hasKvCacheUsage = true;
    } else if (key == "runningLoras") {
      s.runningLoras = readNames(r);
      s.hasLoras = true;
    } else if (key == "waitingLoras") {
      s.waitingLoras = readNames(r);
      s.hasLoras = true;
    } else if (key == "maxLoras") {
      s.maxLoras = <i32>r.int(0, i32.MAX_VALUE);
      s.hasMaxLoras = true;
    } else if (key == "inFlight") {
      s.inFlight = <i32>r.int(0, i32.MAX_VALUE);
      s.hasInFlight = true;
    } else if (key == "pendingBlocks") {
      s.pendingBlocks = <i32>r.int(0, i32.MAX_VALUE);
    } else if (key == "slotCapacity") {
      s.slotCapacity = <i32>r.int(0, MAX_SLOT_CAPACITY);
    } else if (key == "healthy") {
      s.healthy = r.bool();
      s.hasHealthy = true;
    } else {
      r.fail("unknown key (expected waiting, running, kvCacheUsage, runningLoras, waitingLoras, maxLoras, inFlight, pendingBlocks, slotCapacity, healthy)");
    }
    if (!r.ok) return false;
  }
  return r.ok;
}

function readCount(r: JsonReader): f64 {
  const v = r.number();
  if (r.ok && !(v >= 0 && isFinite(v))) r.fail("must be a non-negative number");
  return v;
}

function readNames(r: JsonReader): Array<string> {
  const out = new Array<string>();
  if (!r.array()) return out;
  while (r.item()) {
    const name = r.string();
    if (name == null) break;
    if (String.UTF8.byteLength(name) > MAX_ADAPTER_NAME_BYTES) {
      r.fail("adapter name longer than " + MAX_ADAPTER_NAME_BYTES.toString() + " bytes");
      break;
    }
    if (out.length >= MAX_ADAPTERS) {
      r.fail("more than " + MAX_ADAPTERS.toString() + " adapters");
      break;
    }
    out.push(name);
  }
  return out;
}

function writeNames(w: ByteWriter, names: Array<string>): void {
  w.byte(0x5b);
  for (let i = 0; i < names.length; i++) {
    if (i > 0) w.byte(0x2c);
    writeJsonText(w, unchecked(names[i]));
  }
  w.byte(0x5d);
}

/** Writes states in the snapshot format above; unknown fields are omitted. */
export function writeEndpointsSnapshot(w: ByteWriter, states: Array<EndpointState>): void {
  w.byte(0x7b);
  for (let i = 0; i < states.length; i++) {
    const s = unchecked(states[i]);
    if (i > 0) w.byte(0x2c);
    writeJsonText(w, s.address);
    w.str(":{");
    let first: bool = true;
    if (s.hasWaiting) {
      first = sep(w, first);
      w.str('"waiting":');
      writeNumber(w, s.waiting);
    }
    if (s.hasRunning) {
      first = sep(w, first);
      w.str('"running":');
      writeNumber(w, s.running);
    }
    if (s.hasKvCacheUsage) {
      first = sep(w, first);
      w.str('"kvCacheUsage":');
      writeNumber(w, s.kvCacheUsage);
    }
    if (s.hasLoras) {
      first = sep(w, first);
      w.str('"runningLoras":');
      writeNames(w, s.runningLoras);
      w.str(',"waitingLoras":');
      writeNames(w, s.waitingLoras);
    }
    if (s.hasMaxLoras) {
      first = sep(w, first);
      w.str('"maxLoras":');
      w.str(s.maxLoras.toString());
    }
    if (s.hasInFlight) {
      first = sep(w, first);
      w.str('"inFlight":');
      w.str(s.inFlight.toString());
    }
    if (s.pendingBlocks > 0) {
      first = sep(w, first);
      w.str('"pendingBlocks":');
      w.str(s.pendingBlocks.toString());
    }
    if (s.slotCapacity > 0) {
      first = sep(w, first);
      w.str('"slotCapacity":');
      w.str(s.slotCapacity.toString());
    }
    if (s.hasHealthy) {
      first = sep(w, first);
      w.str(s.healthy ? '"healthy":true' : '"healthy":false');
    }
    w.byte(0x7d);
  }
  w.byte(0x7d);
}

function sep(w: ByteWriter, first: bool): bool {
  if (!first) w.byte(0x2c);
  return false;
}
