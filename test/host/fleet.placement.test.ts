/**
 * Fleet placement hints, host tier (docs/fleet.md "Placement hints"). When
 * a replica dies its sessions move to new owners whose prefix index has
 * never seen them. The replicas remember where each session they saw last
 * went (as owner, or as the first hop that forwarded it, from the owner's
 * answer), and a first hop passes that on with the request, so the new
 * owner keeps the conversation on the server that holds it instead of
 * prefilling it again elsewhere.
 *
 * The test plays Envoy between three replicas: a forwarded request is
 * handed to its owner with the headers the first hop set, and the owner's
 * response headers are handed back to the first hop.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import { xxh64 } from "../../src/reference/render.js";
import { ensureBuilt } from "../support";
import { A, B, C, send, stat, type VllmState } from "./fixtures/vllm.js";
import { conversation, header, REPLICAS, replica, replicasAre, SECRET } from "./fixtures/fleet.js";

beforeAll(() => ensureBuilt("debug"));

const D = "10.0.0.4:8000";
const SERVERS = [A, B, C, D];
const PLACEMENT = "x-llm-picker-placement";
const [R0, R1, R2] = REPLICAS;
const SYSTEM = "You are the support assistant of a bicycle shop; answer briefly and politely. ".repeat(12);
/** Each turn carries ~600 bytes of its own (about 10 blocks), as real turns do. */
const DETAIL = " Here are the details of my order and what went wrong with it.".repeat(10);
const chat = (id: number, turns: number) => conversation(id, turns, SYSTEM, DETAIL);
const enc = new TextEncoder();
const idOf = (address: string) => Number(xxh64(enc.encode(address)) & 0xffffffffn);
const hexId = (address: string) => idOf(address).toString(16).padStart(8, "0");
const idle = (): Record<string, VllmState> => Object.fromEntries(SERVERS.map((e) => [e, { waiting: 0, running: 0 }]));
const inspectOn = { inspect: true };
const withoutDead = [R0, { address: R1, flags: { failed_active_health_check: true } }, R2];

/** The replica that owns `body` as `probe` (a replica at R0 that decides nothing else) sees it. */
function ownerOf(probe: ProxyWasmHost, body: string): string {
  const s = send(probe, body);
  const line = JSON.parse(Buffer.from(s.stream.filterState("llm_picker.decision")!).toString());
  s.stream.end("complete");
  return line.decision === "forward" ? line.replica : R0;
}

interface Delivery {
  endpoint: string | undefined;
  /** The hint the first hop sent with the request ("" when it decided, undefined when it knew none). */
  hint: string | undefined;
  /** The placement header the client received (must never be set). */
  toClient: string | undefined;
}

/** Sends `body` to `first`; a forwarded request is handed to `owners[replica]` as Envoy's replicas route would. */
function deliver(first: ProxyWasmHost, owners: Record<string, ProxyWasmHost>, owner: string, body: string): Delivery {
  const s = send(first, body);
  if (s.endpoint !== undefined) {
    s.stream.sendResponseHeaders([[":status", "200"]], true);
    s.stream.end("complete");
    return { endpoint: s.endpoint, hint: "", toClient: header((s.stream.forwardedResponse()?.headers ?? []) as Array<[string, string]>, PLACEMENT) };
  }
  const fleetHeaders = s.headers.filter(([k]) => k.startsWith("x-llm-picker-"));
  const o = send(owners[owner], body, { headers: fleetHeaders });
  expect(header(o.headers, PLACEMENT), "a hint never reaches a model server").toBeUndefined();
  o.stream.sendResponseHeaders([[":status", "200"]], true);
  const answered = (o.stream.forwardedResponse()?.headers ?? []) as Array<[string, string]>;
  o.stream.end("complete");
  const placed = header(answered, PLACEMENT);
  s.stream.sendResponseHeaders([[":status", "200"], ...(placed !== undefined ? [[PLACEMENT, placed] as [string, string]] : [])], true);
  const toClient = header((s.stream.forwardedResponse()?.headers ?? []) as Array<[string, string]>, PLACEMENT);
  s.stream.end("complete");
  return { endpoint: o.endpoint, hint: header(fleetHeaders, PLACEMENT), toClient };
}

