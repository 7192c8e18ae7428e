/**
 * Process-wide state Envoy shares between VMs: shared data and shared queues
 * (docs/reference/envoy-proxy-wasm.md#shared-data) and the
 * `wasmcustom.*` stats registry (docs/reference/envoy-proxy-wasm.md#stats).
 */
import { MetricType, WasmResult } from "./abi.js";
import type { VmLabel } from "./contexts.js";

/** One shared-data entry: the bytes and the CAS assigned at the last write. */
export interface SharedEntry {
  value: Uint8Array;
  cas: number;
}

/**
 * What a VM's `proxy_get_shared_data` just returned: the argument of
 * `SharedDataHooks.afterGet`.
 */
export interface SharedDataGetEvent {
  vmId: string;
  key: string;
  /** The VM that read: its worker index, or "canary". */
  vm: VmLabel;
  /** The CAS the VM received; undefined for NOT_FOUND. */
  cas: number | undefined;
  /** A copy of the value the VM received; undefined for NOT_FOUND. */
  value: Uint8Array | undefined;
  /** 0 for a VM driven by the test; n for a VM driven from inside a hook n levels deep. */
  depth: number;
}

/** What a VM's `proxy_set_shared_data` asked for and got: the argument of `SharedDataHooks.afterSet`. */
export interface SharedDataSetEvent {
  vmId: string;
  key: string;
  vm: VmLabel;
  /** The CAS the VM passed (0 = unconditional). */
  cas: number;
  /** The WasmResult returned to the VM (Ok or CasMismatch). */
  result: number;
  /** Hook depth, as for gets. */
  depth: number;
}

/**
 * Test hooks on the shared-data calls of VMs (not on the inspector `get`/`set`).
 * In Envoy every worker VM runs on its own thread, so another worker can write
 * a key between one VM's get and its set(cas); in this host every VM call is
 * synchronous and that never happens by itself. `afterGet` runs right after a
 * VM's get has handed it the value and CAS, before the VM resumes: a test can
 * write the key there, or drive a whole request on ANOTHER worker VM (its
 * streams are plain synchronous driver calls), modelling that other thread.
 *
 * Re-entrancy: while `afterGet` runs, the VM that did the get is busy —
 * calling into it throws an Error (a wasm instance cannot be re-entered; real
 * Envoy would run that worker's requests after the current one). Gets made by
 * the VMs a hook drives do not fire `afterGet` again unless `nested` is true.
 * `afterSet` is an observer: it fires for every VM set at every depth and must
 * not drive VMs. An exception thrown by a hook propagates to the test's driver
 * call through the reading VM's frames (that host is then unusable).
 */
export interface SharedDataHooks {
  afterGet?(event: SharedDataGetEvent): void;
  afterSet?(event: SharedDataSetEvent): void;
  /** Also fire `afterGet` for gets made while a hook runs (depth > 0). Default false. */
  nested?: boolean;
}

interface QueueConsumer {
  /** Called (deferred) with the queue token when an item is enqueued. */
  notify(token: number): void;
}

interface SharedQueue {
  token: number;
  vmId: string;
  name: string;
  items: Uint8Array[];
  consumer: QueueConsumer | null;
}

/**
 * The process-wide shared-data and shared-queue store. Pass the same object to
 * several `ProxyWasmHost`s to model a VM replacement that keeps the vm_id
 * (shared data survives an update that keeps the vm_id).
 */
export class SharedDataStore {
  private readonly data = new Map<string, Map<string, SharedEntry>>();
  private readonly queues = new Map<number, SharedQueue>();
  private readonly queueByName = new Map<string, number>();
  /** One global CAS counter from 1, skipping 0 on wrap (`SharedData::nextCas`). */
  private casCounter = 0;
  private nextQueueToken = 1;
  private hooks: SharedDataHooks | null = null;
  private hookDepth = 0;

  /**
   * Install test hooks on VM shared-data calls (see `SharedDataHooks`),
   * replacing any installed ones. Returns a function that removes them.
   */
  intercept(hooks: SharedDataHooks): () => void {
    this.hooks = hooks;
    return () => {
      if (this.hooks === hooks) this.hooks = null;
    };
  }

