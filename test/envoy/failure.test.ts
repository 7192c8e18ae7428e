/**
 * When the filter fails: envoy/envoy.yaml as
 * committed (failure_policy FAIL_OPEN, override_host with a round-robin
 * fallback), with a module that traps in on_request_headers as an
 * AssemblyScript abort does. The request that traps gets Envoy's 503; after
 * that the failed VM is skipped and requests are balanced by Envoy's own round
 * robin over the same members.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ENVOY_YAML, postChat, SKIP_ENVOY, useEnvoy, waitFor } from "./harness.js";
import { buildWat, TRAP_ON_REQUEST_WAT } from "./modules.js";
import { startUpstreams, type FakeUpstream } from "./upstreams.js";

describe.skipIf(SKIP_ENVOY)("a trapping filter degrades to Envoy's own balancing", () => {
  let upstreams: FakeUpstream[] = [];
  let trap: string;
  beforeAll(async () => {
    upstreams = await startUpstreams(2);
    trap = await buildWat(TRAP_ON_REQUEST_WAT, "trap");
  });
  afterAll(async () => {
    await Promise.all(upstreams.map((u) => u.close()));
  });
  const envoy = useEnvoy(() => ({
    config: ENVOY_YAML,
    substitutions: { wasmPath: trap, endpoints: upstreams.map((u) => u.address) },
  }));

  test("the trapping request gets 503; every later one succeeds, round-robin over both members", async () => {
    const first = await postChat(envoy().listenerUrl, "trap");
    expect(first.status).toBe(503);
    const trapLine = /proxy_on_request_headers failed: Uncaught RuntimeError: unreachable/;
    expect(await waitFor(() => trapLine.test(envoy().logs()))).toBe(true);

    const served: string[] = [];
    for (let i = 0; i < 8; i++) {
      const reply = await postChat(envoy().listenerUrl, `after ${i}`);
      expect(reply.status).toBe(200);
      served.push(reply.headers.get("x-upstream")!);
    }
    for (const u of upstreams) expect(u.traffic()).toHaveLength(4);
    // No filter ran, so no routing header was set.
    for (const u of upstreams) expect(u.traffic().every((r) => r.headers["x-gateway-destination-endpoint"] === undefined)).toBe(true);
  });

  test("a GET without a body passes too", async () => {
    const reply = await fetch(`${envoy().listenerUrl}/v1/models`, { signal: AbortSignal.timeout(10_000) });
    expect(reply.status).toBe(200);
    await reply.text();
  });
});
