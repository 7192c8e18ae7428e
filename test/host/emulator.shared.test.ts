/**
 * Host self-tests: shared data (multi-VM, CAS rules, shared store across hosts),
 * ticks per VM, HTTP callouts on the root context, NUL property paths, metrics.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_EPOCH_MS, ProxyWasmHost, SharedDataStore, WasmResult, toText } from "../../src/host/index.js";
import type { SharedDataGetEvent, SharedDataSetEvent } from "../../src/host/shared.js";
import { guest, logReturned, setBytes, setU32, u32, u64 } from "./guests/guest.js";

const REQ: Array<[string, string]> = [
  [":method", "GET"],
  [":path", "/v1/x?y=1"],
  [":authority", "llm"],
  ["x-foo", "bar"],
];

// ---------------------------------------------------------------------------- shared data

const SD = { CAS_IN: 0x100, SET_RESULT: 0x104, GET_RESULT: 0x108, GOT_CAS: 0x10c, KEY_LEN: 0x110, VAL_LEN: 0x114, KEY: 0x400, VAL: 0x500 };

/** on_request_headers: set_shared_data(KEY, VAL, CAS_IN) then get_shared_data(KEY). */
async function sharedGuest() {
  return guest({
    imports: ["proxy_set_shared_data", "proxy_get_shared_data"],
    funcs: `
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (i32.store (i32.const ${SD.SET_RESULT}) (call $proxy_set_shared_data
          (i32.const ${SD.KEY}) (i32.load (i32.const ${SD.KEY_LEN})) (i32.const ${SD.VAL}) (i32.load (i32.const ${SD.VAL_LEN})) (i32.load (i32.const ${SD.CAS_IN}))))
        (i32.store (i32.const ${SD.GET_RESULT}) (call $proxy_get_shared_data
          (i32.const ${SD.KEY}) (i32.load (i32.const ${SD.KEY_LEN})) (i32.const 0x200) (i32.const 0x204) (i32.const ${SD.GOT_CAS})))
        (i32.const 0))`,
  });
}

/** Run the guest's set+get on `worker`; returns [set result, get result, cas seen]. */
function setThroughGuest(host: ProxyWasmHost, worker: number, key: string, value: string, cas: number) {
  setU32(host, SD.KEY_LEN, setBytes(host, SD.KEY, key, worker), worker);
  setU32(host, SD.VAL_LEN, setBytes(host, SD.VAL, value, worker), worker);
  setU32(host, SD.CAS_IN, cas, worker);
  host.newHttpStream({ worker }).sendRequestHeaders(REQ, true).end();
  return [u32(host, SD.SET_RESULT, worker), u32(host, SD.GET_RESULT, worker), u32(host, SD.GOT_CAS, worker)];
}

