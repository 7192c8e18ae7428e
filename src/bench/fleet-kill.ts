/**
 * Kill diagnostic: `npm run bench:fleet:kill -- [options]` (docs/fleet.md
 * "When a replica dies", docs/benchmarks.md "Fleet").
 *
 * What `bench:fleet` does at its kill, made fast and repeatable: a sharded
 * fleet of 3 Envoys (the bench's own setup, envoy/envoy-fleet.yaml) in front
 * of simulated servers gets a steady stream of short requests, each a new
 * session (one output token), through the bench's random L4 spread; one
 * replica is SIGKILLed and the load goes on. Every request sent after the
 * kill must succeed: the ones forwarded to the dead owner are refused and
 * retried on another replica until the health checks drop it. The replicas
 * run with the router/upstream/hc/pool/connection debug log, so each failure is
 * reported with its session key, the replica that owned it and the hosts its
 * attempts went to (from the first hop's log), and with what Envoy's Maglev
 * re-picks (src/envoy/maglev.ts) say a retry of that key draws.
 *
 * Options: USAGE below (`--help`).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { PROJECT_ROOT } from "../envoy/locate.js";
import { MaglevModel } from "../envoy/maglev.js";
import { startSimPool, type SimPool } from "../sim/server.js";
import type { FleetOutcome } from "./fleet-client.js";
import { killReplica, type Replica, sendThroughSpread, startReplicas } from "./fleet.js";
import { SessionKeys } from "./fleet-sessions.js";
import { agent } from "./routing-client.js";
import { DEFAULT_BENCH_SIM } from "./routing.js";
import { machineLine } from "./routing-report.js";
import { Rng } from "./traces/generators.js";

const REPLICAS_CLUSTER = "llm_picker_replicas";
const DEBUG_COMPONENTS = "router:debug,upstream:debug,hc:debug,pool:debug,connection:debug";
const PATH = "/v1/chat/completions";

export interface KillOptions {
  runs: number;
  rate: number;
  beforeS: number;
  afterS: number;
  servers: number;
  seed: number;
  wasmPath?: string;
  debugLog: boolean;
  /**
   * After the kill, send again only sessions whose retry, with this many
   * re-picks, cannot leave the dead replica (found with the filter's own
   * session keys and the Maglev model); undefined: every request a new session.
   */
  stuck?: number;
  /** The replicas' Envoy config (default envoy/envoy-fleet.yaml). */
  fleetConfig?: string;
  /** Directory for the replicas' logs (none: not written). */
  logsDir?: string;
  log?: (line: string) => void;
}

/** One failed request sent after the kill, traced through the first hop's log. */
export interface TracedFailure {
  msAfterKill: number;
  /** The replica the client reached (0-based; the killed one is the last). */
  firstHop: number;
  status: number;
  error: string;
  /** x-llm-picker-session as the first hop set it ("" when the log does not show it). */
  session: string;
  /** Owner of the key among the three replicas, by the Maglev model. */
  owner: string;
  /** The host a retry draws by the model once the owner is excluded, with the configured re-picks. */
  retryHost: string;
  /** Upstream hosts the first hop's attempts connected to (from its pool log), in order. */
  attempts: string[];
}

export interface KillRun {
  run: number;
  replicas: string[];
  killed: string;
  sent: number;
  sentAfterKill: number;
  failedAfterKill: number;
  /** Failed requests sent before the kill (in flight on the victim when it died). */
  failedBeforeKill: number;
  /** Requests the client sent again on another replica (the victim refused the connection). */
  reconnected: number;
  /** Requests sent after the kill that a surviving first hop forwarded to the dead replica (a refused connection in its log). */
  forwardedToDead: number;
  /** Of those, how many have a session key whose retry re-picks all land on the dead replica (the Maglev model). */
  stuckByModel: number;
  /** --stuck: sessions found whose retry stays on the victim (0: none among the candidates; the run sent new sessions after the kill). */
  stuckSessions: number;
  /** Real ms from the kill until each surviving replica's health check marked the victim failed (from its hc log). */
  ejectedAfterMs: number[];
  failures: TracedFailure[];
  retryStats: Record<string, number>;
}

