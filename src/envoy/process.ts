/**
 * Starts a real Envoy on free ports and manages it for tests, `npm start` and
 * benchmarks (docs/reference/envoy-proxy-wasm.md#running-envoy-in-tests):
 * - the config (a path or YAML text) is rendered with `renderEnvoyConfig`
 *   (listener and admin ports default to 0) into a private temp directory;
 * - `--admin-address-path` gives the admin port, `/listeners?format=json` the
 *   listener ports, `--use-dynamic-base-id` lets several Envoys run at once;
 * - it waits for `/ready` (LIVE), and fails with Envoy's log if Envoy exits or
 *   is not ready in time;
 * - `stop()` sends SIGTERM, then SIGKILL after a timeout; every Envoy still
 *   running when Node exits is killed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { createServer } from "node:net";
import { hasAdminCluster, renderEnvoyConfig, type EnvoySubstitutions } from "./config.js";
import { findEnvoy, PROJECT_ROOT } from "./locate.js";
import { bootstrapBodyLimitProblems } from "./limits.js";

export interface StartEnvoyOptions {
  /** A path to an Envoy YAML config (template) or the YAML text itself. */
  config: string;
  substitutions?: EnvoySubstitutions;
  /** Worker threads (default 1: deterministic; 2+ to exercise cross-worker shared data). */
  concurrency?: number;
  /** Envoy's `-l` (default "info"). */
  logLevel?: string;
  /** Envoy's `--component-log-level`, e.g. "wasm:debug". */
  componentLogLevel?: string;
  /** How long to wait for /ready (default 60 s: V8 compiles the module with TurboFan at load). */
  readyTimeoutMs?: number;
  /** The Envoy binary (default: findEnvoy()). */
  envoyBin?: string;
  /** More command-line arguments. */
  extraArgs?: string[];
  /** Keep the work directory (config, admin address file) after stop(). */
  keepWorkDir?: boolean;
}

