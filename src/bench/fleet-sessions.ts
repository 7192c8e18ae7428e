/**
 * The session key the filter gives a request (the x-llm-picker-session a
 * first hop sets, docs/fleet.md "Sharding" step 1), computed by the built
 * filter itself in the emulated Envoy (src/host): one replica of a fleet
 * whose only other member owns every session, so the filter forwards each
 * request and names its key. The kill diagnostic and the Envoy tier use it,
 * with the Maglev model (src/envoy/maglev.ts), to find sessions that Envoy
 * maps in a given way (e.g. whose retries cannot leave a dead replica).
 */
import { resolve } from "node:path";
import { PROJECT_ROOT } from "../envoy/locate.js";
import { ProxyWasmHost, runRequest } from "../host/index.js";

const SELF = "10.255.0.1:10000";
const OTHER = "10.255.0.2:10000";
const REPLICAS = "llm_picker_replicas";
const ADMIN = "llm_picker_admin";
/** The filter's membership read period here (emulated ms). */
const INTERVAL_MS = 100;

/** Envoy's admin /clusters page for a replicas cluster of one healthy member. */
function clustersPage(): string {
  const [ip, port] = OTHER.split(":");
  return JSON.stringify({
    cluster_statuses: [
      {
        name: REPLICAS,
        host_statuses: [{ address: { socket_address: { address: ip, port_value: Number(port) } }, health_status: { eds_health_status: "HEALTHY" } }],
      },
    ],
  });
}

export class SessionKeys {
  private constructor(private readonly host: ProxyWasmHost) {}

  /** `wasm`: the filter module (default build/llm_picker.wasm, what the Envoys run). */
  static async create(wasm = resolve(PROJECT_ROOT, "build/llm_picker.wasm")): Promise<SessionKeys> {
    const page = clustersPage();
    const host = await ProxyWasmHost.create({
      wasm,
      pluginConfig: JSON.stringify({
        endpoints: [{ address: "10.255.1.1:8000" }],
        metrics: { enabled: false },
        pool: { intervalMs: INTERVAL_MS },
        fleet: { cluster: REPLICAS, secret: "session-keys-only-0123456789" },
      }),
      logLevel: "warn",
      clusters: ["model_servers", ADMIN],
      properties: { destination: { address: SELF } },
      httpCallHandler: async (call) => (call.cluster === ADMIN ? { status: 200, body: page } : null),
    });
    const keys = new SessionKeys(host);
    // The filter learns the replicas from its first membership reads.
    for (let i = 0; i < 5 && !(await keys.probe()); i++) {
      host.advance(INTERVAL_MS);
      await host.settle();
    }
    if (!(await keys.probe())) {
      host.close();
      throw new Error("the filter did not take the emulated replicas cluster: no session key");
    }
    return keys;
  }

  private async probe(): Promise<boolean> {
    return (await this.keyOf(JSON.stringify({ model: "m", messages: [{ role: "user", content: "probe" }] }))) !== "";
  }

  /** The key of a chat completions body ("" when the filter kept it: a rejected body, no replica known). */
  async keyOf(body: string, path = "/v1/chat/completions"): Promise<string> {
    const { forwarded } = await runRequest(this.host, {
      path,
      headers: [["content-type", "application/json"]],
      body: new TextEncoder().encode(body),
    });
    return forwarded?.headers.find(([k]) => k === "x-llm-picker-session")?.[1] ?? "";
  }

  close(): void {
    this.host.close();
  }
}
