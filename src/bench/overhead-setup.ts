/**
 * What bench:overhead runs against (see overhead.ts): the Go tools it builds
 * into .bench-tools/bin (the fast upstream, the minimal ext_proc server, and
 * vegeta), the request bodies, and one Envoy config per filter chain.
 *
 * Every configuration is envoy/envoy.yaml with only `http_filters` changed:
 * same listener, buffer limit, override_host cluster with round-robin
 * fallback, concurrency 1. `stats_flush_on_admin` merges the workers'
 * histograms on each admin read, so a read right before and right after a
 * phase gives that phase's own decision-time quantiles ("interval").
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseDocument } from "yaml";
import { PROJECT_ROOT } from "../envoy/locate.js";

export const TOOLS_BIN = resolve(PROJECT_ROOT, ".bench-tools", "bin");
export const VEGETA_MODULE = "github.com/tsenart/vegeta/v12@v12.13.0";
const GO_SOURCES = resolve(PROJECT_ROOT, "bench", "overhead");

export const CONFIG_NAMES = ["baseline", "wasm-noop", "filter-noprefix", "filter", "ext_proc-buffered", "ext_proc-full-duplex"] as const;
export type ConfigName = (typeof CONFIG_NAMES)[number];
export const isConfigName = (s: string): s is ConfigName => (CONFIG_NAMES as readonly string[]).includes(s);

export const NOOP_WASM = "build/noop.wasm";
export const FILTER_WASM = "build/llm_picker.wasm";

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): void {
  execFileSync(cmd, args, { cwd, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ...env } });
}

/**
 * Builds the Go tools when missing or older than their sources: the module
 * in bench/overhead (go.sum pins go-control-plane and gRPC from the Go module
 * proxy) and vegeta at a fixed version. Needs only `go` on PATH.
 */
export function ensureTools(log: (s: string) => void): { upstream: string; extproc: string; vegeta: string } {
  mkdirSync(TOOLS_BIN, { recursive: true });
  const upstream = join(TOOLS_BIN, "overhead-upstream");
  const extproc = join(TOOLS_BIN, "overhead-extproc");
  const vegeta = join(TOOLS_BIN, "vegeta");
  for (const [bin, pkg] of [
    [upstream, "./upstream"],
    [extproc, "./extproc"],
  ] as const) {
    log(`go build ${pkg} -> ${bin}`);
    run("go", ["build", "-o", bin, pkg], GO_SOURCES); // incremental: fast when nothing changed
  }
  if (!existsSync(vegeta)) {
    log(`go install ${VEGETA_MODULE} -> ${TOOLS_BIN}`);
    run("go", ["install", VEGETA_MODULE], PROJECT_ROOT, { GOBIN: TOOLS_BIN });
  }
  return { upstream, extproc, vegeta };
}

/** A child process that prints one JSON line when ready. */
/**
 * Runs `vegeta attack` with `attackArgs` (its JSON results piped into
 * `vegeta report -type=json`) and resolves with the parsed report.
 */
export function vegetaReport<R>(bin: string, targets: string, attackArgs: string[]): Promise<R> {
  return new Promise((ok, fail) => {
    const attack = spawn(bin, ["attack", "-format=json", `-targets=${targets}`, ...attackArgs], { stdio: ["ignore", "pipe", "inherit"] });
    const report = spawn(bin, ["report", "-type=json"], { stdio: ["pipe", "pipe", "inherit"] });
    attack.stdout!.pipe(report.stdin!);
    let out = "";
    report.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    // "close", not "exit": a process can exit before its stdout has been
    // read to the end, and the report would then be cut short.
    report.on("close", (code) => {
      if (code !== 0) return fail(new Error(`vegeta report exited with ${code}`));
      try {
        ok(JSON.parse(out) as R);
      } catch (e) {
        fail(new Error(`vegeta report: not JSON (${out.length} bytes): ${(e as Error).message}`));
      }
    });
  });
}

export interface Helper<T> {
  child: ChildProcess;
  info: T;
  stop(): void;
}

export async function startHelper<T>(bin: string, args: string[]): Promise<Helper<T>> {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "inherit"] });
  process.on("exit", () => child.kill("SIGKILL"));
  const lines = createInterface({ input: child.stdout! });
  const info = await new Promise<T>((ok, fail) => {
    child.once("exit", (code) => fail(new Error(`${bin} exited with ${code} before it was ready`)));
    lines.once("line", (line) => ok(JSON.parse(line) as T));
  });
  return { child, info, stop: () => child.kill("SIGTERM") };
}

// ------------------------------------------------------------------ bodies

function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const WORDS = (
  "the model server cache prefix token request latency budget gateway route decode prefill batch " +
  "queue adapter weight tensor kernel memory block hash score endpoint pool metric scrape window " +
  "schedule summary report question answer context document paragraph section table figure value " +
  'über naïve café 東京 données 🚀 "quoted" back\\slash tab\tnewline\n'
).split(" ");

