/**
 * Requests in flight across Envoy's workers in a real Envoy
 * with two workers. The listener balances connections exactly
 * (`balancedEnvoyYaml`), and each request here has a connection of its own,
 * so consecutive requests are handled by alternating worker VMs: a worker
 * sees the requests the other one routed only through the shared in-flight
 * counts.
 *
 * The three fake servers report identical metrics and hold every request
 * open until the test answers it, so the in-flight scorer is what separates
 * them: a new request goes to a server with the fewest requests in flight.
 */
import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseDocument, type YAMLSeq } from "yaml";
import { balancedEnvoyYaml, FILTER_WASM, postChatOwnConnection, scrapedAgain, SKIP_FILTER, useEnvoy, waitFor, type HeldRequest } from "./harness.js";
import { startHoldingUpstreams, type FakeUpstream, type HeldArrival } from "./upstreams.js";
import { vllmPage } from "../host/fixtures/vllm.js";

/** Requests with this header take a route with a 300 ms timeout (the upstream-timeout ending). */
const SHORT_TIMEOUT = { "x-test-route": "short-timeout" };

/**
 * Adds, before envoy.yaml's route, the same route with a 300 ms timeout for
 * requests carrying SHORT_TIMEOUT. (Envoy strips x-envoy-upstream-rq-timeout-ms
 * from clients it does not consider internal, so a header alone cannot do it.)
 */
function withShortTimeoutRoute(yaml: string): string {
  const doc = parseDocument(yaml);
  const path = ["static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config", "route_config", "virtual_hosts", 0, "routes"];
  const routes = doc.getIn(path) as YAMLSeq;
  const [name, value] = Object.entries(SHORT_TIMEOUT)[0];
  routes.items.unshift(
    doc.createNode({
      match: { prefix: "/", headers: [{ name, string_match: { exact: value } }] },
      route: { cluster: "model_servers", timeout: "0.3s" },
    }),
  );
  return doc.toString();
}

interface Held {
  upstream: FakeUpstream;
  res: ServerResponse;
  client: HeldRequest;
  /** The upstream side saw the connection close (Envoy reset it). */
  closed: boolean;
}

