/**
 * The filter runs AssemblyScript's `minimal` runtime: nothing is collected
 * unless the glue asks, between callbacks (assembly/filter/gc.ts). Through
 * the built filter in the emulated Envoy:
 * - a VM's linear memory stops growing under a long mixed load (bodies from
 *   a few bytes to 1 MB, malformed bodies answered 400, scrapes of a
 *   real-size vLLM page): garbage is collected, not accumulated;
 * - what a request keeps between its callbacks (its endpoint, prefix
 *   hashes, queued prefill) survives the collections other requests trigger:
 *   streams left open across hundreds of requests release exactly their
 *   own in-flight counts when they end, and the index kept their blocks.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import { chatBody, ensureBuilt } from "../support";
import { A, B, C, answerScrapes, inFlightOf, newPool, route, send, totalInFlight, uniquePrompt } from "./fixtures/vllm.js";

beforeAll(() => ensureBuilt("debug"));

/** Bodies of every size class the filter sees: tiny, 8 KB, 100 KB, 1 MB (index i of the load). */
function bodyOf(i: number): string {
  if (i % 97 === 0) return `{"model":"m","messages":[{"role":"user","content":"broken`; // 400
  const size = i % 50 === 0 ? 1 << 20 : i % 10 === 0 ? 100 << 10 : i % 3 === 0 ? 8 << 10 : 200;
  const text = `${uniquePrompt(i % 40)} `;
  return chatBody([text.repeat(Math.max(1, Math.floor(size / text.length)))]);
}

describe("garbage collection points (minimal runtime)", () => {
  let host: ProxyWasmHost | null = null;
  afterEach(() => host?.close());

  it("linear memory levels off under a long mixed load", async () => {
    host = await newPool({ extra: { metrics: { cluster: "model_servers_metrics", intervalMs: 50 } } });
    const h = host;
    // A real-size vLLM V1 page (40 KB, 13 histograms), as bench:overhead's upstream serves it.
    const page = readFileSync(resolve(import.meta.dirname, "..", "fixtures", "metrics", "vllm-v1.txt"), "utf8");
    let scrapes = 0;
    const load = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        expect(route(h, bodyOf(i))).toEqual(i % 97 === 0 ? undefined : expect.any(String));
        if (i % 5 === 0) {
          h.advance(50);
          scrapes += answerScrapes(h, { [A]: page, [B]: page, [C]: page }).length;
        }
      }
    };
    load(0, 600);
    const warm = h.vmMemoryBytes(0);
    load(600, 3000);
    // Every size class recurred many times after the warm-up: a VM that
    // kept garbage would have grown by at least the 1 MB bodies' copies.
    expect(h.vmMemoryBytes(0)).toBe(warm);
    expect(scrapes).toBeGreaterThan(1000);
    expect(h.traps()).toEqual([]);
    expect(totalInFlight(h)).toBe(0);
  });

  it("streams left open across many collections keep their state and release exactly their counts", async () => {
    host = await newPool({ extra: { metrics: { enabled: false } } });
    const h = host;
    const prompt = uniquePrompt(1000).repeat(200); // ~16 KB, 250+ prefix blocks
    const open = [send(h, chatBody([prompt])), send(h, chatBody([`${prompt} second`]))];
    const where = open.map((s) => s.endpoint);
    expect(where[0]).toBeDefined();
    const before = inFlightOf(h, where[0]!);
    // Hundreds of other requests in between: many collections run while the two streams wait.
    for (let i = 0; i < 700; i++) route(h, bodyOf(i + 1));
    expect(inFlightOf(h, where[0]!)).toBe(before);
    for (const s of open) s.stream.sendResponseHeaders([[":status", "200"]], true).end("complete");
    expect(totalInFlight(h)).toBe(0);
    // The index still sends the same prompt where it went (its blocks were recorded and kept).
    expect(route(h, chatBody([prompt]))).toBe(where[0]);
    expect(h.traps()).toEqual([]);
  });
});