/** What the diagnostic reads from envoy/envoy-fleet.yaml: the forward route's re-picks and the replicas' health check threshold. */
export interface FleetConfigFacts {
  /** host_selection_retry_max_attempts of the route to llm_picker_replicas. */
  repicks: number;
  /** unhealthy_threshold of the replicas cluster's health check. */
  unhealthyThreshold: number;
}

export function fleetConfigFacts(yamlPath = resolve(PROJECT_ROOT, "envoy/envoy-fleet.yaml")): FleetConfigFacts {
  type Route = { route: { cluster: string; retry_policy?: { host_selection_retry_max_attempts?: number } } };
  type Cluster = { name: string; health_checks?: Array<{ unhealthy_threshold?: number }> };
  const doc = parseYaml(readFileSync(yamlPath, "utf8")) as {
    static_resources: {
      listeners: Array<{ filter_chains: Array<{ filters: Array<{ typed_config: { route_config?: { virtual_hosts: Array<{ routes: Route[] }> } } }> }> }>;
      clusters: Cluster[];
    };
  };
  const routes = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config?.virtual_hosts[0].routes ?? [];
  const forward = routes.find((r) => r.route.cluster === REPLICAS_CLUSTER);
  const cluster = doc.static_resources.clusters.find((c) => c.name === REPLICAS_CLUSTER);
  return {
    repicks: forward?.route.retry_policy?.host_selection_retry_max_attempts ?? 0,
    unhealthyThreshold: cluster?.health_checks?.[0]?.unhealthy_threshold ?? 1,
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * One request as the first hop's debug log tells it. Envoy tags the router's
 * lines with the downstream connection and stream ids and prints the headers
 * it sends on after "router decoding headers"; an attempt (the first one or
 * "performing retry") asks the connection pool for a stream at once, on the
 * same thread, so the next pool or connection line of that thread names the
 * upstream connection the attempt went to, and "connecting to" lines name
 * each connection's address.
 */
interface StreamTrace {
  requestId: string;
  session: string;
  /** Upstream connection ids, one per attempt. */
  connections: string[];
  /** Attempts whose connection was refused. */
  refused: number;
}

interface LogTrace {
  /** By x-request-id. */
  streams: Map<string, StreamTrace>;
  /** Upstream connection id → "ip:port". */
  targets: Map<string, string>;
  /** Epoch ms of each failed health check, by address. */
  healthCheckFailures: Map<string, number[]>;
}

const LINE = /^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]\[(\d+)\]\[\w+\]\[(\w+)\] \[[^\]]*\] (?:\[Tags: ([^\]]*)\] )?(.*)$/;

export function traceLog(log: string): LogTrace {
  const byStream = new Map<string, StreamTrace>();
  const targets = new Map<string, string>();
  const healthCheckFailures = new Map<string, number[]>();
  const attemptOn = new Map<string, StreamTrace>(); // thread → stream waiting for its upstream connection
  let headersOf: StreamTrace | null = null;
  for (const line of log.split("\n")) {
    const m = LINE.exec(line);
    if (!m) {
      const h = headersOf ? /^'([^']+)', '([^']*)'$/.exec(line.trim()) : null;
      if (!h) headersOf = null;
      else if (h[1] === "x-request-id") headersOf!.requestId = h[2];
      else if (h[1] === "x-llm-picker-session") headersOf!.session = h[2];
      continue;
    }
    headersOf = null;
    const [, time, thread, component, tags = "", text] = m;
    const stream = /"StreamId":"(\d+)"/.exec(tags)?.[1];
    const connection = /"ConnectionId":"(\d+)"/.exec(tags)?.[1];
    if (component === "hc") {
      const failed = /hc tcp connection (?:unexpected closed|timeout)|Connection refused/.test(text) ? /health_check_address=(\S+)/.exec(text) : null;
      if (failed) {
        const list = healthCheckFailures.get(failed[1]) ?? [];
        list.push(Date.parse(`${time.replace(" ", "T")}Z`));
        healthCheckFailures.set(failed[1], list);
      }
      continue;
    }
    if (component === "router" && stream) {
      let s = byStream.get(stream);
      if (!s) {
        s = { requestId: "", session: "", connections: [], refused: 0 };
        byStream.set(stream, s);
      }
      if (text.startsWith("router decoding headers")) {
        headersOf = s;
        attemptOn.set(thread, s);
      } else if (text.startsWith("performing retry")) attemptOn.set(thread, s);
      else if (text.includes("upstream reset") && text.includes("Connection refused")) s.refused++;
      continue;
    }
    if ((component === "pool" || component === "connection") && connection && !stream) {
      const to = /connecting to (\S+)/.exec(text);
      if (to) targets.set(connection, to[1]);
      const waiting = attemptOn.get(thread);
      if (waiting) {
        waiting.connections.push(connection);
        attemptOn.delete(thread);
      }
    }
  }
  const streams = new Map<string, StreamTrace>();
  for (const s of byStream.values()) if (s.requestId) streams.set(s.requestId, s);
  return { streams, targets, healthCheckFailures };
}

