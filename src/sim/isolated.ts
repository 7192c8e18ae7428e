// Simulated servers, each in its own worker thread. One server's work (a
// long prompt to tokenize, a burst of requests) then cannot stall another's
// answers or its /metrics, as with separate vLLM processes. `npm start` and
// `npm run sim` use these; tests and benchmarks that read a server's engine
// directly use the in-process startSimServer/startSimPool (server.ts).
import { Worker } from "node:worker_threads";
import type { SimConfig } from "./config.js";
import { resolveSimConfig } from "./config.js";
import { PortInUseError, type SimStats } from "./server.js";

export interface SimHandle {
  url: string;
  port: number;
  config: SimConfig;
  stats(): Promise<SimStats>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

export interface IsolatedSimPool {
  servers: SimHandle[];
  urls: string[];
  stats(): Promise<SimStats[]>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

type Reply = { id: number; value?: unknown };
type Hello = { started?: { url: string; port: number; config: SimConfig }; failed?: { message: string; portInUse: number | null } };

/** Starts one simulated server in a worker thread; rejects as startSimServer would (PortInUseError, config errors). */
export async function startIsolatedSimServer(config: Partial<SimConfig> = {}, port = 0): Promise<SimHandle> {
  resolveSimConfig(config); // invalid configs fail here, with the same error as in-process
  const worker = new Worker(new URL("./worker.mjs", import.meta.url), { workerData: { config, port } });
  const pending = new Map<number, (r: Reply) => void>();
  let nextId = 1;
  let exited = false;
  const started = await new Promise<{ url: string; port: number; config: SimConfig }>((resolve, reject) => {
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`simulated server worker exited (code ${code}) before it started`)));
    worker.once("message", (m: Hello) => {
      if (m.started) resolve(m.started);
      else if (m.failed?.portInUse != null) reject(new PortInUseError(m.failed.portInUse));
      else reject(new Error(m.failed?.message ?? "simulated server failed to start"));
    });
  }).catch(async (err) => {
    await worker.terminate();
    throw err;
  });
  worker.removeAllListeners("exit");
  worker.removeAllListeners("error");
  worker.on("message", (m: Reply) => {
    const done = pending.get(m.id);
    pending.delete(m.id);
    done?.(m);
  });
  worker.on("error", (err) => process.stderr.write(`simulated server ${started.url}: ${err.message}\n`));
  worker.on("exit", () => {
    exited = true;
    for (const done of pending.values()) done({ id: 0 });
    pending.clear();
  });
  const call = (op: "stats" | "reset" | "close"): Promise<Reply> =>
    exited
      ? Promise.resolve({ id: 0 })
      : new Promise((resolve) => {
          const id = nextId++;
          pending.set(id, resolve);
          worker.postMessage({ id, op });
        });
  let closed: Promise<void> | null = null;
  return {
    ...started,
    stats: async () => (await call("stats")).value as SimStats,
    reset: async () => {
      await call("reset");
    },
    close: () => {
      closed ??= call("close").then(async () => {
        await worker.terminate();
      });
      return closed;
    },
  };
}

/** `n` servers in worker threads, on basePort, basePort+1, ... or free ports; all or none. */
export async function startIsolatedSimPool(n: number, config: Partial<SimConfig> = {}, basePort?: number): Promise<IsolatedSimPool> {
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => startIsolatedSimServer(config, basePort === undefined ? 0 : basePort + i)));
  const servers = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) {
    await Promise.all(servers.map((s) => s.close()));
    throw (failed as PromiseRejectedResult).reason;
  }
  return {
    servers,
    urls: servers.map((s) => s.url),
    stats: () => Promise.all(servers.map((s) => s.stats())),
    reset: async () => {
      await Promise.all(servers.map((s) => s.reset()));
    },
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}