  /** How deep inside `afterGet` hooks the current call is (0 = not in a hook). */
  get interceptDepth(): number {
    return this.hookDepth;
  }

  /** @internal Would a VM get now fire `afterGet`? (so the VM can skip the copy and the busy mark otherwise) */
  wantsAfterGet(): boolean {
    const h = this.hooks;
    return h !== null && h.afterGet !== undefined && (this.hookDepth === 0 || h.nested === true);
  }

  /** @internal Called by a VM after its get handed over the value (`vm.ts` get_shared_data). */
  vmDidGet(event: Omit<SharedDataGetEvent, "depth">): void {
    const hook = this.hooks?.afterGet;
    if (!hook || !this.wantsAfterGet()) return;
    const depth = this.hookDepth;
    this.hookDepth++;
    try {
      hook({ ...event, depth });
    } finally {
      this.hookDepth--;
    }
  }

  /** @internal Called by a VM after its set (`vm.ts` set_shared_data). */
  vmDidSet(event: Omit<SharedDataSetEvent, "depth">): void {
    this.hooks?.afterSet?.({ ...event, depth: this.hookDepth });
  }

  private namespace(vmId: string): Map<string, SharedEntry> {
    let ns = this.data.get(vmId);
    if (!ns) {
      ns = new Map();
      this.data.set(vmId, ns);
    }
    return ns;
  }

  private nextCas(): number {
    this.casCounter = (this.casCounter + 1) >>> 0;
    if (this.casCounter === 0) this.casCounter = 1;
    return this.casCounter;
  }

  /** A copy of the entry for `key` in `vmId`'s namespace, or undefined (NOT_FOUND). */
  get(vmId: string, key: string): SharedEntry | undefined {
    const entry = this.data.get(vmId)?.get(key);
    return entry ? { value: entry.value.slice(), cas: entry.cas } : undefined;
  }

  /**
   * Envoy's CAS rules: a missing key is always written (whatever `cas`); `cas` 0
   * writes unconditionally; a non-zero `cas` different from the stored one is
   * CAS_MISMATCH and writes nothing. Every write gets a fresh global CAS.
   */
  set(vmId: string, key: string, value: Uint8Array, cas = 0): number {
    const ns = this.namespace(vmId);
    const existing = ns.get(key);
    if (existing && cas !== 0 && cas !== existing.cas) return WasmResult.CasMismatch;
    ns.set(key, { value: value.slice(), cas: this.nextCas() });
    return WasmResult.Ok;
  }

  /** Keys of a namespace (not visible to plugins: the 0.2.1 ABI has no key listing). */
  keys(vmId: string): string[] {
    return [...(this.data.get(vmId)?.keys() ?? [])];
  }

  /** Sum of key and value byte sizes in a namespace. */
  totalBytes(vmId: string): number {
    let total = 0;
    for (const [k, e] of this.data.get(vmId) ?? []) total += Buffer.byteLength(k) + e.value.length;
    return total;
  }

  /** Erase a namespace (Envoy does this when the last VM of the vm_id is released). */
  clear(vmId: string): void {
    this.data.delete(vmId);
    for (const [token, q] of this.queues) {
      if (q.vmId === vmId) {
        this.queues.delete(token);
        this.queueByName.delete(`${vmId}\0${q.name}`);
      }
    }
  }

  /** `proxy_register_shared_queue`: create or re-open; the caller becomes the sole consumer. */
  registerQueue(vmId: string, name: string, consumer: QueueConsumer): number {
    const key = `${vmId}\0${name}`;
    let token = this.queueByName.get(key);
    if (token === undefined) {
      token = this.nextQueueToken++;
      this.queueByName.set(key, token);
      this.queues.set(token, { token, vmId, name, items: [], consumer });
    } else {
      this.queues.get(token)!.consumer = consumer;
    }
    return token;
  }

  /** `proxy_resolve_shared_queue`: the token, or undefined (NOT_FOUND). */
  resolveQueue(vmId: string, name: string): number | undefined {
    return this.queueByName.get(`${vmId}\0${name}`);
  }

