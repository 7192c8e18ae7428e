/**
 * Server faults under load, through a real Envoy (2 workers) with the release
 * filter in front of 4 model servers, traffic flowing the whole time. One
 * fault per phase, each on a server that is healthy again (or replaced)
 * before the next. Scrapes every 100 ms, stale after 400 ms, timeout 300 ms.
 *
 * What the client sees, per fault:
 * - killed mid-stream: only requests sent to that server fail (its streams
 *   are cut; requests it held, or sent on a connection it was closing, get
 *   Envoy's 503, not retried as the server may have processed them); every other request
 *   succeeds (new connections to it are refused and retried on another
 *   server); the filter stops picking it within two scrape intervals;
 * - answers 503: nothing (Envoy retries on another server, and the filter,
 *   seeing its pick served elsewhere, leaves the server out for staleAfterMs:
 *   it gets one probe request per staleAfterMs, itself retried);
 * - hangs: the requests it accepted before the filter saw it stale wait
 *   (here until the client's 3 s timeout); everything else succeeds; no new
 *   requests once its last scrape is older than staleAfterMs;
 * - /metrics hangs: nothing; it gets no new requests after staleAfterMs;
 * - /metrics of 10 MB, garbage, or flapping: nothing (no failed request, no
 *   trap);
 * - all servers down: a fast JSON 503 with retry-after.
 */
import { describe, expect, test } from "vitest";
import type { ServerResponse } from "node:http";
import { startEnvoy } from "../../src/envoy/process.js";
import { ENVOY_YAML, FILTER_WASM, SKIP_FILTER, dumpEnvoyLog } from "../envoy/harness.js";
import { FULL, record, setting, sleep, stat, wasmFailures } from "./env.js";
import { Mix, runLoad, startLoadServer, startLoadServers, vllmMetrics, type LoadResult, type LoadServer } from "./traffic.js";

const RATE = setting("FAULT_RATE", 40, 150);
const PHASE_MS = setting("FAULT_PHASE_MS", 3000, 20_000);
const INTERVAL_MS = 100;
const STALE_MS = 400;
const picks = (s: LoadServer) => `wasmcustom.llm_picker.endpoint.picks.${s.address.replace(/[.:]/g, "_")}`;