function sentence(rand: () => number, bytes: number): string {
  const out: string[] = [];
  let n = 0;
  while (n < bytes) {
    const w = WORDS[Math.floor(rand() * WORDS.length)];
    out.push(w);
    n += Buffer.byteLength(w) + 1;
  }
  return out.join(" ");
}

/**
 * Multi-turn chat bodies of about `bytes` bytes: `sessions` conversations
 * (system prompt, tool list, alternating turns), each sent with `variants`
 * different last user messages, so a session's history is a shared prefix
 * and the last message always differs. Returned in an interleaved order
 * (session 0 variant 0, session 1 variant 0, ...).
 */
export function chatBodies(bytes: number, sessions = 8, variants = 8): Buffer[] {
  const lastBytes = Math.min(400, Math.floor(bytes / 8));
  const bases = Array.from({ length: sessions }, (_, s) => {
    const rand = lcg(1000 + s * 7919 + bytes);
    const messages: Array<{ role: string; content: string }> = [{ role: "system", content: `You are assistant number ${s}. ${sentence(rand, 300)}` }];
    const body = {
      model: "meta-llama/Llama-3.1-8B-Instruct",
      messages,
      tools: [
        {
          type: "function",
          function: { name: "lookup", description: "Look a document up", parameters: { type: "object", properties: { id: { type: "string" } } } },
        },
      ],
      temperature: 0.2,
      max_tokens: 256,
      stream: false,
    };
    let turn = 0;
    const target = bytes - lastBytes - 40;
    while (Buffer.byteLength(JSON.stringify(body)) < target) {
      const remaining = target - Buffer.byteLength(JSON.stringify(body));
      messages.push({ role: turn++ % 2 ? "assistant" : "user", content: sentence(rand, Math.max(16, Math.min(6000, remaining - 30))) });
    }
    if (messages[messages.length - 1].role === "user") messages.push({ role: "assistant", content: sentence(rand, 40) });
    return body;
  });
  const out: Buffer[] = [];
  for (let v = 0; v < variants; v++) {
    for (let s = 0; s < sessions; s++) {
      const rand = lcg(50_000 + v * 104_729 + s);
      const body = bases[s];
      const last = { role: "user", content: `Question ${v}: ${sentence(rand, lastBytes)}` };
      out.push(Buffer.from(JSON.stringify({ ...body, messages: [...body.messages, last] })));
    }
  }
  return out;
}

/** vegeta's JSON target lines for the bodies (one POST each); vegeta keeps each body as its own byte slice. */
/**
 * Classes of long chat bodies, for what not re-checking bytes a body shares
 * with one that parsed gains or costs (body-classes.ts,
 * overhead-instructions.ts --body-class): `unique` differs from its first
 * byte; `shared-head` shares an 8 KB system prompt, the rest new each time;
 * `repeat` is 8 bodies cycling (body `i` is `i % 8`).
 */
export const BODY_CLASSES = ["unique", "shared-head", "repeat"] as const;
export type BodyClass = (typeof BODY_CLASSES)[number];
const CLASS_WORDS = ["prefix", "données", "東京", "🚀", 'a "quote"', "back\\slash", "new\nline", "über", "cache", "gateway", "tensor"];

/** About `chars` characters of text in several scripts, with escapes, from `seed`. */
function classText(seed: number, chars: number): string {
  let s = "";
  let x = seed;
  while (s.length < chars) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s += `${CLASS_WORDS[x % CLASS_WORDS.length]} `;
  }
  return s;
}

/** Body `i` of a class, about `kb` KB. */
export function classBody(kind: BodyClass, i: number, kb: number): Buffer {
  const system = kind === "unique" ? `unique ${i} ${classText(i, 8000)}` : classText(1, 8000);
  const rest = kind === "repeat" ? classText(100 + (i % 8), kb * 1024 - 9000) : classText(1000 + i, kb * 1024 - 9000);
  return Buffer.from(
    JSON.stringify({
      model: "m",
      messages: [
        { role: "system", content: system },
        { role: "user", content: rest },
      ],
      max_tokens: 8,
    }),
  );
}

export function writeTargets(path: string, url: string, bodies: Buffer[]): void {
  const lines = bodies.map((b) =>
    JSON.stringify({ method: "POST", url: `${url}/v1/chat/completions`, body: b.toString("base64"), header: { "Content-Type": ["application/json"] } }),
  );
  writeFileSync(path, lines.join("\n") + "\n");
}

// ------------------------------------------------------------------ Envoy configs

const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

