/**
 * Envoy-tier harness: whether the tier can run, Envoy per
 * file or per test with its log dumped when a test fails and a guaranteed
 * stop, and small HTTP helpers.
 *
 * Skipping: outside CI, a machine without Envoy (or without the filter build,
 * for the tests that need it) skips with a message. Under CI (env CI set and
 * not "false"/"0") nothing skips: a missing Envoy or build fails the tests.
 */
import { existsSync, readFileSync } from "node:fs";
import { request as httpRequest, type ClientRequest } from "node:http";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, beforeEach, onTestFailed, onTestFinished } from "vitest";
import { findEnvoy, PROJECT_ROOT } from "../../src/envoy/locate.js";
import { writeEds } from "../../src/envoy/eds.js";
import { freePort, startEnvoy, type EnvoyProcess, type StartEnvoyOptions } from "../../src/envoy/process.js";
import { parseDocument } from "yaml";
import { chatBody, FILTER_WASM } from "../support";
import type { FakeUpstream } from "./upstreams.js";

export { FILTER_WASM };

export const UNDER_CI = !!process.env.CI && process.env.CI !== "false" && process.env.CI !== "0";
export const ENVOY_YAML = resolve(PROJECT_ROOT, "envoy/envoy.yaml");
export const BASELINE_YAML = resolve(PROJECT_ROOT, "envoy/baseline.yaml");

function locate(): string | null {
  try {
    return findEnvoy();
  } catch {
    return null;
  }
}

export const ENVOY_BIN = locate();
/** Skip the Envoy tier only outside CI and only when no Envoy is installed. */
export const SKIP_ENVOY = !UNDER_CI && ENVOY_BIN === null;
/** Tests that load the real filter also need `npm run build` (never skipped under CI). */
export const SKIP_FILTER = SKIP_ENVOY || (!UNDER_CI && !existsSync(FILTER_WASM));

if (SKIP_ENVOY) console.warn("[envoy tier] skipped: no Envoy binary (run `npm run envoy:install` or set ENVOY_BIN)");
else if (SKIP_FILTER) console.warn(`[envoy tier] filter tests skipped: ${FILTER_WASM} not built (run \`npm run build\`)`);

const DUMP_LINES = 400;

export function dumpEnvoyLog(envoy: EnvoyProcess | null, title: string): void {
  if (!envoy) return;
  const lines = envoy.logs().split("\n");
  const tail = lines.slice(-DUMP_LINES).join("\n");
  const cut = lines.length > DUMP_LINES ? ` (last ${DUMP_LINES} of ${lines.length} lines)` : "";
  console.error(`\n===== Envoy log for failed test "${title}"${cut} =====\n${tail}\n===== end of Envoy log =====`);
}

/** Starts Envoy inside a test: its log is printed if the test fails, and it is stopped when the test ends. */
export async function startEnvoyForTest(options: StartEnvoyOptions): Promise<EnvoyProcess> {
  const envoy = await startEnvoy(options);
  onTestFailed(({ task }) => dumpEnvoyLog(envoy, task.name));
  onTestFinished(() => envoy.stop());
  return envoy;
}

/**
 * One Envoy for every test of the enclosing describe/file: started in
 * beforeAll (options may depend on upstreams started earlier), stopped in
 * afterAll, its log printed after each failed test. Returns a getter.
 */