describe.skipIf(SKIP_FILTER)("server faults under load", () => {
  test("each fault costs only what the hurt server held; healthy-servable requests all succeed", { timeout: 240_000 + PHASE_MS * 30 }, async () => {
    const servers = await startLoadServers(4);
    const [a, b, c, d] = servers;
    const envoy = await startEnvoy({
      config: ENVOY_YAML,
      concurrency: 2,
      logLevel: "warning",
      substitutions: {
        wasmPath: FILTER_WASM,
        endpoints: servers.map((s) => s.address),
        pluginConfig: {
          endpoints: servers.map((s) => ({ address: s.address })),
          metrics: { cluster: "model_servers_metrics", intervalMs: INTERVAL_MS, staleAfterMs: STALE_MS, timeoutMs: 300 },
        },
      },
    });
    const results: Record<string, unknown> = {};
    /** Runs traffic for one phase; `fault` starts at 1/4 of it and returns when to undo. */
    const phase = async (
      name: string,
      fault: () => void | Promise<void>,
      undo: () => void | Promise<void>,
      timeoutMs = 10_000,
    ): Promise<{ load: LoadResult; faultAt: number; failedSentAt: number[] }> => {
      let faultAt = 0;
      const failedSentAt: number[] = [];
      const timer = (async () => {
        await sleep(PHASE_MS / 4);
        faultAt = Date.now();
        await fault();
      })();
      const load = await runLoad({
        url: envoy.listenerUrl,
        rate: RATE,
        total: Math.round((RATE * PHASE_MS) / 1000),
        mix: new Mix(name.length),
        timeoutMs,
        onOutcome: (o) => {
          if (!o.ok) failedSentAt.push(Date.now() - o.ms);
        },
      });
      await timer;
      await undo();
      await sleep(4 * INTERVAL_MS + STALE_MS); // healthy again before the next phase
      results[name] = { sent: load.sent, ok: load.ok, errors: load.errors };
      return { load, faultAt, failedSentAt };
    };
    try {
      // 1. Killed mid-stream: a streams forever until killed, then its port is closed.
      const held: ServerResponse[] = [];
      let picksAt2Intervals = 0;
      let killedAt = 0;
      const picksBefore = await stat(envoy, picks(a));
      const killed = await phase(
        "killed mid-stream",
        async () => {
          // Streams get their first chunk, other requests nothing, until the kill.
          a.fault = (_req, res, body) => {
            if (body.includes('"stream":true')) {
              res.writeHead(200, { "content-type": "text/event-stream" });
              res.write('data: {"choices":[{"delta":{"content":"partial"}}]}\n\n');
            }
            held.push(res);
            return true;
          };
          await sleep(PHASE_MS / 4);
          await a.close();
          killedAt = Date.now();
          await sleep(2 * INTERVAL_MS);
          picksAt2Intervals = await stat(envoy, picks(a));
          results["killed: ms from kill to picks sample"] = Date.now() - killedAt;
        },
        () => undefined,
      );
      const cut = held.length;
      const failed = killed.load.sent - killed.load.ok;
      const sentToA = (await stat(envoy, picks(a))) - picksBefore;
      results["killed: requests a held when killed"] = cut;
      results["killed: requests sent to a in the phase"] = sentToA;
      results["killed: latest failed request sent, ms after the kill"] = Math.max(...killed.failedSentAt) - killedAt;
      expect(cut).toBeGreaterThan(0);
      // Only requests sent to a fail: its cut streams, and Envoy's 503 for the
      // ones it never answered (held, or on a connection it was closing),
      // all sent before the filter stopped picking it (two scrape intervals
      // after the kill, plus the client-to-filter delay of a loaded machine).
      expect(failed).toBeGreaterThanOrEqual(cut);
      expect(failed).toBeLessThanOrEqual(sentToA);
      expect(Math.max(...killed.failedSentAt)).toBeLessThanOrEqual(killedAt + 2 * INTERVAL_MS + 300);
      for (const cause of Object.keys(killed.load.errors)) expect(cause).toMatch(/^(truncated_stream|reset|status_503:.*)$/);
      expect(await stat(envoy, picks(a))).toBe(picksAt2Intervals);
      // Replace a (same address) for the next phases.
      const a2 = await startLoadServer(a.port);
      servers[0] = a2;

      // 2. b answers 503 to every request (its /metrics stays fine).
      const fiveXX = await phase(
        "answers 503",
        () => {
          b.fault = (_req, res) => {
            res.writeHead(503, { "content-type": "application/json" });
            res.end('{"error":{"message":"overloaded","type":"server_error"}}');
            return true;
          };
        },
        () => {
          b.fault = null;
        },
      );
      expect(fiveXX.load.errors).toEqual({});
      expect(fiveXX.load.ok).toBe(fiveXX.load.sent);
      const bAfter = b.arrivals.filter((t) => t > fiveXX.faultAt).length;
      // A fair share would be a quarter of what was sent after the fault; b gets
      // the probes (one per staleAfterMs, plus what was decided while one was out).
      const fairShare = (fiveXX.load.sent * 3) / 4 / 4;
      results["answers 503: requests reaching b after the fault"] = bAfter;
      results["answers 503: b's fair share after the fault"] = Math.round(fairShare);
      expect(bAfter).toBeLessThanOrEqual(fairShare / 2);

      // 3. c hangs: holds every request, and its /metrics.
      const hung: ServerResponse[] = [];
      const hang = await phase(
        "hangs",
        () => {
          c.fault = (_req, res) => {
            hung.push(res);
            return true;
          };
          c.metricsFault = (_req, res) => {
            hung.push(res);
            return true;
          };
        },
        () => {
          c.fault = null;
          c.metricsFault = null;
          for (const r of hung) r.destroy();
        },
        3000,
      );
      const cArrivals = c.arrivals.filter((t) => t > hang.faultAt);
      expect(hang.load.sent - hang.load.ok).toBe(cArrivals.length);
      for (const cause of Object.keys(hang.load.errors)) expect(cause).toBe("timeout");
      expect(cArrivals.filter((t) => t > hang.faultAt + STALE_MS + 2 * INTERVAL_MS)).toEqual([]);
      results["hangs: requests held by c"] = cArrivals.length;

      // 4. d's /metrics hangs (requests still served).
      const metricsHung: ServerResponse[] = [];
      const mh = await phase(
        "/metrics hangs",
        () => {
          d.metricsFault = (_req, res) => {
            metricsHung.push(res);
            return true;
          };
        },
        () => {
          d.metricsFault = null;
          for (const r of metricsHung) r.destroy();
        },
      );
      expect(mh.load.errors).toEqual({});
      expect(d.arrivals.filter((t) => t > mh.faultAt + STALE_MS + 2 * INTERVAL_MS)).toEqual([]);

      // 5–7. /metrics of 10 MB, garbage, flapping: no request fails.
      const big = `# padding\n${"# HELP vllm:padding filler line to make the page large\n".repeat(190_000)}${vllmMetrics(0, 1, 0.2)}`;
      const garbage = Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7919) % 256));
      let flip = 0;
      const page = (status: number, body: string | Buffer) => (_req: unknown, res: ServerResponse) => {
        res.writeHead(status, { "content-type": "text/plain" });
        res.end(body);
        return true;
      };
      const flaps = (req: unknown, res: ServerResponse) => flip++ % 2 === 0 && page(500, "down")(req, res);
      for (const [name, metricsFault] of [
        ["/metrics is 10 MB", page(200, big)],
        ["/metrics is garbage", page(200, garbage)],
        ["/metrics flaps", flaps],
      ] as const) {
        const p = await phase(
          name,
          () => {
            b.metricsFault = metricsFault;
          },
          () => {
            b.metricsFault = null;
          },
        );
        expect(p.load.errors).toEqual({});
      }

      // 8. All servers down: fast JSON 503 with retry-after.
      for (const s of [servers[0], b, c, d]) await s.close();
      const t0 = performance.now();
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${envoy.listenerUrl}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"model":"m","messages":[{"role":"user","content":"anyone?"}]}',
        });
        expect(res.status).toBe(503);
        expect(res.headers.get("content-type")).toBe("application/json");
        expect(res.headers.get("retry-after")).toBe("1");
        expect((await res.json()).error.type).toBe("server_error");
      }
      results["all down: ms per 503"] = Math.round((performance.now() - t0) / 5);
      expect((performance.now() - t0) / 5).toBeLessThan(1000);

      expect(await wasmFailures(envoy)).toEqual({ counters: {}, logLines: [] });
      record(FULL ? "server-faults-full" : "server-faults-ci", results);
    } catch (err) {
      record("server-faults-failed", results);
      dumpEnvoyLog(envoy, "server faults");
      throw err;
    } finally {
      await envoy.stop();
      await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
    }
  });
});