/** Real ms after the kill when `unhealthyThreshold` failed checks in a row marked the victim failed (NaN: not in the log). */
function ejectionMs(trace: LogTrace, victim: string, killedAtEpochMs: number, unhealthyThreshold: number): number {
  const after = (trace.healthCheckFailures.get(victim) ?? []).filter((t) => t >= killedAtEpochMs - 5);
  return after.length >= unhealthyThreshold ? after[unhealthyThreshold - 1] - killedAtEpochMs : NaN;
}

async function statSum(replicas: Replica[], names: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of replicas) {
    if (r.dead) continue;
    const stats = await r.envoy.stats(`cluster\\.${REPLICAS_CLUSTER}\\.`);
    for (const n of names) out[n] = (out[n] ?? 0) + (stats[`cluster.${REPLICAS_CLUSTER}.${n}`] ?? 0);
  }
  return out;
}

/** Candidate sessions tried when looking for stuck ones (0.2 ms each in the emulated filter). */
const STUCK_CANDIDATES = 30_000;
/** Enough stuck sessions to keep the load on them after the kill. */
const STUCK_WANTED = 16;

/**
 * Probes (by index) whose session key the victim owns and whose `repicks`
 * retry re-picks all land on the victim: sent after the kill, each is a
 * request a first hop can only retry on the dead replica (with that many
 * re-picks). Their keys come from the filter itself (SessionKeys).
 */
async function stuckSessions(keys: SessionKeys, probe: (i: number) => string, model: MaglevModel, dead: string, repicks: number): Promise<number[]> {
  const found: number[] = [];
  for (let i = 0; i < STUCK_CANDIDATES && found.length < STUCK_WANTED; i++) {
    const key = await keys.keyOf(probe(i));
    if (key && model.ownerOf(key) === dead && model.retryHost(key, new Set([dead]), repicks) === dead) found.push(i);
  }
  return found;
}

