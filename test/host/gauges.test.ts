/**
 * The gauges the reliability soak reads, through the built filter in the
 * emulated Envoy with two worker VMs:
 * - llm_picker.prefix.index_bytes equals the bytes of the index's values in
 *   shared data (every VM adds what its writes changed), and stops at the
 *   bound once the index is full;
 * - llm_picker.vm.heap_bytes is the linear memory of every live VM (the
 *   workers' and the one that configured the plugin first).
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import { chatBody, ensureBuilt } from "../support";
import { newPool, route, stat, uniquePrompt } from "./fixtures/vllm.js";

const PREFIX = "llm-picker/prefix/";
/** Bytes of every index value (bucket keys and the meta key) in shared data. */
function indexValueBytes(host: ProxyWasmHost): number {
  return host.sharedData
    .keys()
    .filter((k) => k.startsWith(PREFIX))
    .reduce((n, k) => n + (host.sharedData.get(k)?.value.length ?? 0), 0);
}

describe("gauges: index bytes and VM heap", () => {
  beforeAll(() => ensureBuilt("debug"));
  let host: ProxyWasmHost | null = null;
  afterEach(() => host?.close());

  // A small index (512 blocks × 4 endpoints = 16 buckets of 128 entries): bound 16 × (8 + 16 × 128) + 16.
  const BOUND = 16 * (8 + 16 * 128) + 16;

  it("index_bytes tracks the index's values across workers, up to its bound", async () => {
    host = await newPool({ workers: 2, extra: { metrics: { enabled: false }, prefix: { capacityPerEndpoint: 512, maxEndpoints: 4 } } });
    const h = host;
    expect(stat(h, "llm_picker.prefix.index_bytes")).toBe(indexValueBytes(h));
    const checkpoints: Array<[number, number, number]> = [];
    for (let i = 0; i < 400; i++) {
      route(h, chatBody([uniquePrompt(i).repeat(8)]), { worker: i % 2 });
      if (i % 100 === 99) checkpoints.push([i + 1, stat(h, "llm_picker.prefix.index_bytes")!, indexValueBytes(h)]);
    }
    for (const [, gauge, actual] of checkpoints) expect(gauge).toBe(actual);
    expect(checkpoints[checkpoints.length - 1][1]).toBe(BOUND);
    expect(h.traps()).toEqual([]);
  });

  it("heap_bytes is the sum of the VMs' linear memory", async () => {
    host = await newPool({ workers: 2, extra: { metrics: { enabled: false } } });
    const h = host;
    route(h, chatBody(["x".repeat(3_000_000)]), { worker: 0 });
    route(h, chatBody(["small"]), { worker: 1 });
    const heap = stat(h, "llm_picker.vm.heap_bytes")!;
    expect(heap).toBeGreaterThan(3_000_000);
    expect(heap % 65536).toBe(0);
    // The workers' memory plus the VM that configured the plugin first (the
    // canary; Envoy keeps it alive: v8.active is workers + 1), which served no request.
    const workers = h.vmMemoryBytes(0) + h.vmMemoryBytes(1);
    expect(heap - workers).toBeGreaterThan(0);
    expect(heap - workers).toBeLessThanOrEqual(2 * 1048576);
  });
});
