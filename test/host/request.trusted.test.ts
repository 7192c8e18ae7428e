/**
 * The built filter skips checking the bytes a body shares with an earlier
 * body that parsed (assembly/request/validated_prefixes.ts): after a long
 * conversation routed, each broken copy of it gets exactly the answer a
 * filter that never saw it gives, wherever the fault is (in a shared piece,
 * at a piece's edge, in the part that differs), and the conversation's next
 * turn still routes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProxyWasmHost, runRequest } from "../../src/host/index.js";
import { DEBUG_WASM as WASM, ensureBuilt } from "../support";

const ENDPOINT = "10.0.0.1:8000";
const enc = new TextEncoder();
const dec = new TextDecoder();
const CHUNK = 4096;

/** A conversation of `turns` long messages in several scripts, with escapes (about 14 KB for 4 turns). */
function conversation(turns: number): Uint8Array {
  const words = ["prefix", "données", "東京", "🚀", 'a "quote"', "back\\slash", "new\nline", "über", "cache"];
  const messages = Array.from({ length: turns }, (_, t) => ({
    role: t === 0 ? "system" : t % 2 ? "user" : "assistant",
    content: Array.from({ length: 400 }, (_, i) => words[(i * 7 + t) % words.length]).join(" "),
  }));
  return enc.encode(JSON.stringify({ model: "m", messages, max_tokens: 8 }));
}

async function newHost(): Promise<ProxyWasmHost> {
  const config = { endpoints: [{ address: ENDPOINT }], inspect: true, seed: 1, metrics: { enabled: false } };
  return ProxyWasmHost.create({ wasm: WASM, pluginConfig: JSON.stringify(config), bufferLimitBytes: 64 << 20 });
}

/** The decision line's decision, status and error, as the filter wrote them. */
async function outcome(host: ProxyWasmHost, body: Uint8Array): Promise<{ decision: string; status?: number; error?: unknown }> {
  const { stream } = await runRequest(host, {
    method: "POST",
    path: "/v1/chat/completions",
    headers: [["content-type", "application/json"]],
    body: dec.decode(body) === "" ? undefined : body,
  });
  const got = JSON.parse(dec.decode(stream.filterState("llm_picker.decision")!));
  return { decision: got.decision, status: got.status, error: got.error };
}

/** Where the last escaped newline (backslash, n) starts. */
function lastNewlineEscape(body: Uint8Array): number {
  for (let i = body.length - 2; i > 0; i--) if (body[i] === 0x5c && body[i + 1] === 0x6e && body[i - 1] !== 0x5c) return i;
  throw new Error("no escaped newline");
}

/** `body` with its byte at `at` replaced. */
function broken(body: Uint8Array, at: number, byte: number): Uint8Array {
  const b = body.slice();
  b[at] = byte;
  return b;
}

const hosts: ProxyWasmHost[] = [];
beforeAll(() => ensureBuilt("debug"));
afterAll(() => {
  for (const h of hosts) {
    expect(h.traps()).toEqual([]);
    h.close();
  }
});

describe("a broken copy of a body that parsed gets the answer a fresh filter gives", () => {
  const body = conversation(4);
  // A byte inside message text (the body is one long run of strings after its first bytes).
  const inText = (near: number) => body.indexOf(0x20, near) + 1;
  // [name, the broken body, the decision a fresh filter writes]
  const cases: Array<[string, Uint8Array, string]> = [
    ["a byte not UTF-8 in the first piece", broken(body, inText(2000), 0xff), "reject"],
    ["a raw control byte in the second piece", broken(body, inText(CHUNK + 1000), 0x01), "reject"],
    ["a lone continuation byte just before a piece's edge", broken(body, 2 * CHUNK - 1, 0x80), "reject"],
    ["a lone continuation byte just after a piece's edge", broken(body, 2 * CHUNK + 1, 0x80), "reject"],
    ["a bad escape in the last part", broken(body, lastNewlineEscape(body) + 1, 0x78), "reject"],
    ["cut in the middle of a piece", body.slice(0, CHUNK + 1234), "reject"],
    ["cut at a piece's edge", body.slice(0, 3 * CHUNK), "reject"],
    ["the same body again", body, "route"],
  ];

  it("table: every case, after the body routed, as on a filter that never saw it", async () => {
    const seen = await newHost();
    hosts.push(seen);
    // Twice: a body is remembered whole once its first piece comes back.
    expect((await outcome(seen, body)).decision).toBe("route");
    expect((await outcome(seen, body)).decision).toBe("route");
    for (const [name, b, decision] of cases) {
      const fresh = await newHost();
      hosts.push(fresh);
      const want = await outcome(fresh, b);
      expect(want.decision, name).toBe(decision);
      expect(await outcome(seen, b), name).toEqual(want);
    }
    // The next turn (the same first turns, one more) still routes.
    expect((await outcome(seen, conversation(5))).decision).toBe("route");
  });
});
