/**
 * What an OpenAI client sees from Envoy with the filter (envoy/envoy.yaml),
 * one regression test per defect found with the official SDKs:
 *
 * - a body past maxBodyBytes gets a JSON 413: the filter's (Envoy's buffer
 *   limit sits above maxBodyBytes), or Envoy's own rewritten by
 *   local_reply_config when one read crosses both limits at once;
 * - every local reply (400, 413, 429, 503, and Envoy's own 503 when no server
 *   answers) is an OpenAI error object with `content-type: application/json`,
 *   429 and 503 with `retry-after`;
 * - `x-request-id`: the client's is kept, a missing one is generated; either
 *   way the server receives it and the client gets it back, on local replies
 *   too, also when Envoy itself does not generate ids;
 * - a 400 for a body read whole keeps the HTTP/1.1 connection open;
 * - cold start: before the first scrape has answered, endpoints are unknown,
 *   not unhealthy, so prefix affinity routes the first requests.
 */
import { connect, type Socket } from "node:net";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseDocument } from "yaml";
import { vllmPage } from "../host/fixtures/vllm.js";
import { ENVOY_YAML, FILTER_WASM, scrapedAgain, send, SKIP_FILTER, startEnvoyForTest, useEnvoy, waitFor } from "./harness.js";
import { startUpstreams, type FakeUpstream } from "./upstreams.js";

const MAX_BODY = 8 * 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** An OpenAI error object, as the SDKs parse it. */
function expectOpenAiError(reply: { status: number; headers: Headers; body: string }, status: number, type: string, code?: string): void {
  expect(reply.status).toBe(status);
  expect(reply.headers.get("content-type")).toBe("application/json");
  const err = (JSON.parse(reply.body) as { error: { message: string; type: string; code: unknown; param: unknown } }).error;
  expect(typeof err.message).toBe("string");
  expect(err.message.length).toBeGreaterThan(0);
  expect(err.type).toBe(type);
  expect("param" in err).toBe(true);
  if (code !== undefined) expect(err.code).toBe(code);
  if (status === 429 || status === 503) expect(reply.headers.get("retry-after")).toBe("1");
}

function chat(content: string, model = "llama-3-8b"): string {
  return JSON.stringify({ model, messages: [{ role: "user", content }] });
}

/** Raw HTTP/1.1 requests on one socket; resolves each response's head and body (content-length framed). */
class RawConnection {
  private socket: Socket;
  private data = Buffer.alloc(0);
  closed = false;
  private waiters: Array<() => void> = [];
  constructor(url: string) {
    const u = new URL(url);
    this.socket = connect(Number(u.port), u.hostname);
    this.socket.on("data", (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
      this.wake();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on("error", () => undefined);
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  write(text: string | Buffer): void {
    this.socket.write(text);
  }
  /** The next response: status, lower-cased headers, body. */
  async response(timeoutMs = 10_000): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const end = this.data.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = this.data.subarray(0, end).toString("latin1").split("\r\n");
        const status = Number(head[0].split(" ")[1]);
        const headers: Record<string, string> = {};
        for (const line of head.slice(1)) {
          const i = line.indexOf(":");
          headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        const length = Number(headers["content-length"] ?? 0);
        if (this.data.length >= end + 4 + length) {
          const body = this.data.subarray(end + 4, end + 4 + length).toString("utf8");
          this.data = this.data.subarray(end + 4 + length);
          if (status === 100) continue;
          return { status, headers, body };
        }
      }
      if (this.closed) throw new Error("connection closed before a full response");
      if (Date.now() > deadline) throw new Error("no response in time");
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
  close(): void {
    this.socket.destroy();
  }
}

function post(path: string, body: string, host = "x"): string {
  return `POST ${path} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

describe.skipIf(SKIP_FILTER)("the client contract of envoy.yaml with the filter", () => {
  let a: FakeUpstream, b: FakeUpstream;
  beforeAll(async () => {
    [a, b] = await startUpstreams(2);
  });
  afterAll(async () => {
    await Promise.all([a, b].map((u) => u?.close()));
  });
  const envoy = useEnvoy(() => ({
    config: ENVOY_YAML,
    substitutions: { wasmPath: FILTER_WASM, endpoints: [a.address, b.address] },
  }));
  const received = () => [...a.traffic(), ...b.traffic()];
  const clear = () => {
    for (const u of [a, b]) u.clear();
  };

  test("a body just past maxBodyBytes gets the filter's JSON 413, not Envoy's plain text", async () => {
    const reply = await send(`${envoy().listenerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chat("a".repeat(MAX_BODY)),
    });
    expectOpenAiError(reply, 413, "invalid_request_error", "body_too_large");
    expect(reply.headers.get("x-request-id")).toMatch(UUID);
  });

