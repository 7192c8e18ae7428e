/**
 * envoy/envoy-ecds.yaml: the filter comes from an ECDS
 * resource in a watched directory. Swaps are atomic renames; Envoy's
 * config_reload / config_fail counters report its verdict; a module that does
 * not load is refused and the running filter keeps serving.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ECDS_BOOTSTRAP, ECDS_FAIL_STAT, ECDS_RELOAD_STAT, prepareEcdsDir, publishEcdsResource, renderEcdsResource } from "../../src/envoy/ecds.js";
import { postChat, SKIP_ENVOY, useEnvoy, waitFor } from "./harness.js";
import { buildWat, calloutOnTickWat, PASS_THROUGH_WAT } from "./modules.js";
import { startUpstreams, type FakeUpstream } from "./upstreams.js";

describe.skipIf(SKIP_ENVOY)("envoy-ecds.yaml: the filter through ECDS from a watched directory", () => {
  let upstreams: FakeUpstream[] = [];
  let ecdsDir = "";
  beforeAll(async () => {
    upstreams = await startUpstreams(2);
    const passThrough = await buildWat(PASS_THROUGH_WAT, "pass-through");
    ecdsDir = prepareEcdsDir({ wasmPath: passThrough, endpoints: upstreams.map((u) => u.address), versionInfo: "v1" });
  });
  afterAll(async () => {
    await Promise.all(upstreams.map((u) => u.close()));
  });
  const envoy = useEnvoy(() => ({
    config: ECDS_BOOTSTRAP,
    substitutions: { ecdsDir, endpoints: upstreams.map((u) => u.address) },
  }));
  const counter = async (name: string) => (await envoy().stats(name.replace(/\./g, "\\.")))[name] ?? 0;

  test("the first resource is loaded before the listener is ready, and traffic flows", async () => {
    expect(await counter(ECDS_RELOAD_STAT)).toBe(1);
    expect((await postChat(envoy().listenerUrl, "hi")).status).toBe(200);
  });

  test("a module that does not load is refused (config_fail) and traffic keeps flowing", async () => {
    const broken = `${ecdsDir}/broken.wasm`;
    writeFileSync(broken, "not a wasm module");
    const failsBefore = await counter(ECDS_FAIL_STAT);
    publishEcdsResource(ecdsDir, renderEcdsResource({ wasmPath: broken, versionInfo: "broken" }));
    expect(await waitFor(async () => (await counter(ECDS_FAIL_STAT)) > failsBefore)).toBe(true);
    for (let i = 0; i < 4; i++) expect((await postChat(envoy().listenerUrl, `after ${i}`)).status).toBe(200);
  });

  test("a new module goes live without a restart (config_reload moves, the new code runs)", async () => {
    const reloadsBefore = await counter(ECDS_RELOAD_STAT);
    const [target] = upstreams;
    target.clear();
    // The new module's observable effect: it scrapes `target` through model_servers_metrics.
    const scraper = await buildWat(
      calloutOnTickWat(
        "model_servers_metrics",
        [
          [":method", "GET"],
          [":path", "/metrics"],
          [":authority", "x"],
          ["x-gateway-destination-endpoint", target.address],
        ],
        50,
      ),
      "scraper",
    );
    publishEcdsResource(ecdsDir, renderEcdsResource({ wasmPath: scraper, versionInfo: "v2" }));
    expect(await waitFor(async () => (await counter(ECDS_RELOAD_STAT)) > reloadsBefore)).toBe(true);
    expect(await waitFor(() => target.requests.some((r) => r.path === "/metrics"))).toBe(true);
    expect((await postChat(envoy().listenerUrl, "still routed")).status).toBe(200);
  });
});
