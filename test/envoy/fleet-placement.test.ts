/**
 * Fleet placement hints in real Envoys (envoy/envoy-fleet.yaml, docs/fleet.md
 * "Placement hints"): three replicas; four sessions owned by one replica,
 * each pinned to its own model server (the others report a long queue when
 * its first turn is decided), reach the fleet through another replica. The
 * owner is stopped and leaves the replicas' EDS. The sessions' next turns go
 * to a new owner whose index has never seen them: each still lands on the
 * server that holds its conversation, because the first hop passes on where
 * the old owner put it. Without the hint the new owner would place each by
 * its first blocks alone, on its own server in only a quarter of cases
 * (all four at once: 1 in 256).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SessionKeys } from "../../src/bench/fleet-sessions.js";
import { writeEds } from "../../src/envoy/eds.js";
import { MaglevModel } from "../../src/envoy/maglev.js";
import type { EnvoyProcess } from "../../src/envoy/process.js";
import { vllmPage } from "../host/fixtures/vllm.js";
import { FILTER_WASM, SKIP_FILTER, send, startFleetReplicas, waitFor } from "./harness.js";
import { startUpstreams, type FakeUpstream } from "./upstreams.js";

const SECRET = "test-fleet-placement-secret-0123456789";
const PLACEMENT = "x-llm-picker-placement";
const DETAIL = " My order arrived with a bent wheel and a missing bell, and the invoice is wrong.".repeat(8);

function chat(id: number, turns: number): string {
  const messages: Array<{ role: string; content: string }> = [{ role: "system", content: `You help customer ${id} of a bicycle shop.` }];
  for (let t = 0; t < turns; t++) {
    messages.push({ role: "user", content: `customer ${id}, question ${t}.${DETAIL}` });
    if (t < turns - 1) messages.push({ role: "assistant", content: `answer ${t} for customer ${id}.${DETAIL}` });
  }
  return JSON.stringify({ model: "m", messages });
}

const idle = vllmPage({ waiting: 0, running: 0 });
const busy = vllmPage({ waiting: 40, running: 60 });

describe.skipIf(SKIP_FILTER)("fleet in Envoy: a session's new owner keeps it where its turns are cached", () => {
  let servers: FakeUpstream[] = [];
  let envoys: EnvoyProcess[] = [];
  let keys: SessionKeys | null = null;
  let edsDir = "";
  beforeAll(async () => {
    servers = await startUpstreams(4);
    for (const s of servers) s.metrics = idle;
    keys = await SessionKeys.create(FILTER_WASM);
    edsDir = mkdtempSync(join(tmpdir(), "llm-picker-fleet-placement-"));
  });
  afterAll(async () => {
    keys?.close();
    await Promise.all(envoys.map((e) => e.stop()));
    await Promise.all(servers.map((s) => s.close()));
    if (edsDir) rmSync(edsDir, { recursive: true, force: true });
  });

  test("after the owner leaves, every session's next turn stays on its server; the hint reaches neither a model server nor a client", async () => {
    envoys = await startFleetReplicas(
      3,
      edsDir,
      servers.map((s) => s.address),
      SECRET,
    );
    const address = (e: EnvoyProcess) => new URL(e.listenerUrl).host;
    const [first, victim, heir] = envoys;
    const stat = async (e: EnvoyProcess, name: string) => (await e.stats("llm_picker"))[`wasmcustom.llm_picker.${name}`] ?? 0;
    const seeReplicas = (list: EnvoyProcess[], n: number) =>
      waitFor(async () => (await Promise.all(list.map((e) => stat(e, "fleet.replicas")))).every((v) => v === n), 15_000);
    expect(await seeReplicas(envoys, 3)).toBe(true);

    // Four sessions the victim owns and the heir takes over (Envoy's Maglev, modelled).
    const before = new MaglevModel(envoys.map(address));
    const after = new MaglevModel([address(first), address(heir)]);
    const sessions: number[] = [];
    for (let id = 0; id < 2000 && sessions.length < 4; id++) {
      const key = await keys!.keyOf(chat(id, 1));
      if (before.ownerOf(key) === address(victim) && after.ownerOf(key) === address(heir)) sessions.push(id);
    }
    expect(sessions.length).toBe(4);

    const post = async (id: number, turns: number) => {
      const r = await send(`${first.listenerUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: chat(id, turns),
      });
      expect(r.status).toBe(200);
      expect(r.headers.get(PLACEMENT), "the placement never reaches a client").toBeNull();
      return r.headers.get("x-upstream");
    };
    const scrapesSettle = () => new Promise((r) => setTimeout(r, 600)); // a few 100 ms scrapes
    for (const [k, id] of sessions.entries()) {
      for (const [i, s] of servers.entries()) s.metrics = i === k ? idle : busy;
      await scrapesSettle();
      expect(await post(id, 1), `session ${id}'s first turn goes to the only idle server`).toBe(servers[k].address);
    }
    for (const s of servers) s.metrics = idle;
    await scrapesSettle();
    for (const [k, id] of sessions.entries()) {
      for (const turns of [2, 3]) expect(await post(id, turns), `session ${id}, turn ${turns}`).toBe(servers[k].address);
    }

    await victim.stop();
    writeEds(edsDir, "llm_picker_replicas", [address(first), address(heir)]);
    expect(await seeReplicas([first, heir], 2)).toBe(true);
    // Envoy's own Maglev must have dropped the victim too (the EDS file read), or
    // a forwarded request is refused there and retried on whichever replica
    // the next slots name.
    const listed = async (e: EnvoyProcess) => {
      const page = (await (await e.admin("/clusters?format=json&filter=%5Ellm_picker_replicas%24")).json()) as {
        cluster_statuses: Array<{ host_statuses?: Array<{ address: { socket_address: { address: string; port_value: number } } }> }>;
      };
      return (page.cluster_statuses[0]?.host_statuses ?? []).map((h) => `${h.address.socket_address.address}:${h.address.socket_address.port_value}`).sort();
    };
    const survivors = [address(first), address(heir)].sort().join();
    expect(await waitFor(async () => (await Promise.all([first, heir].map(listed))).every((l) => l.join() === survivors), 15_000)).toBe(true);
    // As at a start, a worker's Maglev table can lag its membership read by
    // one request: one request through each survivor, then a membership
    // interval, settles it (the sessions above are not used for it).
    for (const e of [first, heir]) {
      const r = await send(`${e.listenerUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: chat(-1, 1) });
      expect(r.status).toBe(200);
    }
    await new Promise((r) => setTimeout(r, 3 * 200));
    const heirRouted = await stat(heir, "requests.routed");
    for (const [k, id] of sessions.entries()) expect(await post(id, 4), `session ${id}, turn 4, after its owner left`).toBe(servers[k].address);
    // requests.routed is flushed to Envoy on the filter's next tick: wait for the 4 decisions to show (or time out and fail below).
    await waitFor(async () => (await stat(heir, "requests.routed")) - heirRouted >= 4);
    expect((await stat(heir, "requests.routed")) - heirRouted, "the heir decided them").toBe(4);
    for (const s of servers) for (const r of s.traffic()) expect(r.headers[PLACEMENT]).toBeUndefined();
  }, 90_000);
});