  // Envoy adds each chunk read to the buffered body and checks its limit
  // before the filter sees it, so a read that carries a body from below
  // maxBodyBytes past Envoy's buffer limit at once gets Envoy's 413, which
  // local_reply_config rewrites into the same OpenAI error: either way the
  // client parses it.
  test("a 20 MB body (one read may pass both limits) and a chunked one get a JSON 413 too", async () => {
    const huge = "a".repeat(20 * 1024 * 1024);
    const withLength = await send(`${envoy().listenerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: huge,
    });
    expectOpenAiError(withLength, 413, "invalid_request_error", "body_too_large");
    const chunks = [Buffer.from(huge.slice(0, 1 << 20)), Buffer.from(huge.slice(1 << 20))];
    const chunked = await send(`${envoy().listenerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        pull(c) {
          const next = chunks.shift();
          if (next) c.enqueue(next);
          else c.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expectOpenAiError(chunked, 413, "invalid_request_error", "body_too_large");
  });

  test("400 is an OpenAI error, and the keep-alive connection stays open for the next request", async () => {
    clear();
    const c = new RawConnection(envoy().listenerUrl);
    try {
      c.write(post("/v1/chat/completions", '{"model":5,"messages":[]}'));
      const bad = await c.response();
      expect(bad.status).toBe(400);
      expect(bad.headers["content-type"]).toBe("application/json");
      expect(bad.headers.connection).toBeUndefined();
      expect(JSON.parse(bad.body).error).toMatchObject({ type: "invalid_request_error", param: "model", code: "invalid_type" });
      expect(bad.headers["x-request-id"]).toMatch(UUID);
      // The same socket serves the next request.
      c.write(post("/v1/chat/completions", chat("after the 400")));
      const good = await c.response();
      expect(good.status).toBe(200);
      expect(c.closed).toBe(false);
      expect(received()).toHaveLength(1);
    } finally {
      c.close();
    }
  });

  test("x-request-id: the client's is forwarded and returned; a missing one is generated, forwarded and returned", async () => {
    clear();
    const mine = await send(`${envoy().listenerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "client-id-1" },
      body: chat("with id"),
    });
    expect(mine.status).toBe(200);
    expect(mine.headers.get("x-request-id")).toBe("client-id-1");
    expect(received()[0].headers["x-request-id"]).toBe("client-id-1");
    clear();
    const none = await send(`${envoy().listenerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chat("without id"),
    });
    expect(none.status).toBe(200);
    const id = none.headers.get("x-request-id");
    expect(id).toMatch(UUID);
    expect(received()[0].headers["x-request-id"]).toBe(id);
    clear();
    const get = await send(`${envoy().listenerUrl}/v1/models`);
    expect(get.status).toBe(200);
    expect(get.headers.get("x-request-id")).toBe(received()[0].headers["x-request-id"]);
  });

  test("Envoy's own 503 when no server answers is an OpenAI error with retry-after", async () => {
    // A pool whose only member refuses connections.
    const dead = (await startUpstreams(1))[0];
    const address = dead.address;
    await dead.close();
    const lone = await startEnvoyForTest({ config: ENVOY_YAML, substitutions: { wasmPath: FILTER_WASM, endpoints: [address] } });
    const t0 = Date.now();
    const reply = await send(`${lone.listenerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chat("anyone?"),
    });
    expect(Date.now() - t0).toBeLessThan(3000);
    expectOpenAiError(reply, 503, "server_error");
    expect(reply.headers.get("x-request-id")).toMatch(UUID);
  });
});

describe.skipIf(SKIP_FILTER)("filter local replies 429 and 503, and request ids without Envoy's generator", () => {
  let s: FakeUpstream;
  beforeAll(async () => {
    [s] = await startUpstreams(1);
  });
  afterAll(async () => {
    await s?.close();
  });

  test("429 (every server saturated, sheddable request) carries retry-after and the request id", async () => {
    s.metrics = vllmPage({ waiting: 50, running: 8, kv: 0.95 });
    const envoy = await startEnvoyForTest({
      config: ENVOY_YAML,
      substitutions: {
        wasmPath: FILTER_WASM,
        endpoints: [s.address],
        pluginConfig: { endpoints: [{ address: s.address }], metrics: { cluster: "model_servers_metrics" } },
      },
    });
    expect(await scrapedAgain([s], 3)).toBe(true);
    const reply = await send(`${envoy.listenerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-gateway-inference-priority": "-1", "x-request-id": "shed-me" },
      body: chat("shed"),
    });
    expectOpenAiError(reply, 429, "rate_limit_error", "system_saturated");
    expect(reply.headers.get("x-request-id")).toBe("shed-me");
  });

  test("503 (no endpoint configured) carries retry-after; with generate_request_id off the filter generates the id", async () => {
    const doc = parseDocument(readFileSync(ENVOY_YAML, "utf8"));
    doc.setIn(["static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config", "generate_request_id"], false);
    const envoy = await startEnvoyForTest({
      config: doc.toString(),
      substitutions: { wasmPath: FILTER_WASM, endpoints: [s.address], pluginConfig: { endpoints: [] } },
    });
    const reply = await send(`${envoy.listenerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chat("nobody"),
    });
    expectOpenAiError(reply, 503, "server_error", "no_endpoints");
    expect(reply.headers.get("x-request-id")).toMatch(UUID);
    // Routed requests: the generated id reaches the server and comes back.
    const routed = await startEnvoyForTest({
      config: doc.toString(),
      substitutions: { wasmPath: FILTER_WASM, endpoints: [s.address] },
    });
    s.clear();
    const ok = await send(`${routed.listenerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chat("generated"),
    });
    expect(ok.status).toBe(200);
    const id = ok.headers.get("x-request-id");
    expect(id).toMatch(UUID);
    expect(s.traffic()[0].headers["x-request-id"]).toBe(id);
    // Ids differ from request to request.
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add((await send(`${routed.listenerUrl}/v1/models`)).headers.get("x-request-id") ?? "");
    expect(ids.size).toBe(20);
  });
});

describe.skipIf(SKIP_FILTER)("cold start: endpoints not scraped yet are unknown, not unhealthy", () => {
  let ups: FakeUpstream[] = [];
  beforeAll(async () => {
    ups = await startUpstreams(2);
    // No scrape answers during the test (and none times out): every endpoint stays "not scraped yet".
    for (const u of ups) u.metricsDelayMs = 60_000;
  });
  afterAll(async () => {
    await Promise.all(ups.map((u) => u.close()));
  });

  test("the first requests after Envoy starts follow prefix affinity", async () => {
    const envoy = await startEnvoyForTest({
      config: ENVOY_YAML,
      substitutions: {
        wasmPath: FILTER_WASM,
        endpoints: ups.map((u) => u.address),
        pluginConfig: {
          endpoints: ups.map((u) => ({ address: u.address })),
          metrics: { cluster: "model_servers_metrics", timeoutMs: 60_000 },
          debugHeaders: true,
        },
      },
    });
    // 8 conversations, two turns each: the second turn shares the first's
    // long prefix. Without affinity a random tie-break would split them.
    for (let i = 0; i < 8; i++) {
      const doc = `${createHash("sha256").update(String(i)).digest("hex")} ${"A long shared document. ".repeat(40)}`;
      const first = JSON.stringify({ model: "m", messages: [{ role: "user", content: doc }] });
      const second = JSON.stringify({
        model: "m",
        messages: [
          { role: "user", content: doc },
          { role: "assistant", content: "ok" },
          { role: "user", content: "more?" },
        ],
      });
      for (const u of ups) u.clear();
      expect(
        (await send(`${envoy.listenerUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: first })).status,
      ).toBe(200);
      const firstServer = ups.find((u) => u.traffic().length === 1)!;
      expect(firstServer).toBeDefined();
      expect(
        (await send(`${envoy.listenerUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: second })).status,
      ).toBe(200);
      expect(firstServer.traffic()).toHaveLength(2);
      const scores = JSON.parse(String(firstServer.traffic()[1].headers["x-llm-picker-scores"]));
      expect(scores.allUnhealthy).toBe(false);
      // Affinity was not dropped for want of health data: the default profile's cost scorer ran with its weight.
      expect(scores.weights["predicted-prefill"]).toBe(1);
    }
    // Still no scrape answered nor failed; the health gauge (written by the
    // scraping VM on its ticks) reads unknown as healthy (1).
    const of = async (kind: string) =>
      Object.entries(await envoy.stats("llm_picker\\.endpoint\\.(healthy|scrape_failures)"))
        .filter(([k]) => k.includes(`llm_picker.endpoint.${kind}`))
        .map(([, v]) => v);
    expect(await waitFor(async () => JSON.stringify(await of("healthy")) === "[1,1]", 5000)).toBe(true);
    expect(await of("scrape_failures")).toEqual([0, 0]);
  });
});
