/**
 * A fleet replica that fails a forwarded request before answering (killed,
 * or reset), in a real Envoy running envoy/envoy-fleet.yaml: the first hop
 * retries it on a live replica for every session, including the sessions
 * whose retries Maglev keeps drawing on the failing replica.
 *
 * Envoy re-picks a retry's host at the session hash XORed with ~0, ~1, ...
 * (consecutive table slots) and, when every pick was a host already tried,
 * sends the retry to the last pick anyway. With the 5 re-picks the fleet
 * route had, a few sessions of a dead replica were retried on it every time
 * and failed until the health checks dropped it (docs/fleet.md "When a
 * replica dies"). This test picks such sessions on purpose (the filter's own
 * session keys, src/bench/fleet-sessions.ts, and Envoy's Maglev as
 * src/envoy/maglev.ts models it) and sends them to the first hop while the
 * owner resets every request but still passes its TCP health check: the
 * window between a kill and the health checks, held open. A reset before
 * the response takes the same retry path (retry_on reset, previous_hosts,
 * the same re-picks) as the refused connection of a killed replica.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SessionKeys } from "../../src/bench/fleet-sessions.js";
import { writeEds } from "../../src/envoy/eds.js";
import { MaglevModel } from "../../src/envoy/maglev.js";
import { freePort } from "../../src/envoy/process.js";
import { FILTER_WASM, SKIP_FILTER, send, startFleetReplica, waitFor } from "./harness.js";
import { startUpstream, startUpstreams, type FakeUpstream } from "./upstreams.js";

const SECRET = "test-fleet-retry-secret-0123456789";
/** The re-picks (host_selection_retry_max_attempts) the forward route had when a kill failed sessions. */
const OLD_REPICKS = 5;
const CANDIDATES = 30_000;

function chat(id: number): string {
  return JSON.stringify({ model: "m", messages: [{ role: "user", content: `retry probe ${id}: one word please` }] });
}

/** Share of the failing replica's sessions (random keys) that 5 re-picks cannot move off it. */
function stuckShare(model: MaglevModel, failing: string): number {
  let owned = 0;
  let stuck = 0;
  for (let i = 0; i < 3000; i++) {
    const key = `${i.toString(16).padStart(8, "0")}c0ffee00`;
    if (model.ownerOf(key) !== failing) continue;
    owned++;
    if (model.retryHost(key, new Set([failing]), OLD_REPICKS) === failing) stuck++;
  }
  return owned > 0 ? stuck / owned : 0;
}

describe.skipIf(SKIP_FILTER)("fleet in Envoy: a failing owner's sessions are retried on a live replica", () => {
  let servers: FakeUpstream[] = [];
  let failing: FakeUpstream | null = null;
  let keys: SessionKeys | null = null;
  let edsDir = "";
  beforeAll(async () => {
    servers = await startUpstreams(2);
    keys = await SessionKeys.create(FILTER_WASM);
    edsDir = mkdtempSync(join(tmpdir(), "llm-picker-fleet-retry-"));
  });
  afterAll(async () => {
    keys?.close();
    await Promise.all([...servers, ...(failing ? [failing] : [])].map((s) => s.close()));
    if (edsDir) rmSync(edsDir, { recursive: true, force: true });
  });

  /**
   * This replica on a free port and the failing owner beside it in the EDS
   * file: the owner's address is one whose Maglev table (with this
   * replica's) has sessions its 5 re-picks cannot move off it. Returns the
   * started replica, three such sessions and one ordinary session of the owner.
   */
  async function startScenario() {
    const self = `127.0.0.1:${await freePort()}`;
    // The replica that fails every request it is sent (a reset before any
    // response byte) and accepts the TCP health check. Its port decides the
    // Maglev table: take one whose table has such sessions in numbers
    // (about 1 in 70 of its sessions for a median table of two replicas).
    let model: MaglevModel | null = null;
    for (let attempt = 0; attempt < 20; attempt++) {
      const candidate = await startUpstream();
      const m = new MaglevModel([self, candidate.address]);
      if (stuckShare(m, candidate.address) >= 0.01) {
        failing = candidate;
        model = m;
        break;
      }
      await candidate.close();
    }
    expect(failing, "a failing replica address with stuck sessions").not.toBeNull();
    const owner = failing!.address;
    failing!.handler = (_req, res) => {
      res.socket?.resetAndDestroy();
    };

    // Sessions the failing replica owns whose retries, with 5 re-picks, would all go back to it.
    const stuck: number[] = [];
    let ordinary = -1;
    for (let id = 0; id < CANDIDATES && stuck.length < 3; id++) {
      const key = await keys!.keyOf(chat(id));
      if (model!.ownerOf(key) !== owner) continue;
      if (model!.retryHost(key, new Set([owner]), OLD_REPICKS) === owner) stuck.push(id);
      else if (ordinary < 0) ordinary = id;
    }
    expect(stuck.length).toBe(3);
    expect(ordinary).toBeGreaterThanOrEqual(0);

    writeEds(edsDir, "llm_picker_replicas", [self, owner]);
    const endpoints = servers.map((s) => s.address);
    const envoy = await startFleetReplica(Number(self.split(":")[1]), edsDir, endpoints, SECRET);
    return { envoy, endpoints, stuck, ordinary };
  }

  test("sessions whose 5 Maglev re-picks all land on the failing owner get a 200 from the other replica; the owner sees one attempt each", async () => {
    // A port found free can be taken before Envoy binds it (another test's
    // connection): then everything that depends on this replica's address
    // (the Maglev table, the sessions chosen from it) is chosen again.
    let started: Awaited<ReturnType<typeof startScenario>> | null = null;
    for (let attempt = 1; started === null; attempt++) {
      try {
        started = await startScenario();
      } catch (e) {
        await failing?.close();
        failing = null;
        if (attempt >= 3) throw e;
      }
    }
    const { envoy, endpoints, stuck, ordinary } = started;
    const stat = async (name: string) => (await envoy.stats(name.replace(/\./g, "\\.")))[name] ?? 0;
    // Both replicas healthy in the filter's view (health checks, then a membership read).
    expect(await waitFor(async () => (await stat("wasmcustom.llm_picker.fleet.replicas")) === 2, 15_000)).toBe(true);
    const url = `${envoy.listenerUrl}/v1/chat/completions`;
    const post = (id: number) => send(url, { method: "POST", headers: { "content-type": "application/json" }, body: chat(id) });

    // An ordinary session of the failing owner: once Envoy's own Maglev table
    // has the owner too, the request reaches it (its reset is retried on the
    // first hop itself).
    expect(
      await waitFor(async () => {
        const r = await post(ordinary);
        expect(r.status).toBe(200);
        return failing!.traffic().length > 0;
      }, 10_000),
    ).toBe(true);

    for (const id of stuck) {
      const key = await keys!.keyOf(chat(id));
      const before = failing!.traffic().filter((r) => r.headers["x-llm-picker-session"] === key).length;
      const r = await post(id);
      expect(r.status, r.body).toBe(200);
      // Served by a model server behind the first hop, after one attempt on the failing owner.
      expect(endpoints).toContain(JSON.parse(r.body).upstream);
      expect(failing!.traffic().filter((x) => x.headers["x-llm-picker-session"] === key).length - before).toBe(1);
    }
    expect(await stat("cluster.llm_picker_replicas.upstream_rq_retry_limit_exceeded")).toBe(0);
  }, 60_000);
});
