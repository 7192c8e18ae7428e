/**
 * Smoke test: the real filter (build/debug.wasm) links against Envoy's import set,
 * starts, configures on the canary and a worker, and routes a request.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ProxyWasmHost, runRequest } from "../../src/host/index.js";
import { DEBUG_WASM as WASM, ensureBuilt } from "../support";

const CONFIG = '{"endpoints":[{"address":"127.0.0.1:8001"}]}';

describe("the real filter in the emulated Envoy", () => {
  beforeAll(() => ensureBuilt("debug"));

  it("instantiates and configures with one endpoint", async () => {
    const host = await ProxyWasmHost.create({ wasm: WASM, pluginConfig: CONFIG, workers: 2 });
    expect(host.configureOk).toBe(true);
    expect(host.traps()).toEqual([]);
    host.close();
    expect(host.traps()).toEqual([]); // root on_done/on_delete must not trap (SDK bug workaround)
  });

  it("a chat completion is forwarded with the routing header set to the endpoint", async () => {
    const host = await ProxyWasmHost.create({ wasm: WASM, pluginConfig: CONFIG });
    const { forwarded, localResponse } = await runRequest(host, {
      path: "/v1/chat/completions",
      headers: [
        ["content-type", "application/json"],
        ["x-gateway-destination-endpoint", "10.9.9.9:1"],
      ],
      chunks: ['{"model":"m","messages":[{"role":"user",', '"content":"hi"}]}'],
    });
    expect(localResponse).toBeNull();
    expect(forwarded?.ended).toBe(true);
    expect(forwarded?.headers.filter(([k]) => k === "x-gateway-destination-endpoint")).toEqual([["x-gateway-destination-endpoint", "127.0.0.1:8001"]]);
    expect(host.traps()).toEqual([]);
  });
});