/** Three live replicas over four idle servers, each with `SYSTEM` already placed (on the same server in every replica). */
async function fleet(): Promise<{ hosts: Record<string, ProxyWasmHost>; systemServer: string }> {
  const hosts: Record<string, ProxyWasmHost> = {};
  for (const [i, r] of REPLICAS.entries()) {
    hosts[r] = await replica(r, SERVERS, true, 21 + i, inspectOn);
    replicasAre(hosts[r], REPLICAS, SERVERS);
  }
  return { hosts, systemServer: warmSystemPrompt(Object.values(hosts)) };
}

/** Another session's first turn, decided by each replica (hopped to it): every index learns where SYSTEM lives. */
function warmSystemPrompt(hosts: ProxyWasmHost[]): string {
  const picks = hosts.map((h) => {
    const s = send(h, chat(9999, 1), { headers: [["x-llm-picker-hop", SECRET]] });
    s.stream.sendResponseHeaders([[":status", "200"]], true);
    s.stream.end("complete");
    return s.endpoint;
  });
  expect(new Set(picks).size).toBe(1);
  return picks[0]!;
}

/** A session owned by R1 that R0 forwards, and that `heir` owns once R1 is gone. */
async function sessionMovingTo(heir: string): Promise<number> {
  const before = await replica(R0, SERVERS, true, 99, inspectOn);
  replicasAre(before, REPLICAS, SERVERS);
  const after = await replica(R0, SERVERS, true, 99, inspectOn);
  replicasAre(after, withoutDead, SERVERS);
  for (let id = 0; id < 500; id++) {
    const body = chat(id, 1);
    if (ownerOf(before, body) === R1 && ownerOf(after, body) === heir) {
      before.close();
      after.close();
      return id;
    }
  }
  throw new Error(`no session moves from ${R1} to ${heir} in 500 tries`);
}

/** Turns 1–3 of session `id` through first hop R0 to owner R1, the first placed while `busy` is loaded in R1's view. */
function threeTurns(hosts: Record<string, ProxyWasmHost>, id: number, busy: string): { server: string; lastHint: string | undefined } {
  const loaded = idle();
  loaded[busy] = { waiting: 30, running: 40 };
  replicasAre(hosts[R1], REPLICAS, loaded);
  const first = deliver(hosts[R0], hosts, R1, chat(id, 1));
  expect(first.endpoint).toBeDefined();
  expect(first.endpoint).not.toBe(busy);
  replicasAre(hosts[R1], REPLICAS, idle());
  let last: Delivery = first;
  for (let turn = 2; turn <= 3; turn++) {
    last = deliver(hosts[R0], hosts, R1, chat(id, turn));
    expect(last.endpoint, `turn ${turn} stays with its conversation`).toBe(first.endpoint);
    expect(last.toClient).toBeUndefined();
  }
  return { server: first.endpoint!, lastHint: last.hint };
}

function kill(hosts: Record<string, ProxyWasmHost>): void {
  for (const r of [R0, R2]) replicasAre(hosts[r], withoutDead, SERVERS);
}

