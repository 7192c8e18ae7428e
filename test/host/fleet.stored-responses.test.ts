/**
 * Stored responses in a fleet (docs/routing.md "Responses that continue a
 * stored one"): a /v1/responses request forwarded to its session's owner is
 * answered through the first hop too, which records the answer's id with
 * the server the owner's placement hint names. A continuation the client
 * sends through that first hop is then decided there, on that server,
 * instead of being forwarded by its own session key to an owner that never
 * saw the answer. The test plays Envoy between two replicas, as
 * fleet.placement.test.ts does.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import { ensureBuilt } from "../support";
import { A, B, C, send, stat } from "./fixtures/vllm.js";
import { header, REPLICAS, replica, replicasAre } from "./fixtures/fleet.js";

beforeAll(() => ensureBuilt("debug"));

const SERVERS = [A, B, C];
const PATH = "/v1/responses";
const PLACEMENT = "x-llm-picker-placement";
const [R0, R1, R2] = REPLICAS;

const body = (i: number, previous?: string) =>
  JSON.stringify({ model: "m", input: `Question ${i} about wheels.`, ...(previous !== undefined ? { previous_response_id: previous } : {}) });

async function fleet(): Promise<Record<string, ProxyWasmHost>> {
  const hosts: Record<string, ProxyWasmHost> = {};
  for (const [i, r] of REPLICAS.entries()) {
    hosts[r] = await replica(r, SERVERS, true, 41 + i, { profile: "default", inspect: true });
    replicasAre(hosts[r], REPLICAS, SERVERS);
  }
  return hosts;
}

describe("fleet: a continuation through the replica that forwarded the answered request", () => {
  it("is decided there, on the server the owner placed the answered request on", async () => {
    const hosts = await fleet();
    // A first request R0 forwards (its session is another replica's).
    let i = 0;
    let first = send(hosts[R0], body(i), { path: PATH });
    while (first.endpoint !== undefined) {
      first.stream.end("complete");
      first = send(hosts[R0], body(++i), { path: PATH });
    }
    const decision = JSON.parse(Buffer.from(first.stream.filterState("llm_picker.decision")!).toString());
    expect(decision.decision).toBe("forward");
    const owner: string = decision.replica;
    expect([R1, R2]).toContain(owner);
    // The owner decides it (Envoy's replicas route hands it the first hop's fleet headers).
    const fleetHeaders = first.headers.filter(([k]) => k.startsWith("x-llm-picker-"));
    const atOwner = send(hosts[owner], body(i), { path: PATH, headers: fleetHeaders });
    const server = atOwner.endpoint!;
    expect(SERVERS).toContain(server);
    atOwner.stream.sendResponseHeaders(
      [
        [":status", "200"],
        ["content-type", "application/json"],
      ],
      false,
    );
    const placed = header((atOwner.stream.forwardedResponse()?.headers ?? []) as Array<[string, string]>, PLACEMENT);
    expect(placed).toBeDefined();
    const answer = JSON.stringify({ id: "resp_fleet_1", object: "response", status: "completed", output: [] });
    atOwner.stream.sendResponseBody(answer, true);
    atOwner.stream.end("complete");
    // Back through the first hop: the owner's hint, then the answer.
    first.stream.sendResponseHeaders(
      [
        [":status", "200"],
        ["content-type", "application/json"],
        [PLACEMENT, placed!],
      ],
      false,
    );
    first.stream.sendResponseBody(answer, true);
    first.stream.end("complete");
    // Its continuation through R0: decided there, on that server, though its own session key may belong elsewhere.
    const next = send(hosts[R0], body(i + 1000, "resp_fleet_1"), { path: PATH });
    expect(next.endpoint).toBe(server);
    expect(stat(hosts[R0], "llm_picker.responses.followed")).toBe(1);
    next.stream.end("complete");
    // A continuation of an answer R0 never saw is forwarded or decided as any request: never followed.
    const other = send(hosts[R0], body(i + 2000, "resp_never_seen"), { path: PATH });
    expect(stat(hosts[R0], "llm_picker.responses.followed")).toBe(1);
    other.stream.end("complete");
    for (const h of Object.values(hosts)) {
      expect(h.traps()).toEqual([]);
      h.close();
    }
  });
});