describe.skipIf(SKIP_FILTER)("in-flight counts across workers in Envoy", () => {
  let upstreams: FakeUpstream[] = [];
  const held: Held[] = [];
  /** Server-side responses not yet matched to a client request (set by the hold handler). */
  const arrivals: HeldArrival[] = [];

  beforeAll(async () => {
    upstreams = await startHoldingUpstreams(3, vllmPage({ waiting: 0, running: 0, kv: 0 }), arrivals);
  });
  afterAll(async () => {
    for (const h of held) if (!h.res.writableEnded) h.res.destroy();
    await Promise.all(upstreams.map((u) => u.close()));
  });
  const envoy = useEnvoy(() => ({
    config: withShortTimeoutRoute(balancedEnvoyYaml()),
    concurrency: 2,
    substitutions: {
      wasmPath: FILTER_WASM,
      endpoints: upstreams.map((u) => u.address),
      pluginConfig: {
        // The seed profile's in-flight scorer is what these tests check.
        profile: "seed",
        endpoints: upstreams.map((u) => ({ address: u.address })),
        metrics: { cluster: "model_servers_metrics", intervalMs: 100 },
      },
    },
  }));

  let sent = 0;
  /** Sends one request on a new connection and waits until a server holds it; returns that server. */
  async function hold(headers: Record<string, string> = {}): Promise<FakeUpstream> {
    const client = postChatOwnConnection(envoy().listenerUrl, `${sent++} held request`, headers);
    expect(await waitFor(() => arrivals.length > 0, 5000)).toBe(true);
    const { upstream, res } = arrivals.shift()!;
    const h: Held = { upstream, res, client, closed: false };
    res.on("close", () => (h.closed = true));
    held.push(h);
    return upstream;
  }
  const openAt = (u: FakeUpstream) => held.filter((h) => h.upstream === u && !h.closed && !h.res.writableEnded);
  const name = (u: FakeUpstream) => `server ${upstreams.indexOf(u)}`;
  /** Waits until Envoy has finished the streams it had (the filter's on_done ran on each). */
  const streamsActive = async (n: number) =>
    waitFor(async () => (await envoy().stats("^http\\.llm_picker\\.downstream_rq_active$"))["http.llm_picker.downstream_rq_active"] === n);

  test("held requests spread over the servers whichever worker routes them; a client reset, a completion, an upstream reset and a timeout each free the server", async () => {
    // Every server scraped (healthy, identical metrics) before the first request.
    expect(await scrapedAgain(upstreams, 2)).toBe(true);

    // Six held requests, one after the other: 2 per server.
    const first: FakeUpstream[] = [];
    for (let i = 0; i < 6; i++) first.push(await hold());
    expect(upstreams.map((u) => openAt(u).length)).toEqual([2, 2, 2]);
    // Consecutive ones differ: each pick saw the one before it, made on the other worker.
    for (let i = 1; i < 3; i++) expect(first.slice(0, i)).not.toContain(first[i]);
    const workers = await envoy().stats("worker_\\d+\\.downstream_cx_active$");
    expect(Object.values(workers).sort()).toEqual([3, 3]);

    const [x, y, z] = first;

    // 1. Client resets: x's two requests are abandoned by their clients.
    for (const h of openAt(x)) h.client.reset();
    expect((await Promise.all(held.filter((h) => h.upstream === x).map((h) => h.client.done))).map((r) => r.status)).toEqual([0, 0]);
    expect(await waitFor(() => openAt(x).length === 0)).toBe(true);
    expect(await streamsActive(4)).toBe(true);
    // x is free again (0 in flight against 2 and 2): it gets the next two.
    expect(name(await hold())).toBe(name(x));
    expect(name(await hold())).toBe(name(x));

    // 2. Completion: y answers its two requests.
    const yHeld = openAt(y);
    for (const h of yHeld) {
      h.res.writeHead(200, { "content-type": "application/json", "x-upstream": y.address });
      h.res.end("{}");
    }
    expect((await Promise.all(yHeld.map((h) => h.client.done))).map((r) => r.status)).toEqual([200, 200]);
    expect(await streamsActive(4)).toBe(true);
    expect(name(await hold())).toBe(name(y));
    expect(name(await hold())).toBe(name(y));

    // 3. Upstream reset: z drops its two connections; Envoy answers 503.
    const zHeld = openAt(z);
    for (const h of zHeld) h.res.socket?.destroy();
    expect((await Promise.all(zHeld.map((h) => h.client.done))).map((r) => r.status)).toEqual([503, 503]);
    expect(await streamsActive(4)).toBe(true);
    expect(name(await hold())).toBe(name(z));
    expect(name(await hold())).toBe(name(z));

    // 4. Upstream timeout: Envoy gives up after the route timeout (300 ms)
    // and answers 504. x answers its two first, so both go to x.
    const xHeld = openAt(x);
    for (const h of xHeld) h.res.end("{}");
    expect((await Promise.all(xHeld.map((h) => h.client.done))).map((r) => r.status)).toEqual([200, 200]);
    expect(await streamsActive(4)).toBe(true);
    expect([name(await hold(SHORT_TIMEOUT)), name(await hold(SHORT_TIMEOUT))]).toEqual([name(x), name(x)]);
    const timedOut = held.slice(-2);
    expect((await Promise.all(timedOut.map((h) => h.client.done))).map((r) => r.status)).toEqual([504, 504]);
    expect(await streamsActive(4)).toBe(true);
    // Had the timeouts not been counted down, x would still count 2 and tie with y and z.
    expect(name(await hold())).toBe(name(x));
    expect(name(await hold())).toBe(name(x));

    expect(upstreams.map((u) => openAt(u).length)).toEqual([2, 2, 2]);
    for (const h of held) if (!h.res.writableEnded && !h.closed) h.res.end("{}");
    await Promise.all(held.map((h) => h.client.done));
  });

  test('twelve requests sent at once through both workers spread 4/4/4, decisions that met the other worker\'s write made again (docs/routing.md "Workers deciding at once")', async () => {
    expect(await streamsActive(0)).toBe(true);
    expect(upstreams.map((u) => openAt(u).length)).toEqual([0, 0, 0]);
    const clients = Array.from({ length: 12 }, () => postChatOwnConnection(envoy().listenerUrl, `${sent++} sent at once`));
    expect(await waitFor(() => arrivals.length >= 12, 5000)).toBe(true);
    const atOnce = arrivals.splice(0, 12);
    // Each decision that stood was made on the counts as they were when it was written.
    expect(upstreams.map((u) => atOnce.filter((a) => a.upstream === u).length)).toEqual([4, 4, 4]);
    const redecided = (await envoy().stats("^wasmcustom\\.llm_picker\\.route\\.redecided$"))["wasmcustom.llm_picker.route.redecided"] ?? 0;
    console.info(`[picking-inflight] 12 requests at once: ${redecided} decisions made again`);
    for (const a of atOnce) a.res.end("{}");
    expect((await Promise.all(clients.map((c) => c.done))).map((r) => r.status)).toEqual(Array(12).fill(200));
  });

  test("the filter logged no trap and no critical line meanwhile", () => {
    expect(envoy().logs()).not.toMatch(/\[critical\]|Wasm VM failed|Uncaught|\[error\]\[wasm\]/);
  });
});
