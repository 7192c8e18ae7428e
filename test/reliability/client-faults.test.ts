/**
 * Client faults through a real Envoy (2 workers) with the release filter,
 * while other clients keep sending; what the client at fault sees, and that
 * nobody else notices:
 * - a body at 1 byte per 100 ms: served once complete (the filter waits);
 * - an abort mid-body: nothing routed, nothing counted in flight;
 * - an abort mid-stream: the server's stream is cancelled and the endpoint's
 *   in-flight count returns to 0;
 * - many idle connections (10,000 in the full run): other requests still
 *   served;
 * - HTTP/2 (h2c) streams: each answered, a bad one with its JSON 400 without
 *   harming the others; HTTP/1.1 pipelining: answered in order, except a
 *   request pipelined behind a 400 that followed a forwarded request (Envoy
 *   1.40 never reads it; pinned);
 * - header and path oddities: a CRLF in the model name (JSON-escaped: routed
 *   as a model name, never a header), a NUL in a header (Envoy's JSON
 *   400), a 64 KB header (Envoy's JSON 431), the routing header
 *   x-gateway-destination-endpoint in every spelling (never honoured).
 */
import { connect as h2connect } from "node:http2";
import { connect, type Socket } from "node:net";
import { describe, expect, test } from "vitest";
import { startEnvoy } from "../../src/envoy/process.js";
import { ENVOY_YAML, FILTER_WASM, SKIP_FILTER, dumpEnvoyLog } from "../envoy/harness.js";
import { FULL, record, setting, sleep, statSum, wasmFailures } from "./env.js";
import { Mix, runLoad, startLoadServers } from "./traffic.js";

const IDLE = setting("IDLE_CONNECTIONS", 1000, 10_000);
const CHAT = (content: string, extra = "") => `{"model":"m","messages":[{"role":"user","content":${JSON.stringify(content)}}]${extra}}`;

function rawRequest(path: string, body: string, headers: Record<string, string> = {}): string {
  const h = Object.entries({ host: "x", "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  return `POST ${path} HTTP/1.1\r\n${h}\r\n${body}`;
}

/** Opens a socket, writes `chunks` spaced by `gapMs`, resolves everything read until the socket closes or `waitMs` passes. */
function exchange(url: string, chunks: Array<string | Buffer>, gapMs = 0, waitMs = 5000): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s: Socket = connect(Number(u.port), u.hostname);
    let data = "";
    s.on("data", (d) => {
      data += d.toString("latin1");
    });
    s.on("error", () => undefined);
    const finish = () => {
      s.destroy();
      resolve(data);
    };
    s.on("close", finish);
    void (async () => {
      for (const c of chunks) {
        s.write(c);
        if (gapMs > 0) await sleep(gapMs);
      }
      await sleep(waitMs);
      finish();
    })();
  });
}