describe("shared data: one store per vm_id across VMs, Envoy's CAS rules", () => {
  it("a write on worker 0 is visible on worker 1 with its CAS", async () => {
    const host = await ProxyWasmHost.create({ wasm: await sharedGuest(), workers: 2 });
    const [set0, , cas0] = setThroughGuest(host, 0, "k", "v0", 0);
    expect(set0).toBe(WasmResult.Ok);
    expect(cas0).toBe(1); // the global CAS counter starts at 1
    expect(host.sharedData.get("k")).toEqual({ value: new TextEncoder().encode("v0"), cas: 1 });
    // Stale CAS on an existing key: mismatch, nothing written.
    expect(setThroughGuest(host, 1, "k", "v1", 999)).toEqual([WasmResult.CasMismatch, WasmResult.Ok, 1]);
    expect(toText(host.sharedData.get("k")!.value)).toBe("v0");
    // Current CAS: written, new CAS.
    expect(setThroughGuest(host, 1, "k", "v1", 1)).toEqual([WasmResult.Ok, WasmResult.Ok, 2]);
    // cas = 0: unconditional.
    expect(setThroughGuest(host, 0, "k", "v2", 0)).toEqual([WasmResult.Ok, WasmResult.Ok, 3]);
    // A missing key is always written, even with a non-zero CAS.
    expect(setThroughGuest(host, 0, "fresh", "x", 12345)).toEqual([WasmResult.Ok, WasmResult.Ok, 4]);
    expect(host.sharedData.keys().sort()).toEqual(["fresh", "k"]);
    expect(host.sharedData.totalBytes()).toBe("fresh".length + 1 + "k".length + 2);
  });

  it("hosts sharing a SharedDataStore and vm_id see the same data; another vm_id does not", async () => {
    const store = new SharedDataStore();
    const wasm = await sharedGuest();
    const a = await ProxyWasmHost.create({ wasm, sharedData: store });
    setThroughGuest(a, 0, "k", "from-a", 0);
    const b = await ProxyWasmHost.create({ wasm, sharedData: store });
    expect(toText(b.sharedData.get("k")!.value)).toBe("from-a");
    const other = await ProxyWasmHost.create({ wasm, sharedData: store, vmId: "other" });
    expect(other.sharedData.get("k")).toBeUndefined();
  });

  it("the CAS counter is global across namespaces and a get of a missing key is NOT_FOUND", () => {
    const store = new SharedDataStore();
    expect(store.set("a", "k", new Uint8Array([1]))).toBe(WasmResult.Ok);
    expect(store.set("b", "k", new Uint8Array([2]))).toBe(WasmResult.Ok);
    expect([store.get("a", "k")?.cas, store.get("b", "k")?.cas]).toEqual([1, 2]);
    expect(store.get("a", "missing")).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------- shared-data test hooks

/** Slots of the counter guest. NAIVE = 1: set with cas 0 instead of the CAS from the get. */
const RMW = { KEY: 0x400, KEY_LEN: 0x110, NAIVE: 0x118, ATTEMPTS: 0x11c, CONFLICTS: 0x120, SET_RESULT: 0x124, GOT_CAS: 0x10c, VAL: 0x600 };
const RMW_KEY = "counter";

/**
 * on_request_headers: a u32 counter in shared data, incremented by get → +1 →
 * set(cas from the get), retried on CAS_MISMATCH up to 8 attempts (a guest
 * doing what the filter's index and in-flight updates do).
 */
async function counterGuest() {
  return guest({
    imports: ["proxy_get_shared_data", "proxy_set_shared_data"],
    data: { [RMW.KEY]: RMW_KEY, [RMW.KEY_LEN]: String.fromCharCode(RMW_KEY.length, 0, 0, 0) },
    funcs: `
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (local $r i32) (local $n i32)
        (i32.store (i32.const ${RMW.ATTEMPTS}) (i32.const 0))
        (block $done
          (loop $retry
            (i32.store (i32.const ${RMW.ATTEMPTS}) (i32.add (i32.load (i32.const ${RMW.ATTEMPTS})) (i32.const 1)))
            (local.set $r (call $proxy_get_shared_data
              (i32.const ${RMW.KEY}) (i32.load (i32.const ${RMW.KEY_LEN})) (i32.const 0x200) (i32.const 0x204) (i32.const ${RMW.GOT_CAS})))
            (local.set $n (i32.const 0))
            (if (i32.eqz (local.get $r)) (then (local.set $n (i32.load (i32.load (i32.const 0x200))))))
            (i32.store (i32.const ${RMW.VAL}) (i32.add (local.get $n) (i32.const 1)))
            (local.set $r (call $proxy_set_shared_data
              (i32.const ${RMW.KEY}) (i32.load (i32.const ${RMW.KEY_LEN})) (i32.const ${RMW.VAL}) (i32.const 4)
              (if (result i32) (i32.load (i32.const ${RMW.NAIVE})) (then (i32.const 0)) (else (i32.load (i32.const ${RMW.GOT_CAS}))))))
            (br_if $done (i32.ne (local.get $r) (i32.const ${WasmResult.CasMismatch})))
            (i32.store (i32.const ${RMW.CONFLICTS}) (i32.add (i32.load (i32.const ${RMW.CONFLICTS})) (i32.const 1)))
            (br_if $retry (i32.lt_u (i32.load (i32.const ${RMW.ATTEMPTS})) (i32.const 8)))))
        (i32.store (i32.const ${RMW.SET_RESULT}) (local.get $r))
        (i32.const 0))`,
  });
}

const counterValue = (host: ProxyWasmHost) => new DataView(host.sharedData.get(RMW_KEY)!.value.buffer).getUint32(0, true);
const increment = (host: ProxyWasmHost, worker: number) => host.newHttpStream({ worker }).sendRequestHeaders(REQ, true).end();

describe("shared-data test hooks: another worker between a VM's get and its set", () => {
  it("afterGet runs a whole request on another VM between worker 0's get and set: CAS_MISMATCH, retry, no lost update", async () => {
    const host = await ProxyWasmHost.create({ wasm: await counterGuest(), workers: 2 });
    host.sharedData.set(RMW_KEY, new Uint8Array(4));
    const gets: SharedDataGetEvent[] = [];
    const sets: SharedDataSetEvent[] = [];
    let injected = 0;
    const remove = host.shared.intercept({
      afterGet: (e) => {
        gets.push(e);
        if (e.vm === 0 && injected++ === 0) increment(host, 1); // worker 1's whole request, once
      },
      afterSet: (e) => sets.push(e),
    });
    increment(host, 0);
    remove();
    expect(counterValue(host)).toBe(2);
    expect(u32(host, RMW.CONFLICTS, 0)).toBe(1);
    expect(u32(host, RMW.ATTEMPTS, 0)).toBe(2);
    expect(u32(host, RMW.CONFLICTS, 1)).toBe(0);
    // Worker 1's get ran inside the hook: not reported (nested off); both of worker 0's gets were.
    expect(gets.map((e) => [e.vm, e.key, e.depth])).toEqual([
      [0, RMW_KEY, 0],
      [0, RMW_KEY, 0],
    ]);
    expect(gets[0].cas).toBeGreaterThan(0);
    expect(gets[1].cas).toBeGreaterThan(gets[0].cas!);
    // Every VM set is observed, nested ones with their depth, in the order they happened.
    expect(sets.map((e) => [e.vm, e.result, e.depth])).toEqual([
      [1, WasmResult.Ok, 1],
      [0, WasmResult.CasMismatch, 0],
      [0, WasmResult.Ok, 0],
    ]);
    expect(sets[1].cas).toBe(gets[0].cas);
    // Removed: nothing fires any more.
    increment(host, 1);
    expect(gets).toHaveLength(2);
    expect(counterValue(host)).toBe(3);
  });

  it("control: the same interleaving against set(cas = 0) loses worker 1's update", async () => {
    const host = await ProxyWasmHost.create({ wasm: await counterGuest(), workers: 2 });
    host.sharedData.set(RMW_KEY, new Uint8Array(4));
    setU32(host, RMW.NAIVE, 1, 0);
    let injected = 0;
    host.shared.intercept({ afterGet: (e) => void (e.vm === 0 && injected++ === 0 && increment(host, 1)) });
    increment(host, 0);
    expect(counterValue(host)).toBe(1); // two increments, one survives
    expect(u32(host, RMW.CONFLICTS, 0)).toBe(0);
  });

  it("nested: true reports the gets of VMs driven from a hook, with their depth", async () => {
    const host = await ProxyWasmHost.create({ wasm: await counterGuest(), workers: 3 });
    host.sharedData.set(RMW_KEY, new Uint8Array(4)); // a missing key is written whatever the CAS
    const seen: Array<[unknown, number]> = [];
    host.shared.intercept({
      nested: true,
      afterGet: (e) => {
        seen.push([e.vm, e.depth]);
        expect(host.shared.interceptDepth).toBe(e.depth + 1);
        if (e.vm === 0 && e.depth === 0 && seen.length === 1) increment(host, 1);
        else if (e.vm === 1 && e.depth === 1 && seen.length === 2) increment(host, 2);
      },
    });
    increment(host, 0);
    expect(host.shared.interceptDepth).toBe(0);
    // 0 reads; 1 reads inside (2 runs inside 1: no conflict for 2, a conflict for 1); 0 conflicts and re-reads.
    expect(seen).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
      [1, 1],
      [0, 0],
    ]);
    expect(counterValue(host)).toBe(3);
  });

  it("a hook cannot re-enter the VM whose get it interrupts; the hook is not fired without a hook installed", async () => {
    const host = await ProxyWasmHost.create({ wasm: await counterGuest(), workers: 2 });
    host.shared.intercept({ afterGet: (e) => void (e.vm === 0 && increment(host, 0)) });
    expect(() => increment(host, 0)).toThrow(/re-entrant call proxy_on_context_create into VM 0/);
    // Worker 1 is untouched and works (its gets fire the hook, which does nothing for vm 1).
    const fresh = await ProxyWasmHost.create({ wasm: await counterGuest(), workers: 1 });
    increment(fresh, 0);
    expect(counterValue(fresh)).toBe(1);
  });
});

describe("shared queues", () => {
  it("register makes the caller's root the consumer; enqueue posts on_queue_ready; dequeue drains then EMPTY", () => {
    let ready = 0;
    const store = new SharedDataStore();
    const token = store.registerQueue("vm", "q", { notify: () => ready++ });
    expect(store.resolveQueue("vm", "q")).toBe(token);
    expect(store.resolveQueue("vm", "nope")).toBeUndefined();
    expect(store.enqueue(token, new Uint8Array([7]))).toBe(WasmResult.Ok);
    expect(ready).toBe(1);
    expect(store.dequeue(token)).toEqual(new Uint8Array([7]));
    expect(store.dequeue(token)).toBe(WasmResult.Empty);
    expect(store.dequeue(999)).toBe(WasmResult.NotFound);
  });
});

// ---------------------------------------------------------------------------- ticks

async function tickGuest() {
  return guest({
    imports: ["proxy_set_tick_period_milliseconds", "proxy_get_current_time_nanoseconds"],
    funcs: `
      (func (export "proxy_on_configure") (param i32 i32) (result i32)
        (drop (call $proxy_set_tick_period_milliseconds (i32.const 100))) (i32.const 1))
      (func (export "proxy_on_tick") (param i32)
        (i32.store (i32.const 0x100) (i32.add (i32.load (i32.const 0x100)) (i32.const 1)))
        (drop (call $proxy_get_current_time_nanoseconds (i32.const 0x108))))`,
  });
}

describe("ticks: per root context per VM, on the fake clock", () => {
  it("advance fires due ticks on every worker VM; tick(worker) fires one VM", async () => {
    const host = await ProxyWasmHost.create({ wasm: await tickGuest(), workers: 2 });
    expect(host.tickPeriod(0)).toBe(100);
    host.advance(99);
    expect([u32(host, 0x100, 0), u32(host, 0x100, 1)]).toEqual([0, 0]);
    host.advance(151); // t = 250: ticks at 100 and 200
    expect([u32(host, 0x100, 0), u32(host, 0x100, 1)]).toEqual([2, 2]);
    expect(u64(host, 0x108, 1)).toBe(BigInt(DEFAULT_EPOCH_MS + 200) * 1_000_000n);
    expect(host.tick(1)).toBe(1);
    expect([u32(host, 0x100, 0), u32(host, 0x100, 1)]).toEqual([2, 3]);
    expect(host.nowMs()).toBe(DEFAULT_EPOCH_MS + 250);
  });
});

// ---------------------------------------------------------------------------- HTTP callouts

const HC = {
  STREAM: 0x100,
  TOKEN: 0x104,
  CALL_RESULT: 0x108,
  USE_BAD_HEADERS: 0x10c,
  ROOT: 0x110,
  GOT_TOKEN: 0x114,
  NUM_HEADERS: 0x118,
  BODY_SIZE: 0x11c,
  STATUS: 0x120,
  SET_EFFECTIVE: 0x124,
  BODY_CALLS: 0x128,
};
const pairs = (list: Array<[string, string]>) => {
  const head = Buffer.alloc(4 + list.length * 8);
  head.writeUInt32LE(list.length, 0);
  list.forEach(([k, v], i) => {
    head.writeUInt32LE(Buffer.byteLength(k), 4 + i * 8);
    head.writeUInt32LE(Buffer.byteLength(v), 8 + i * 8);
  });
  return Buffer.concat([head, ...list.map(([k, v]) => Buffer.from(`${k}\0${v}\0`))]).toString("latin1");
};
const GOOD = pairs([
  [":method", "GET"],
  [":path", "/metrics"],
  [":authority", "vllm-1"],
]);
const BAD = pairs([
  [":method", "GET"],
  [":path", "/metrics"],
]);

async function callGuest() {
  return guest({
    imports: [
      "proxy_log",
      "proxy_http_call",
      "proxy_get_buffer_bytes",
      "proxy_get_header_map_value",
      "proxy_get_status",
      "proxy_set_effective_context",
      "proxy_continue_stream",
    ],
    data: { 0x400: "cluster_a", 0x500: GOOD, 0x600: BAD, 0x700: "ping", 0x710: ":status" },
    funcs: `
      (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
        (i32.store (i32.const ${HC.STREAM}) (local.get $ctx))
        (i32.store (i32.const ${HC.CALL_RESULT}) (call $proxy_http_call (i32.const 0x400) (i32.const 9)
          (if (result i32) (i32.load (i32.const ${HC.USE_BAD_HEADERS})) (then (i32.const 0x600)) (else (i32.const 0x500)))
          (if (result i32) (i32.load (i32.const ${HC.USE_BAD_HEADERS})) (then (i32.const ${BAD.length})) (else (i32.const ${GOOD.length})))
          (i32.const 0x700) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 1500) (i32.const ${HC.TOKEN})))
        (i32.const 1))
      (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
        (i32.store (i32.const ${HC.BODY_CALLS}) (i32.add (i32.load (i32.const ${HC.BODY_CALLS})) (i32.const 1))) (i32.const 0))
      (func (export "proxy_on_http_call_response") (param $root i32) (param $token i32) (param $nh i32) (param $bs i32) (param $nt i32)
        (i32.store (i32.const ${HC.ROOT}) (local.get $root))
        (i32.store (i32.const ${HC.GOT_TOKEN}) (local.get $token))
        (i32.store (i32.const ${HC.NUM_HEADERS}) (local.get $nh))
        (i32.store (i32.const ${HC.BODY_SIZE}) (local.get $bs))
        (if (local.get $nh) (then
          (drop (call $proxy_get_buffer_bytes (i32.const 4) (i32.const 0) (local.get $bs) (i32.const 0x200) (i32.const 0x204)))
          ${logReturned(0x200)}
          (drop (call $proxy_get_header_map_value (i32.const 6) (i32.const 0x710) (i32.const 7) (i32.const 0x208) (i32.const 0x20c)))
          ${logReturned(0x208)})
        (else
          (drop (call $proxy_get_status (i32.const ${HC.STATUS}) (i32.const 0x210) (i32.const 0x214)))
          ${logReturned(0x210)}))
        (i32.store (i32.const ${HC.SET_EFFECTIVE}) (call $proxy_set_effective_context (i32.load (i32.const ${HC.STREAM}))))
        (drop (call $proxy_continue_stream (i32.const 0))))`,
  });
}

describe("HTTP callouts", () => {
  it("are recorded and answered on the ROOT context; the stream resumes via set_effective_context + continue_stream", async () => {
    const host = await ProxyWasmHost.create({ wasm: await callGuest(), allowOnHeadersStopIteration: false });
    const s = host.newHttpStream().sendRequestHeaders(REQ, false).sendRequestBody("held", true);
    expect(u32(host, HC.CALL_RESULT)).toBe(WasmResult.Ok);
    const [call] = host.pendingHttpCalls();
    expect(call).toMatchObject({ worker: 0, cluster: "cluster_a", bodyText: "ping", timeoutMs: 1500, rootContextId: 1 });
    expect(call.headers).toContainEqual([":authority", "vllm-1"]);
    expect(u32(host, HC.TOKEN)).toBe(call.token);
    // Without the knob the body is withheld until continue_stream.
    expect(u32(host, HC.BODY_CALLS)).toBe(0);
    expect(s.forwardedRequest()).toBeNull();
    expect(host.respondToHttpCall(call.token, { body: "pong" })).toBe(true);
    expect(u32(host, HC.ROOT)).toBe(1);
    expect(u32(host, HC.GOT_TOKEN)).toBe(call.token);
    expect([u32(host, HC.NUM_HEADERS), u32(host, HC.BODY_SIZE)]).toEqual([1, 4]);
    expect(host.logMessages("info")).toEqual(["pong", "200"]);
    expect(u32(host, HC.SET_EFFECTIVE)).toBe(WasmResult.Ok);
    expect(u32(host, HC.BODY_CALLS)).toBe(1);
    expect(s.forwardedRequest()).toMatchObject({ bodyText: "held", ended: true });
    expect(host.pendingHttpCalls()).toEqual([]);
  });

  it('failure: num_headers = 0 and get_status → BrokenConnection "reset"', async () => {
    const host = await ProxyWasmHost.create({ wasm: await callGuest() });
    host.newHttpStream().sendRequestHeaders(REQ, true);
    host.failHttpCall(host.pendingHttpCalls()[0].token);
    expect(u32(host, HC.NUM_HEADERS)).toBe(0);
    expect(u32(host, HC.STATUS)).toBe(WasmResult.BrokenConnection);
    expect(host.logMessages("info")).toEqual(["reset"]);
  });

  it("missing :authority or an unknown cluster ⇒ BAD_ARGUMENT", async () => {
    const host = await ProxyWasmHost.create({ wasm: await callGuest() });
    setU32(host, HC.USE_BAD_HEADERS, 1);
    host.newHttpStream().sendRequestHeaders(REQ, true);
    expect(u32(host, HC.CALL_RESULT)).toBe(WasmResult.BadArgument);
    const strict = await ProxyWasmHost.create({ wasm: await callGuest(), clusters: ["other"] });
    strict.newHttpStream().sendRequestHeaders(REQ, true);
    expect(u32(strict, HC.CALL_RESULT)).toBe(WasmResult.BadArgument);
    expect(strict.pendingHttpCalls()).toEqual([]);
  });

  it("httpCallHandler answers automatically (settle waits for it)", async () => {
    const host = await ProxyWasmHost.create({
      wasm: await callGuest(),
      httpCallHandler: async (call) => ({ status: 201, body: `echo:${call.bodyText}` }),
    });
    const s = host.newHttpStream().sendRequestHeaders(REQ, true);
    await host.settle();
    expect(host.logMessages("info")).toEqual(["echo:ping", "201"]);
    expect(s.forwardedRequest()?.ended).toBe(true);
  });
});

// ---------------------------------------------------------------------------- properties

const PR = { PATH_LEN: 0x100, RESULT: 0x104, SET_RESULT: 0x108, PATH: 0x400 };

async function propertyGuest() {
  return guest({
    imports: ["proxy_log", "proxy_get_property", "proxy_set_property"],
    data: { 0x300: "my_key", 0x310: "val" },
    funcs: `
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (i32.store (i32.const ${PR.SET_RESULT}) (call $proxy_set_property (i32.const 0x300) (i32.const 6) (i32.const 0x310) (i32.const 3)))
        (i32.store (i32.const ${PR.RESULT}) (call $proxy_get_property (i32.const ${PR.PATH}) (i32.load (i32.const ${PR.PATH_LEN})) (i32.const 0x200) (i32.const 0x204)))
        (if (i32.eqz (i32.load (i32.const ${PR.RESULT}))) (then ${logReturned(0x200)}))
        (i32.const 0))`,
  });
}

describe("properties: NUL-separated paths, Envoy encodings", () => {
  it.each([
    ["request\0path", WasmResult.Ok, "/v1/x?y=1"],
    ["request\0url_path", WasmResult.Ok, "/v1/x"],
    ["request\0headers\0x-foo", WasmResult.Ok, "bar"],
    ["plugin_vm_id", WasmResult.Ok, "llm_picker"],
    ["xds\0cluster_name", WasmResult.Ok, "model_servers"],
    ["my_key", WasmResult.Ok, "val"],
    ["request.path", WasmResult.NotFound, null],
    ["upstream\0address", WasmResult.NotFound, null],
  ])("get_property(%j) → %i", async (path, status, value) => {
    const host = await ProxyWasmHost.create({ wasm: await propertyGuest(), properties: { xds: { cluster_name: "model_servers" } } });
    setU32(host, PR.PATH_LEN, setBytes(host, PR.PATH, path));
    const s = host.newHttpStream().sendRequestHeaders(REQ, true);
    expect(u32(host, PR.RESULT)).toBe(status);
    expect(host.logMessages("info")).toEqual(value === null ? [] : [value]);
    expect(u32(host, PR.SET_RESULT)).toBe(WasmResult.Ok);
    expect(toText(s.filterState("my_key")!)).toBe("val");
    expect(toText(s.filterState("wasm.my_key")!)).toBe("val");
  });

  it("integers are 8-byte little-endian (stream property override)", async () => {
    const host = await ProxyWasmHost.create({ wasm: await propertyGuest() });
    setU32(host, PR.PATH_LEN, setBytes(host, PR.PATH, "connection\0id"));
    const s = host.newHttpStream().setProperty(["connection", "id"], 258).sendRequestHeaders(REQ, true);
    expect(u32(host, PR.RESULT)).toBe(WasmResult.Ok);
    expect([...Buffer.from(host.logMessages("info")[0], "latin1")]).toEqual([2, 1, 0, 0, 0, 0, 0, 0]);
    expect(s.localResponse()).toBeNull();
  });
});

// ---------------------------------------------------------------------------- metrics

const M = {
  C: 0x100,
  G: 0x104,
  H: 0x108,
  INC1: 0x110,
  INC0: 0x114,
  INCNEG: 0x118,
  GAUGE_INC: 0x11c,
  GET_C: 0x120,
  GET_H: 0x128,
  BAD_TYPE: 0x12c,
  GET_G: 0x130,
};

async function metricsGuest() {
  return guest({
    imports: ["proxy_define_metric", "proxy_increment_metric", "proxy_record_metric", "proxy_get_metric"],
    data: { 0x400: "c", 0x401: "g", 0x402: "h" },
    funcs: `
      (func (export "proxy_on_configure") (param i32 i32) (result i32)
        (drop (call $proxy_define_metric (i32.const 0) (i32.const 0x400) (i32.const 1) (i32.const ${M.C})))
        (drop (call $proxy_define_metric (i32.const 1) (i32.const 0x401) (i32.const 1) (i32.const ${M.G})))
        (drop (call $proxy_define_metric (i32.const 2) (i32.const 0x402) (i32.const 1) (i32.const ${M.H})))
        (i32.store (i32.const ${M.BAD_TYPE}) (call $proxy_define_metric (i32.const 3) (i32.const 0x400) (i32.const 1) (i32.const 0x140)))
        (i32.const 1))
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (i32.store (i32.const ${M.INC1}) (call $proxy_increment_metric (i32.load (i32.const ${M.C})) (i64.const 1)))
        (i32.store (i32.const ${M.INC0}) (call $proxy_increment_metric (i32.load (i32.const ${M.C})) (i64.const 0)))
        (i32.store (i32.const ${M.INCNEG}) (call $proxy_increment_metric (i32.load (i32.const ${M.C})) (i64.const -1)))
        (i32.store (i32.const ${M.GAUGE_INC}) (call $proxy_increment_metric (i32.load (i32.const ${M.G})) (i64.const 5)))
        (drop (call $proxy_increment_metric (i32.load (i32.const ${M.G})) (i64.const -2)))
        (drop (call $proxy_record_metric (i32.load (i32.const ${M.H})) (i64.const 42)))
        (drop (call $proxy_get_metric (i32.load (i32.const ${M.C})) (i32.const ${M.GET_C})))
        (drop (call $proxy_get_metric (i32.load (i32.const ${M.G})) (i32.const ${M.GET_G})))
        (i32.store (i32.const ${M.GET_H}) (call $proxy_get_metric (i32.load (i32.const ${M.H})) (i32.const 0x138)))
        (i32.const 0))`,
  });
}

describe("metrics", () => {
  it("one stat per name across VMs; counter delta ≤ 0 is BAD_ARGUMENT; gauges add/subtract; histograms record", async () => {
    const host = await ProxyWasmHost.create({ wasm: await metricsGuest(), workers: 2 });
    expect(u32(host, M.C, 0)).toBe(u32(host, M.C, 1));
    expect(u32(host, M.BAD_TYPE)).toBe(WasmResult.BadArgument);
    host.newHttpStream({ worker: 0 }).sendRequestHeaders(REQ, true);
    host.newHttpStream({ worker: 1 }).sendRequestHeaders(REQ, true);
    expect([u32(host, M.INC1, 1), u32(host, M.INC0, 1), u32(host, M.INCNEG, 1), u32(host, M.GAUGE_INC, 1)]).toEqual([
      WasmResult.Ok,
      WasmResult.BadArgument,
      WasmResult.BadArgument,
      WasmResult.Ok,
    ]);
    expect(u64(host, M.GET_C, 1)).toBe(2n);
    expect(u64(host, M.GET_G, 1)).toBe(6n);
    expect(u32(host, M.GET_H, 1)).toBe(WasmResult.BadArgument);
    expect(host.metric("c")).toMatchObject({ type: "counter", value: 2n });
    expect(host.metric("wasmcustom.g")).toMatchObject({ type: "gauge", value: 6n });
    expect(host.metric("h")).toMatchObject({ type: "histogram", values: [42n, 42n] });
  });
});

// ---------------------------------------------------------------------------- shared queues through VMs

async function queueGuest() {
  return guest({
    imports: ["proxy_log", "proxy_register_shared_queue", "proxy_enqueue_shared_queue", "proxy_dequeue_shared_queue", "proxy_resolve_shared_queue"],
    data: { 0x400: "q", 0x410: "item", 0x420: "llm_picker" },
    funcs: `
      (func (export "proxy_on_configure") (param i32 i32) (result i32)
        (drop (call $proxy_register_shared_queue (i32.const 0x400) (i32.const 1) (i32.const 0x100))) (i32.const 1))
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (drop (call $proxy_resolve_shared_queue (i32.const 0x420) (i32.const 10) (i32.const 0x400) (i32.const 1) (i32.const 0x104)))
        (i32.store (i32.const 0x108) (call $proxy_enqueue_shared_queue (i32.load (i32.const 0x104)) (i32.const 0x410) (i32.const 4)))
        (i32.const 0))
      (func (export "proxy_on_queue_ready") (param $root i32) (param $token i32)
        (i32.store (i32.const 0x10c) (local.get $root))
        (if (i32.eqz (call $proxy_dequeue_shared_queue (local.get $token) (i32.const 0x200) (i32.const 0x204))) (then ${logReturned(0x200)}))
        (i32.store (i32.const 0x110) (call $proxy_dequeue_shared_queue (local.get $token) (i32.const 0x200) (i32.const 0x204))))`,
  });
}

describe("shared queues through VMs", () => {
  it("the last registering root is the consumer: an enqueue on worker 0 wakes worker 1's root", async () => {
    const host = await ProxyWasmHost.create({ wasm: await queueGuest(), workers: 2 });
    host.newHttpStream({ worker: 0 }).sendRequestHeaders(REQ, true);
    expect(u32(host, 0x108, 0)).toBe(WasmResult.Ok);
    expect(host.logs().map((e) => [e.vm, e.message])).toEqual([[1, "item"]]);
    expect(u32(host, 0x10c, 1)).toBe(1);
    expect(u32(host, 0x110, 1)).toBe(WasmResult.Empty);
  });
});

// ---------------------------------------------------------------------------- WASI

async function wasiGuest() {
  return guest({
    imports: ["clock_time_get", "random_get", "environ_sizes_get"],
    funcs: `
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (i32.store (i32.const 0x100) (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 0x108)))
        (i32.store (i32.const 0x110) (call $random_get (i32.const 0x1000) (i32.const 65537)))
        (i32.store (i32.const 0x114) (call $random_get (i32.const 0x1000) (i32.const 65536)))
        (i32.store (i32.const 0x118) (call $environ_sizes_get (i32.const 0x120) (i32.const 0x124)))
        (i32.const 0))`,
  });
}

describe("WASI subset", () => {
  it("clock_time_get reads the fake clock; random_get caps at 64 KiB; environ comes from vm_config", async () => {
    const host = await ProxyWasmHost.create({ wasm: await wasiGuest(), environment: { A: "1", BB: "22" } });
    host.advance(1234);
    host.newHttpStream().sendRequestHeaders(REQ, true);
    expect(u32(host, 0x100)).toBe(0);
    expect(u64(host, 0x108)).toBe(BigInt(DEFAULT_EPOCH_MS + 1234) * 1_000_000n);
    expect([u32(host, 0x110), u32(host, 0x114)]).toEqual([28, 0]);
    expect([u32(host, 0x118), u32(host, 0x120), u32(host, 0x124)]).toEqual([0, 2, "A=1\0BB=22\0".length]);
  });
});
