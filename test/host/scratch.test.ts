/**
 * The request body and a scrape's page are copied into one reused scratch
 * buffer per VM (assembly/filter/alloc.ts) instead of a new buffer each. A
 * shorter value after a longer one must see only its own bytes: nothing of
 * the previous request or page may show through. Checked against a fresh
 * VM that never saw the earlier value.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ProxyWasmHost } from "../../src/host/index.js";
import { A, B, C, answerScrapes, newPool, poolConfig, send, vllmPage } from "./fixtures/vllm.js";
import { DEBUG_WASM, ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

const INSPECT = { inspect: true, metrics: { enabled: false }, seed: 3 };

/** The decision line the filter wrote for one request (its parsed request and prefix hashes included). */
function decision(host: ProxyWasmHost, body: string): Record<string, unknown> {
  const s = send(host, body, { headers: [["x-request-id", "r"]] });
  const line = s.stream.filterState("llm_picker.decision");
  s.stream.sendResponseHeaders([[":status", "200"]], true).end("complete");
  expect(line).toBeDefined();
  return JSON.parse(new TextDecoder().decode(line!));
}

const chat = (text: string) => JSON.stringify({ model: "m", messages: [{ role: "user", content: text }] });

describe("scratch buffer reuse", () => {
  it("a short body after a long one parses and hashes exactly as in a fresh VM", async () => {
    const long = chat("the first and much longer request ".repeat(600)); // ~20 KB
    const shorts = [chat("short"), JSON.stringify({ model: "m", prompt: "p" }), "{}", chat("é".repeat(40))];
    const reused = await newPool({ extra: INSPECT });
    decision(reused, long);
    for (const body of shorts) {
      const fresh = await newPool({ extra: INSPECT });
      const want = decision(fresh, body);
      fresh.close();
      const got = decision(reused, body);
      delete want.scores;
      delete got.scores; // in-flight counts differ between the two VMs, the request and its hashes must not
      expect(got.request).toEqual(want.request);
      expect(got.prefix).toEqual(want.prefix);
      expect(got.decision).toEqual(want.decision);
      decision(reused, long); // the long body again before the next short one
    }
    expect(reused.traps()).toEqual([]);
    reused.close();
  });

  it("a body that is a valid prefix of the previous one is still judged on its own bytes", async () => {
    const host = await newPool({ extra: INSPECT });
    decision(host, chat("x".repeat(5000)));
    // The previous body's bytes after this one would make it valid JSON if they showed through.
    const s = send(host, '{"model":"m","messages":[{"role":"user","content":"xx');
    expect(s.status).toBe(400);
    host.close();
  });

  it("a short /metrics page after a long one publishes only its own values", async () => {
    const host = await ProxyWasmHost.create({ wasm: DEBUG_WASM, pluginConfig: poolConfig([A, B, C], { metrics: { intervalMs: 50 }, inspect: true }) });
    const padding = "# HELP filler_metric a comment line to make the page long\n".repeat(800); // ~45 KB
    host.advance(50);
    answerScrapes(host, {
      [A]: padding + vllmPage({ waiting: 9, running: 9, kv: 0.9 }),
      [B]: { waiting: 0, running: 0, kv: 0 },
      [C]: { waiting: 0, running: 0, kv: 0 },
    });
    host.advance(50);
    // A's second page is shorter; the long page ends with kv 0.9, which would win if its tail showed through.
    answerScrapes(host, {
      [A]: vllmPage({ waiting: 1, running: 2, kv: 0.25 }),
      [B]: { waiting: 0, running: 0, kv: 0 },
      [C]: { waiting: 0, running: 0, kv: 0 },
    });
    const line = decision(host, chat("which endpoint"));
    const scores = line.scores as Record<string, Record<string, number>>;
    expect(scores["kv-cache"][A]).toBe(0.75);
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