export interface EnvoyProcess {
  pid: number;
  /** http://127.0.0.1:<admin port> */
  adminUrl: string;
  /** The first listener, http://127.0.0.1:<port>. */
  listenerUrl: string;
  /** Every listener by name. */
  listenerUrls: Record<string, string>;
  /** The rendered config Envoy runs, and its directory. */
  configPath: string;
  workDir: string;
  /** Everything Envoy has written to stdout/stderr so far (the last 8 MiB). */
  logs(): string;
  /** Counters and gauges from `/stats?format=json`, by name (`filter` is a regex). */
  stats(filter?: string): Promise<Record<string, number>>;
  /** `/stats/prometheus` text. */
  statsPrometheus(): Promise<string>;
  /** Any admin request, e.g. admin("/clusters?format=json"). */
  admin(path: string, init?: RequestInit): Promise<Response>;
  /** True until the process exits. */
  running(): boolean;
  /** Stops Envoy (SIGTERM, SIGKILL after timeoutMs, default 5 s); idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

const LOG_CAP = 8 * 1024 * 1024;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Multi-line text is YAML; a single line is a path (relative to the repository root). */
function readTemplate(config: string): string {
  if (config.includes("\n")) return config;
  const path = isAbsolute(config) ? config : resolve(PROJECT_ROOT, config);
  if (!existsSync(path)) throw new Error(`Envoy config ${path} does not exist`);
  return readFileSync(path, "utf8");
}

class LogBuffer {
  private chunks: string[] = [];
  private size = 0;
  append(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    while (this.size > LOG_CAP && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  toString(): string {
    return this.chunks.join("");
  }
}

interface ListenerStatus {
  name: string;
  local_address?: { socket_address?: { address?: string; port_value?: number } };
}

function hostFor(address: string | undefined): string {
  if (!address || address === "0.0.0.0") return "127.0.0.1";
  if (address === "::") return "[::1]";
  return address.includes(":") ? `[${address}]` : address;
}

async function fetchText(url: string, init?: RequestInit): Promise<string> {
  const res = await fetch(url, init);
  const body = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? "GET"} ${url}: ${res.status} ${body.slice(0, 500)}`);
  return body;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Starts Envoy and resolves once it is ready; rejects (with Envoy's log in the message) otherwise. */
export async function startEnvoy(options: StartEnvoyOptions): Promise<EnvoyProcess> {
  const bin = options.envoyBin ?? findEnvoy();
  if (!bin) throw new Error("no Envoy binary: run `npm run envoy:install` or set ENVOY_BIN");
  const workDir = mkdtempSync(join(tmpdir(), "llm-picker-envoy-"));
  const configPath = join(workDir, "envoy.yaml");
  const adminPath = join(workDir, "admin-address");
  const template = readTemplate(options.config);
  // The filter reaches the admin through a static cluster, which must name
  // the real port: pick a free one instead of 0 (a short race with other
  // processes binding it; Envoy then fails to start and says so).
  const requested = options.substitutions?.adminPort;
  const adminPort = requested || (hasAdminCluster(template) ? await freePort() : 0);
  const substitutions: EnvoySubstitutions = { listenerPort: 0, listenerAddress: "127.0.0.1", ...options.substitutions, adminPort };
  const rendered = renderEnvoyConfig(template, substitutions);
  const problems = bootstrapBodyLimitProblems(rendered);
  if (problems.length > 0) {
    rmSync(workDir, { recursive: true, force: true });
    throw new Error(`refusing to start Envoy: ${problems.join("; ")}`);
  }
  writeFileSync(configPath, rendered);

  const args = [
    "-c",
    configPath,
    "--admin-address-path",
    adminPath,
    "--use-dynamic-base-id",
    "--concurrency",
    String(options.concurrency ?? 1),
    "-l",
    options.logLevel ?? "info",
    ...(options.componentLogLevel ? ["--component-log-level", options.componentLogLevel] : []),
    ...(options.extraArgs ?? []),
  ];
  const log = new LogBuffer();
  log.append(`$ ${bin} ${args.join(" ")}\n`);
  // The repository root as working directory: relative paths in envoy/ files
  // (ECDS resources naming build/llm_picker.wasm) resolve as in the docs.
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], cwd: PROJECT_ROOT });
  installExitHook();
  live.add(child);
  let exitInfo: string | null = null;
  const exited = new Promise<void>((resolveExit) => {
    child.on("exit", (code, signal) => {
      exitInfo = `exited with code ${code} signal ${signal}`;
      log.append(`[llm-picker] Envoy ${exitInfo}\n`);
      live.delete(child);
      resolveExit();
    });
    child.on("error", (err) => {
      exitInfo = `failed to spawn: ${err.message}`;
      log.append(`[llm-picker] Envoy ${exitInfo}\n`);
      live.delete(child);
      resolveExit();
    });
  });
  child.stdout!.setEncoding("utf8").on("data", (d: string) => log.append(d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => log.append(d));

  let stopped = false;
  const stop = async (timeoutMs = 5000): Promise<void> => {
    if (!stopped) {
      stopped = true;
      if (exitInfo === null) {
        child.kill("SIGTERM");
        const killed = await Promise.race([exited.then(() => true), sleep(timeoutMs).then(() => false)]);
        if (!killed) {
          log.append(`[llm-picker] Envoy did not stop within ${timeoutMs} ms: SIGKILL\n`);
          child.kill("SIGKILL");
        }
      }
    }
    await exited;
    if (!options.keepWorkDir) rmSync(workDir, { recursive: true, force: true });
  };

  const fail = async (reason: string): Promise<never> => {
    await stop(2000);
    throw new Error(`Envoy did not become ready: ${reason}\n----- Envoy log -----\n${log.toString()}`);
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let adminUrl = "";
  while (true) {
    if (exitInfo !== null) return fail(exitInfo);
    if (Date.now() > deadline) return fail("timed out waiting for /ready");
    if (!adminUrl && existsSync(adminPath)) {
      const address = readFileSync(adminPath, "utf8").trim();
      if (address) adminUrl = `http://${address}`;
    }
    if (adminUrl) {
      try {
        const res = await fetch(`${adminUrl}/ready`);
        if (res.status === 200 && (await res.text()).trim() === "LIVE") break;
      } catch {
        // admin not listening yet
      }
    }
    await sleep(50);
  }

  const listeners = JSON.parse(await fetchText(`${adminUrl}/listeners?format=json`)) as {
    listener_statuses?: ListenerStatus[];
  };
  const listenerUrls: Record<string, string> = {};
  for (const status of listeners.listener_statuses ?? []) {
    const socket = status.local_address?.socket_address;
    if (socket?.port_value) listenerUrls[status.name] = `http://${hostFor(socket.address)}:${socket.port_value}`;
  }
  const first = Object.values(listenerUrls)[0];
  if (!first) return fail("no listener with a port in /listeners");

  const admin = (path: string, init?: RequestInit) => fetch(`${adminUrl}${path}`, init);
  return {
    pid: child.pid!,
    adminUrl,
    listenerUrl: first,
    listenerUrls,
    configPath,
    workDir,
    logs: () => log.toString(),
    async stats(filter?: string) {
      const query = filter ? `&filter=${encodeURIComponent(filter)}` : "";
      const body = JSON.parse(await fetchText(`${adminUrl}/stats?format=json${query}`)) as {
        stats?: Array<{ name?: string; value?: number }>;
      };
      const out: Record<string, number> = {};
      for (const s of body.stats ?? []) if (s.name !== undefined && typeof s.value === "number") out[s.name] = s.value;
      return out;
    },
    statsPrometheus: () => fetchText(`${adminUrl}/stats/prometheus`),
    admin,
    running: () => exitInfo === null,
    stop,
  };
}