async function oneRun(pool: SimPool, run: number, o: KillOptions, facts: FleetConfigFacts, rng: Rng, keys: SessionKeys | null): Promise<KillRun> {
  const endpoints = pool.servers.map((s) => `127.0.0.1:${s.port}`);
  const edsDir = mkdtempSync(join(tmpdir(), "llm-picker-fleet-kill-"));
  pool.reset();
  const replicas = await startReplicas("sharded-3", endpoints, 3, edsDir, {
    wasmPath: o.wasmPath,
    componentLogLevel: o.debugLog ? DEBUG_COMPONENTS : undefined,
    fleetConfig: o.fleetConfig,
  });
  const addresses = replicas.map((r) => r.url.replace("http://", ""));
  const victim = replicas.length - 1;
  const model = new MaglevModel(addresses);
  const sends: Array<Promise<void>> = [];
  const records: Array<{ atMs: number; first: number; replica: number; outcome: FleetOutcome; id: string }> = [];
  let reconnected = 0;
  let killedAtMs = NaN;
  let killedAtEpochMs = NaN;
  const probe = (i: number) =>
    JSON.stringify({
      model: "m",
      messages: [{ role: "user", content: `kill probe ${run}-${i}: answer with one word` }],
      max_tokens: 1,
      stream: true,
      stream_options: { include_usage: true },
    });
  try {
    /** --stuck: sessions the model says a retry cannot move off the victim, sent again and again after the kill. */
    const stuckProbes = keys && o.stuck !== undefined ? await stuckSessions(keys, probe, model, addresses[victim], o.stuck) : [];
    const t0 = performance.now();
    const total = Math.round((o.beforeS + o.afterS) * o.rate);
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / o.rate;
      if (!(killedAtMs >= 0) && due - t0 >= o.beforeS * 1000) {
        await killReplica(replicas[victim], edsDir, replicas, "sharded-3");
        killedAtMs = performance.now() - t0;
        killedAtEpochMs = Date.now();
      }
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const id = `kill-${run}-${i}`;
      const body = probe(killedAtMs >= 0 && stuckProbes.length > 0 ? stuckProbes[i % stuckProbes.length] : i);
      const first = Math.floor(rng.next() * replicas.length);
      const atMs = performance.now() - t0;
      sends.push(
        sendThroughSpread(replicas, first, PATH, body, rng, { "x-request-id": id }).then(({ outcome, replica, reconnects }) => {
          reconnected += reconnects;
          records.push({ atMs, first, replica, outcome, id });
        }),
      );
    }
    await Promise.all(sends);
    const retryStats = await statSum(replicas, [
      "upstream_rq_retry",
      "upstream_rq_retry_success",
      "upstream_rq_retry_limit_exceeded",
      "upstream_rq_retry_overflow",
      "upstream_cx_connect_fail",
    ]);
    const after = records.filter((r) => r.atMs > killedAtMs);
    const failed = after.filter((r) => !r.outcome.ok);
    const dead = addresses[victim];
    const failures: TracedFailure[] = [];
    let forwardedToDead = 0;
    let stuckByModel = 0;
    const ejectedAfterMs: number[] = [];
    const traces = replicas.map((r, j) => (j === victim || !o.debugLog ? null : traceLog(r.envoy.logs())));
    for (const trace of traces) {
      if (!trace) continue;
      ejectedAfterMs.push(ejectionMs(trace, dead, killedAtEpochMs, facts.unhealthyThreshold));
      for (const r of after) {
        const s = trace.streams.get(r.id);
        if (!s || s.refused === 0 || !s.session) continue;
        forwardedToDead++;
        if (model.retryHost(s.session, new Set([dead]), facts.repicks) === dead) stuckByModel++;
      }
    }
    for (const r of failed) {
      const s = traces[r.replica]?.streams.get(r.id);
      const session = s?.session ?? "";
      failures.push({
        msAfterKill: Math.round(r.atMs - killedAtMs),
        firstHop: r.replica,
        status: r.outcome.status,
        error: (r.outcome.error ?? "").slice(0, 300),
        session,
        owner: session ? model.ownerOf(session) : "",
        retryHost: session ? model.retryHost(session, new Set([dead]), facts.repicks) : "",
        attempts: (s?.connections ?? []).map((c) => traces[r.replica]?.targets.get(c) ?? `C${c}`),
      });
    }
    return {
      run,
      replicas: addresses,
      killed: dead,
      sent: records.length,
      sentAfterKill: after.length,
      failedAfterKill: failed.length,
      failedBeforeKill: records.filter((r) => r.atMs <= killedAtMs && !r.outcome.ok).length,
      reconnected,
      forwardedToDead,
      stuckByModel,
      stuckSessions: stuckProbes.length,
      ejectedAfterMs: ejectedAfterMs.map((v) => (Number.isFinite(v) ? v : -1)),
      failures,
      retryStats,
    };
  } finally {
    if (o.logsDir) {
      mkdirSync(o.logsDir, { recursive: true });
      for (const [i, r] of replicas.entries()) writeFileSync(join(o.logsDir, `run-${run}-replica-${i}.log`), r.envoy.logs());
    }
    await Promise.all(replicas.map((r) => r.envoy.stop(2000)));
    rmSync(edsDir, { recursive: true, force: true });
  }
}