describe("fleet placement hints: a session's new owner finds the server that holds it", () => {
  it("through the first hop: it forwards where it saw the session go, and the new owner keeps it there", async () => {
    const id = await sessionMovingTo(R2);
    const { hosts, systemServer } = await fleet();
    const { server } = threeTurns(hosts, id, systemServer);
    expect(server).not.toBe(systemServer);
    kill(hosts);
    // Without the hint the new owner knows only the system prompt: it would move the conversation to where that lives.
    const control = await replica(R2, SERVERS, true, 23, inspectOn);
    replicasAre(control, withoutDead, SERVERS);
    warmSystemPrompt([control]);
    const blind = send(control, chat(id, 4), { headers: [["x-llm-picker-hop", SECRET]] });
    expect(blind.endpoint).toBe(systemServer);
    blind.stream.end("complete");
    // With it, the conversation stays where its turns are cached.
    const fourth = deliver(hosts[R0], hosts, R2, chat(id, 4));
    expect(fourth.hint).toMatch(new RegExp(`^${hexId(server)} [1-9][0-9]*$`));
    expect(fourth.endpoint).toBe(server);
    expect(fourth.toClient).toBeUndefined();
    expect(stat(hosts[R2], "llm_picker.fleet.placement_hints")).toBe(1);
    // The new owner has learnt it: the next turn's hint adds nothing to what its index knows.
    const fifth = deliver(hosts[R0], hosts, R2, chat(id, 5));
    expect(fifth.hint).toMatch(new RegExp(`^${hexId(server)} [1-9][0-9]*$`));
    expect(fifth.endpoint).toBe(server);
    expect(stat(hosts[R2], "llm_picker.fleet.placement_hints"), "the fifth turn needed none").toBe(1);
    for (const h of [...Object.values(hosts), control]) {
      expect(h.traps()).toEqual([]);
      h.close();
    }
  });

  it("as the new owner itself: a replica that forwarded the session before remembers where it went", async () => {
    const id = await sessionMovingTo(R0);
    const { hosts, systemServer } = await fleet();
    const { server } = threeTurns(hosts, id, systemServer);
    kill(hosts);
    const fourth = deliver(hosts[R0], hosts, R0, chat(id, 4));
    expect(fourth.hint).toBe(""); // decided by R0 itself
    expect(fourth.endpoint).toBe(server);
    for (const h of Object.values(hosts)) {
      expect(h.traps()).toEqual([]);
      h.close();
    }
  });

  it("the owner answers where it sent a forwarded request; the first hop keeps that from the client", async () => {
    const { hosts } = await fleet();
    const id = await sessionMovingTo(R2);
    const d = deliver(hosts[R0], hosts, R1, chat(id, 1));
    expect(d.hint).toBeUndefined(); // R0 had never seen this session
    expect(d.toClient).toBeUndefined();
    const again = deliver(hosts[R0], hosts, R1, chat(id, 2));
    expect(again.hint).toMatch(new RegExp(`^${hexId(d.endpoint!)} [1-9][0-9]*$`));
    for (const h of Object.values(hosts)) h.close();
  });

  it("hints are trusted only from a replica: a client's is removed and ignored; a malformed one is ignored", async () => {
    const { hosts, systemServer } = await fleet();
    const other = SERVERS.find((s) => s !== systemServer)!;
    const h = hosts[R1];
    // A session R1 keeps (decided here when sent to it directly).
    let body = "";
    for (let id = 0; id < 200 && !body; id++) {
      const s = send(h, chat(id, 1), { headers: [[PLACEMENT, `${hexId(other)} 500`]] });
      if (s.endpoint !== undefined) {
        body = chat(id, 1);
        expect(s.endpoint, "a client's hint is ignored").toBe(systemServer);
        expect(header(s.headers, PLACEMENT), "and removed").toBeUndefined();
      }
      s.stream.end("complete");
    }
    expect(body).not.toBe("");
    for (const bad of [`${hexId(other)}`, `${hexId(other).toUpperCase()} 500`, "10.0.0.2:8000 500", `${hexId(other)} 99999999`, ""]) {
      const s = send(h, body, {
        headers: [
          ["x-llm-picker-hop", SECRET],
          ["x-llm-picker-session", "0123456789abcdef"],
          [PLACEMENT, bad],
        ],
      });
      expect(s.endpoint, `hint ${JSON.stringify(bad)}`).toBe(systemServer);
      expect(header(s.headers, PLACEMENT)).toBeUndefined();
      s.stream.end("complete");
    }
    // The same hint, well-formed and from a replica, is followed.
    const s = send(h, body, {
      headers: [
        ["x-llm-picker-hop", SECRET],
        ["x-llm-picker-session", "0123456789abcdef"],
        [PLACEMENT, `${hexId(other)} 500`],
      ],
    });
    expect(s.endpoint).toBe(other);
    s.stream.end("complete");
    expect(h.traps()).toEqual([]);
    for (const x of Object.values(hosts)) x.close();
  });
});