function wasmFilter(name: string, rootId: string, vmId: string, file: string): object {
  return {
    name,
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
      config: {
        name,
        root_id: rootId,
        vm_config: { vm_id: vmId, runtime: "envoy.wasm.runtime.v8", code: { local: { filename: file } } },
        allow_on_headers_stop_iteration: true,
        failure_policy: "FAIL_OPEN",
      },
    },
  };
}

function extProcFilter(bodyMode: "BUFFERED" | "FULL_DUPLEX_STREAMED"): object {
  return {
    name: "envoy.filters.http.ext_proc",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
      grpc_service: { envoy_grpc: { cluster_name: "ext_proc" }, timeout: "10s" },
      failure_mode_allow: false,
      message_timeout: "5s",
      processing_mode: {
        request_header_mode: "SEND",
        response_header_mode: "SKIP",
        request_body_mode: bodyMode,
        response_body_mode: "NONE",
        // Full duplex requires the trailer phase to be sent (Envoy rejects the config otherwise).
        request_trailer_mode: bodyMode === "FULL_DUPLEX_STREAMED" ? "SEND" : "SKIP",
        response_trailer_mode: "SKIP",
      },
    },
  };
}

function extProcCluster(port: number): object {
  return {
    name: "ext_proc",
    connect_timeout: "1s",
    type: "STATIC",
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    load_assignment: {
      cluster_name: "ext_proc",
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }],
    },
  };
}

/**
 * envoy/envoy.yaml with the filter chain of `config`; the endpoint list and
 * the filter's plugin configuration are filled in by startEnvoy's substitutions.
 * `filterWasm` replaces build/llm_picker.wasm (to compare builds).
 */
export function envoyConfigFor(config: ConfigName, extProcPorts: { bufferedPort: number; fullDuplexPort: number } | null, filterWasm = FILTER_WASM): string {
  const doc = parseDocument(readFileSync(resolve(PROJECT_ROOT, "envoy", "envoy.yaml"), "utf8"));
  doc.set("stats_flush_on_admin", true);
  const filtersPath = ["static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config", "http_filters"];
  const chain: object[] = [];
  if (config === "wasm-noop") chain.push(wasmFilter("noop", "noop", "noop", NOOP_WASM));
  if (config === "filter" || config === "filter-noprefix") chain.push(wasmFilter("llm-picker", "llm_picker", "llm_picker", filterWasm));
  if (config.startsWith("ext_proc")) {
    if (!extProcPorts) throw new Error(`${config} needs the ext_proc server`);
    const duplex = config === "ext_proc-full-duplex";
    chain.push(extProcFilter(duplex ? "FULL_DUPLEX_STREAMED" : "BUFFERED"));
    const clusters = doc.getIn(["static_resources", "clusters"]) as { add(v: unknown): void };
    clusters.add(doc.createNode(extProcCluster(duplex ? extProcPorts.fullDuplexPort : extProcPorts.bufferedPort)));
  }
  chain.push(ROUTER);
  doc.setIn(filtersPath, doc.createNode(chain));
  return doc.toString({ lineWidth: 0 });
}

/** The filter's plugin configuration for the two filter configs (null for the others). */
export function pluginConfigFor(config: ConfigName, endpoints: string[], extra: Record<string, unknown>): object | undefined {
  if (config !== "filter" && config !== "filter-noprefix") return undefined;
  const base: Record<string, unknown> = { endpoints: endpoints.map((address) => ({ address })), metrics: { cluster: "model_servers_metrics" }, ...extra };
  if (config === "filter-noprefix") base.prefix = { ...((extra.prefix as object) ?? {}), enabled: false };
  return base;
}

/**
 * A fixed pool state for the filter's `snapshot` setting: four healthy
 * endpoints with a little load, as a scrape would publish them. Used where a
 * measurement wants the request path (which reads and decodes the published
 * states) without scrapes.
 */
export function poolSnapshot(endpoints: string[]): Record<string, unknown> {
  const snapshot: Record<string, unknown> = {};
  for (const [i, a] of endpoints.entries()) {
    snapshot[a] = { waiting: 0, running: i, kvCacheUsage: 0.1 + i / 100, runningLoras: [], waitingLoras: [], maxLoras: 4, healthy: true };
  }
  return snapshot;
}

// ------------------------------------------------------------------ /proc

/**
 * CPU time of a process (all its threads), in microseconds: the run time
 * the scheduler accounts in /proc/<pid>/task/<tid>/schedstat (nanoseconds),
 * summed over the threads; /proc/<pid>/stat's utime+stime (clock ticks, 10 ms)
 * when schedstat is not available. Threads that exited are not counted, so
 * take both readings of a measurement while the same threads run (Envoy's
 * and the Go servers' threads live as long as the process).
 */
export function cpuMicros(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    }
    return ns / 1000;
  } catch {
    return statMicros(pid);
  }
}

function statMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may contain spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
  return (ticks * 1e6) / CLOCK_TICKS;
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();