export async function runKillDiagnostic(o: KillOptions): Promise<KillRun[]> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const facts = fleetConfigFacts(o.fleetConfig);
  const pool = await startSimPool(o.servers, DEFAULT_BENCH_SIM);
  const rng = new Rng(o.seed * 104729 + 7);
  const runs: KillRun[] = [];
  const keys = o.stuck !== undefined ? await SessionKeys.create(o.wasmPath) : null;
  try {
    for (let run = 1; run <= o.runs; run++) {
      const r = await oneRun(pool, run, o, facts, rng, keys);
      runs.push(r);
      log(
        `run ${run}: ${r.sentAfterKill} sent after the kill, ${r.failedAfterKill} failed; ${r.forwardedToDead} refused by the dead owner and retried ` +
          `(${r.stuckByModel} on keys whose ${facts.repicks} re-picks all land on it); health checks dropped it after ${r.ejectedAfterMs.join("/")} ms; ` +
          `retries ${r.retryStats.upstream_rq_retry} (${r.retryStats.upstream_rq_retry_success} succeeded)` +
          (o.stuck !== undefined ? `; ${r.stuckSessions} sessions stuck with ${o.stuck} re-picks sent again after the kill` : ""),
      );
      for (const f of r.failures.slice(0, 5)) {
        log(
          `  failed +${f.msAfterKill} ms via replica ${f.firstHop}: ${f.status} ${f.error.slice(0, 160)} | session ${f.session || "?"} owner ${f.owner || "?"} ` +
            `retry by model ${f.retryHost || "?"} | attempts ${f.attempts.join(" → ") || "?"}`,
        );
      }
    }
  } finally {
    keys?.close();
    agent.destroy();
    await pool.close();
  }
  return runs;
}

const USAGE = `usage: npm run bench:fleet:kill -- [options]
  --runs N          fleets started, one kill each (default 10)
  --rate R          requests per real second (default 150)
  --before S        real seconds of load before the kill (default 1)
  --after S         real seconds of load after the kill (default 2.5)
  --servers N       simulated servers (default 4)
  --seed N          spread seed (default 1)
  --wasm FILE       filter module (default build/llm_picker.wasm)
  --no-debug-log    replicas at warning level only (no failure traces)
  --stuck K         after the kill, send only sessions whose retry with K re-picks
                    (host_selection_retry_max_attempts) stays on the victim (found
                    before the run with the filter's own keys and the Maglev
                    model), so each run exercises that failure mode; 5 was the
                    fleet's setting before it was found
  --config FILE     the replicas' Envoy config (default envoy/envoy-fleet.yaml)
  --logs DIR        write each replica's Envoy log of each run there (run-R-replica-I.log)
  --json FILE       [{run, sent, sentAfterKill, failedAfterKill, ...}] (see KillRun)
`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "10" },
      rate: { type: "string", default: "150" },
      before: { type: "string", default: "1" },
      after: { type: "string", default: "2.5" },
      servers: { type: "string", default: "4" },
      seed: { type: "string", default: "1" },
      wasm: { type: "string" },
      "no-debug-log": { type: "boolean", default: false },
      logs: { type: "string" },
      config: { type: "string" },
      stuck: { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const options: KillOptions = {
    runs: Number(values.runs),
    rate: Number(values.rate),
    beforeS: Number(values.before),
    afterS: Number(values.after),
    servers: Number(values.servers),
    seed: Number(values.seed),
    wasmPath: values.wasm ? resolve(values.wasm) : undefined,
    debugLog: !values["no-debug-log"],
    logsDir: values.logs ? resolve(values.logs) : undefined,
    fleetConfig: values.config ? resolve(values.config) : undefined,
    stuck: values.stuck !== undefined ? Number(values.stuck) : undefined,
  };
  if (options.stuck !== undefined && (!Number.isInteger(options.stuck) || options.stuck < 0))
    throw new Error(`--stuck: expected re-picks ≥ 0, got ${values.stuck}`);
  for (const [k, v] of Object.entries(options))
    if (typeof v === "number" && k !== "stuck" && !(v > 0)) throw new Error(`--${k}: must be a positive number, got ${v}`);
  const started = Date.now();
  const runs = await runKillDiagnostic(options);
  const sent = runs.reduce((n, r) => n + r.sentAfterKill, 0);
  const failed = runs.reduce((n, r) => n + r.failedAfterKill, 0);
  const stuck = runs.reduce((n, r) => n + r.stuckByModel, 0);
  process.stderr.write(
    `${runs.length} kills: ${failed} of ${sent} requests sent after the kill failed (goal 0); ${stuck} were forwarded on keys the model says a retry cannot move off the dead replica\n`,
  );
  process.stderr.write(`${machineLine()}; ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  if (values.json) {
    mkdirSync(dirname(resolve(values.json)), { recursive: true });
    writeFileSync(values.json, `${JSON.stringify(runs, null, 1)}\n`);
  }
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(2);
    },
  );
}