export function useEnvoy(options: () => StartEnvoyOptions | Promise<StartEnvoyOptions>): () => EnvoyProcess {
  let envoy: EnvoyProcess | null = null;
  beforeAll(async () => {
    envoy = await startEnvoy(await options());
  });
  afterAll(async () => {
    await envoy?.stop();
  });
  beforeEach(({ task }) => {
    onTestFailed(() => dumpEnvoyLog(envoy, task.name));
  });
  return () => {
    if (!envoy) throw new Error("Envoy did not start (see beforeAll)");
    return envoy;
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  body: string;
}

/** One HTTP request through Envoy; the body is read fully. */
export async function send(url: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(15_000) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** The model the Envoy tier's requests name (the fake upstreams answer any). */
export const MODEL = "llama-3-8b";

/** POST /v1/chat/completions with a JSON body and extra headers. */
export function postChat(base: string, content: string, headers: Record<string, string> = {}): Promise<Reply> {
  return send(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: chatBody([content], { model: MODEL }),
  });
}

/** Polls `check` every 25 ms until it returns true or `timeoutMs` passes; returns the last result. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

/**
 * envoy/envoy.yaml with the listener balancing connections exactly across
 * workers (`exact_balance`, no SO_REUSEPORT): with --concurrency 2, new
 * connections alternate between the workers, so a test can put requests on
 * both worker VMs on purpose. `statsFlushInterval` (e.g. "1s") shortens
 * Envoy's 5 s stats flush, after which histograms show on /stats/prometheus.
 */
export function balancedEnvoyYaml(options: { statsFlushInterval?: string } = {}): string {
  const doc = parseDocument(readFileSync(ENVOY_YAML, "utf8"));
  doc.setIn(["static_resources", "listeners", 0, "enable_reuse_port"], false);
  doc.setIn(["static_resources", "listeners", 0, "connection_balance_config"], doc.createNode({ exact_balance: {} }));
  if (options.statsFlushInterval) doc.set("stats_flush_interval", options.statsFlushInterval);
  return doc.toString();
}

/** How many GET /metrics scrapes `u` has received. */
export function scrapeCount(u: FakeUpstream): number {
  return u.requests.filter((r) => r.path === "/metrics").length;
}

/**
 * Waits until every upstream has received `more` further /metrics scrapes.
 * The filter issues an endpoint's next scrape only after the previous one's
 * response was handled, so after k + 2 arrivals the page served at k + 1
 * (the first after a change) has been published in shared data.
 */
export async function scrapedAgain(upstreams: FakeUpstream[], more = 2, timeoutMs = 10_000): Promise<boolean> {
  const base = upstreams.map(scrapeCount);
  return waitFor(() => upstreams.every((u, i) => scrapeCount(u) >= base[i] + more), timeoutMs);
}

export interface HeldRequest {
  /** Resolves when the response has been read fully, or with status 0 when the request failed (reset). */
  done: Promise<Reply>;
  /** Resets the client side (destroys the socket). */
  reset(): void;
}

/**
 * POST /v1/chat/completions on a connection of its own (no keep-alive
 * agent), so each such request is a new downstream connection: with
 * `balancedEnvoyYaml` they alternate between Envoy's workers.
 */
export function postChatOwnConnection(base: string, content: string, headers: Record<string, string> = {}): HeldRequest {
  return postBodyOwnConnection(base, chatBody([content], { model: MODEL }), headers);
}

/** As postChatOwnConnection, with the JSON body given whole (to `path`). */
export function postBodyOwnConnection(base: string, body: string, headers: Record<string, string> = {}, path = "/v1/chat/completions"): HeldRequest {
  const url = new URL(`${base}${path}`);
  let req: ClientRequest;
  const done = new Promise<Reply>((resolveDone) => {
    req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
          resolveDone({ status: res.statusCode ?? 0, headers: h, body: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", () => resolveDone({ status: 0, headers: new Headers(), body: "" }));
      },
    );
    req.on("error", () => resolveDone({ status: 0, headers: new Headers(), body: "" }));
    req.end(body);
  });
  return { done, reset: () => req.destroy() };
}

/**
 * One fleet replica (envoy/envoy-fleet.yaml) listening on `port`, replicas
 * from the EDS files in `edsDir`, in front of `endpoints`, with the filter's
 * fleet configuration (`secret` signs forwarded requests).
 */
export function startFleetReplica(port: number, edsDir: string, endpoints: string[], secret: string): Promise<EnvoyProcess> {
  return startEnvoyForTest({
    config: join(PROJECT_ROOT, "envoy/envoy-fleet.yaml"),
    substitutions: {
      listenerPort: port,
      edsDir,
      endpoints,
      pluginConfig: {
        endpoints: endpoints.map((address) => ({ address })),
        metrics: { cluster: "model_servers_metrics", intervalMs: 100 },
        pool: { intervalMs: 200 },
        fleet: { cluster: "llm_picker_replicas", secret },
      },
    },
  });
}

/**
 * `n` fleet replicas on free ports, listed in the replicas' EDS file in
 * `edsDir`. A port found free can be taken by another test's connection
 * before Envoy binds it; a replica that fails to start is started again on
 * another port (3 tries) and the EDS file rewritten, which the replicas
 * already running pick up like any membership change.
 */
export async function startFleetReplicas(n: number, edsDir: string, endpoints: string[], secret: string): Promise<EnvoyProcess[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  const publish = () =>
    writeEds(
      edsDir,
      "llm_picker_replicas",
      ports.map((p) => `127.0.0.1:${p}`),
    );
  publish();
  const envoys: EnvoyProcess[] = [];
  for (let i = 0; i < n; i++) {
    for (let attempt = 1; ; attempt++) {
      try {
        envoys.push(await startFleetReplica(ports[i], edsDir, endpoints, secret));
        break;
      } catch (e) {
        if (attempt >= 3) throw e;
        ports[i] = await freePort();
        publish();
      }
    }
  }
  return envoys;
}