  /** `proxy_enqueue_shared_queue`: append and notify the consumer. */
  enqueue(token: number, value: Uint8Array): number {
    const q = this.queues.get(token);
    if (!q) return WasmResult.NotFound;
    q.items.push(value.slice());
    q.consumer?.notify(token);
    return WasmResult.Ok;
  }

  /** `proxy_dequeue_shared_queue`: the next item, or a status (EMPTY / NOT_FOUND). */
  dequeue(token: number): Uint8Array | number {
    const q = this.queues.get(token);
    if (!q) return WasmResult.NotFound;
    const item = q.items.shift();
    return item ?? WasmResult.Empty;
  }

  /** Number of items waiting in a queue (inspector). */
  queueLength(token: number): number {
    return this.queues.get(token)?.items.length ?? 0;
  }
}

/** A stat created through `proxy_define_metric`. */
export interface Metric {
  /** Plain name as the plugin defined it (Envoy stores `wasmcustom.<name>`). */
  name: string;
  type: "counter" | "gauge" | "histogram";
  /** Counter or gauge value. */
  value: bigint;
  /** Every value recorded into a histogram, in order. */
  values: bigint[];
}

const TYPE_NAMES = ["counter", "gauge", "histogram"] as const;

/**
 * Stats defined by the plugin, one stat per name across all VMs of a host (Envoy
 * creates them in the base VM's shared scope). Metric ids encode the type in the
 * low 2 bits like Envoy (`kMetricTypeMask`).
 */
export class MetricsRegistry {
  private readonly byId = new Map<number, Metric>();
  private readonly idByName = new Map<string, number>();
  private nextIndex = 1;

  /** `proxy_define_metric`: BAD_ARGUMENT for an unknown type; same name ⇒ same stat. */
  define(type: number, name: string): { result: number; id: number } {
    if (type > MetricType.Histogram || type < 0) return { result: WasmResult.BadArgument, id: 0 };
    const statName = `wasmcustom.${name}`;
    const key = `${type}:${statName}`;
    let id = this.idByName.get(key);
    if (id === undefined) {
      id = (this.nextIndex++ << 2) | type;
      this.idByName.set(key, id);
      this.byId.set(id, { name, type: TYPE_NAMES[type], value: 0n, values: [] });
    }
    return { result: WasmResult.Ok, id };
  }

  /** `proxy_increment_metric`: counters need delta > 0; gauges add or subtract; histograms reject. */
  increment(id: number, delta: bigint): number {
    const m = this.byId.get(id);
    if (!m) return WasmResult.NotFound;
    if (m.type === "counter") {
      if (delta <= 0n) return WasmResult.BadArgument;
      m.value += delta;
      return WasmResult.Ok;
    }
    if (m.type === "gauge") {
      m.value += delta;
      return WasmResult.Ok;
    }
    return WasmResult.BadArgument;
  }

  /** `proxy_record_metric`: counter add, gauge set (last writer wins), histogram record. */
  record(id: number, value: bigint): number {
    const m = this.byId.get(id);
    if (!m) return WasmResult.NotFound;
    if (m.type === "counter") m.value += value;
    else if (m.type === "gauge") m.value = value;
    else m.values.push(value);
    return WasmResult.Ok;
  }

  /** `proxy_get_metric`: counters and gauges only (a histogram is BAD_ARGUMENT). */
  get(id: number): bigint | number {
    const m = this.byId.get(id);
    if (!m) return WasmResult.NotFound;
    if (m.type === "histogram") return WasmResult.BadArgument;
    return m.value;
  }

  /** Look a stat up by its plain name (or `wasmcustom.<name>`). */
  byName(name: string): Metric | undefined {
    const plain = name.startsWith("wasmcustom.") ? name.slice("wasmcustom.".length) : name;
    for (const m of this.byId.values()) if (m.name === plain) return m;
    return undefined;
  }

  /** All stats. */
  all(): Metric[] {
    return [...this.byId.values()];
  }
}