function statusesOf(raw: string): number[] {
  return [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

describe.skipIf(SKIP_FILTER)("client faults", () => {
  test("each misbehaving client gets a defined answer (or none), and everyone else is served", { timeout: 300_000 }, async () => {
    const servers = await startLoadServers(3);
    const outsider = (await startLoadServers(1))[0];
    const envoy = await startEnvoy({
      config: ENVOY_YAML,
      concurrency: 2,
      logLevel: "warning",
      substitutions: {
        wasmPath: FILTER_WASM,
        endpoints: servers.map((s) => s.address),
        pluginConfig: { endpoints: servers.map((s) => ({ address: s.address })), metrics: { cluster: "model_servers_metrics", intervalMs: 100 } },
      },
    });
    const url = envoy.listenerUrl;
    const results: Record<string, unknown> = {};
    let background = true;
    const others = runLoad({ url, rate: 20, total: 1_000_000, mix: new Mix(7), stop: () => !background });
    try {
      // Slow body: 1 byte per 100 ms.
      const slowBody = CHAT("slow");
      const slow = await exchange(
        url,
        [rawRequest("/v1/chat/completions", "", { "content-length": String(slowBody.length) }), ...slowBody.split("")],
        100,
        1500,
      );
      expect(statusesOf(slow)).toEqual([200]);
      results["slow body: bytes, seconds"] = [slowBody.length, slowBody.length / 10];

      // Abort mid-body: half the body, then the socket is destroyed.
      const body = CHAT("aborted ".repeat(1000));
      await exchange(url, [rawRequest("/v1/chat/completions", "", { "content-length": String(body.length) }), body.slice(0, body.length / 2)], 0, 200);
      await sleep(300);

      // Abort mid-stream: the server streams one chunk and holds; the client goes away.
      let cancelled = 0;
      for (const s of servers) {
        s.fault = (req, res, b) => {
          if (!b.includes("hold-me")) return false;
          res.writeHead(200, { "content-type": "text/event-stream" });
          res.write('data: {"choices":[{"delta":{"content":"x"}}]}\n\n');
          req.socket.on("close", () => cancelled++);
          return true;
        };
      }
      const streamed = await exchange(url, [rawRequest("/v1/chat/completions", CHAT("hold-me", ',"stream":true'))], 0, 800);
      expect(streamed).toContain('data: {"choices"');
      expect(await waitUntil(() => cancelled === 1)).toBe(true);
      for (const s of servers) s.fault = null;

      // Idle connections.
      const idle: Socket[] = [];
      const u = new URL(url);
      for (let i = 0; i < IDLE; i++) {
        const s = connect(Number(u.port), u.hostname);
        s.on("error", () => undefined);
        idle.push(s);
        if (i % 500 === 499) await sleep(50);
      }
      await sleep(500);
      const during = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: CHAT("while idle connections are open"),
      });
      expect(during.status).toBe(200);
      results["idle connections open"] = (await envoy.stats("downstream_cx_active$"))["http.llm_picker.downstream_cx_active"];
      for (const s of idle) s.destroy();

      // HTTP/2 (prior knowledge): concurrent streams, one bad.
      const h2 = h2connect(url);
      const h2req = (payload: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const r = h2.request({ ":method": "POST", ":path": "/v1/chat/completions", "content-type": "application/json" });
          let status = 0;
          let data = "";
          r.on("response", (h) => {
            status = Number(h[":status"]);
          });
          r.on("data", (d) => {
            data += d;
          });
          r.on("end", () => resolve({ status, body: data }));
          r.on("error", reject);
          r.end(payload);
        });
      const h2results = await Promise.all([h2req(CHAT("h2 one")), h2req('{"model":5}'), h2req(CHAT("h2 three"))]);
      h2.close();
      expect(h2results.map((r) => r.status)).toEqual([200, 400, 200]);
      expect(JSON.parse(h2results[1].body).error.code).toBe("invalid_type");

      // HTTP/1.1 pipelining: requests in one write, answered in order; a bad
      // one first gets its 400 and the next is served.
      const C3 = [
        rawRequest("/v1/chat/completions", CHAT("p1")),
        rawRequest("/v1/chat/completions", '{"model":5}'),
        rawRequest("/v1/completions", '{"model":"m","prompt":"p3"}'),
      ];
      expect(statusesOf(await exchange(url, [C3[0] + C3[0] + C3[2]], 0, 1500))).toEqual([200, 200, 200]);
      expect(statusesOf(await exchange(url, [C3[1] + C3[0]], 0, 1500))).toEqual([400, 200]);
      // Envoy 1.40: a request pipelined behind a local reply that itself
      // followed a forwarded request is never read (the connection stays open,
      // idle); with connection: close after every 400 it would be closed
      // instead. Pinned here and in docs/reliability.md.
      expect(statusesOf(await exchange(url, [C3[0] + C3[1] + C3[2]], 0, 1500))).toEqual([200, 400]);

      // CRLF in the model name (JSON-escaped): a model name, never a header.
      for (const s of servers) s.fault = null;
      const crlf = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"model":"m\\r\\nx-evil: 1","messages":[{"role":"user","content":"crlf"}]}',
      });
      expect(crlf.status).toBe(200);
      // A NUL in a header value: Envoy's codec refuses it, as an OpenAI error.
      const rawCr = await exchange(url, [rawRequest("/v1/chat/completions", CHAT("nul"), { "x-model": "a\u0000b" })], 0, 800);
      expect(statusesOf(rawCr)).toEqual([400]);
      expect(rawCr).toContain('"type":"invalid_request_error"');
      // A 64 KB header: Envoy's 431, as an OpenAI error.
      const big = await exchange(url, [rawRequest("/v1/chat/completions", CHAT("big header"), { "x-big": "h".repeat(64 * 1024) })], 0, 800);
      expect(statusesOf(big)).toEqual([431]);
      expect(big).toContain('"type":"invalid_request_error"');

      // The routing header in every spelling, pointing outside the pool: never honoured.
      const spellings = [
        "x-gateway-destination-endpoint",
        "X-Gateway-Destination-Endpoint",
        "X-GATEWAY-DESTINATION-ENDPOINT",
        "x-GaTeWaY-dEsTiNaTiOn-EnDpOiNt",
      ];
      for (const name of spellings) {
        const raw = await exchange(url, [rawRequest("/v1/chat/completions", CHAT(`spelled ${name}`), { [name]: outsider.address })], 0, 600);
        expect(statusesOf(raw)).toEqual([200]);
      }
      // Twice, and with surrounding whitespace.
      const twice = await exchange(
        url,
        [
          `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-gateway-destination-endpoint: ${outsider.address}\r\nx-gateway-destination-endpoint:   ${outsider.address}  \r\ncontent-length: ${CHAT("twice").length}\r\n\r\n${CHAT("twice")}`,
        ],
        0,
        600,
      );
      expect(statusesOf(twice)).toEqual([200]);
      expect(outsider.served + outsider.arrivals.length).toBe(0);

      background = false;
      const load = await others;
      results.others = { sent: load.sent, ok: load.ok, errors: load.errors };
      expect(load.errors).toEqual({});
      // The aborted body and the aborted stream left nothing in flight.
      await sleep(400);
      expect(Object.values(await statSum(envoy, "wasmcustom.llm_picker.endpoint.in_flight."))).toEqual([0, 0, 0]);
      expect(await wasmFailures(envoy)).toEqual({ counters: {}, logLines: [] });
      record(FULL ? "client-faults-full" : "client-faults-ci", results);
    } catch (err) {
      background = false;
      dumpEnvoyLog(envoy, "client faults");
      throw err;
    } finally {
      background = false;
      await others.catch(() => undefined);
      await envoy.stop();
      await Promise.all([...servers, outsider].map((s) => s.close()));
    }
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return true;
    await sleep(25);
  }
  return check();
}
