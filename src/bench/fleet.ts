/**
 * Fleet benchmark: `npm run bench:fleet -- [options]` (docs/fleet.md,
 * docs/benchmarks.md "Fleet").
 *
 * The routing benchmark's closed-loop replay (routing-sessions.ts, simulated
 * vLLM servers in model time) through several Envoy processes
 * (`--concurrency 1` each) in front of one pool of simulated servers:
 *   single     one Envoy with the filter;
 *   naive-3    3 Envoys, each with its own filter and prefix index;
 *   sharded-3  3 Envoys of one fleet (envoy/envoy-fleet.yaml): each session
 *              is decided by the replica that owns it.
 * Clients reach the replicas through a random L4 spread (each request goes
 * to a replica drawn at random, as a connection-level balancer would); a
 * connection refused by a replica that died is retried on another one, as
 * an L4 balancer with health checks would, and so is a request whose
 * kept-alive connection was reset before any response byte (Node's
 * documented retry case: the request never reached a live server). Halfway through a run one
 * replica is killed (SIGKILL); the report says how many requests were in
 * flight on it, how many failed, and when the hit rate recovered.
 *
 * The workload is the bench's own: FLEET_RATES below, lighter than the
 * routing benchmark's loaded defaults (docs/benchmarks.md "Fleet").
 *
 * Options: USAGE below (`--help`).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { writeEds } from "../envoy/eds.js";
import { PROJECT_ROOT } from "../envoy/locate.js";
import { freePort, startEnvoy, type EnvoyProcess } from "../envoy/process.js";
import { startSimPool, type SimPool } from "../sim/server.js";
import { fleetRequest, type FleetOutcome } from "./fleet-client.js";
import { agent } from "./routing-client.js";
import { ENVOY_YAML, filterPluginConfig } from "./routing-policies.js";
import { closedLoopBody, planSessions } from "./routing-sessions.js";
import { DEFAULT_BENCH_SIM, DEFAULT_REAL_RATE, timeScaleFor } from "./routing.js";
import { machineLine } from "./routing-report.js";
import { loadSpread, percentile, roundTo, streamingBody, warmTokenizer } from "./routing-run.js";
import { generateTrace, isTraceName, Rng, type TraceName } from "./traces/generators.js";
import type { TraceRequest } from "./traces/trace.js";
import { type FleetResult, goalLines, recoveryAfterKill, SETUPS, type Setup, WINDOW_S } from "./fleet-results.js";

export { type FleetResult, recoveryAfterKill, SETUPS, type Setup } from "./fleet-results.js";

const FLEET_YAML = resolve(PROJECT_ROOT, "envoy/envoy-fleet.yaml");
const REPLICAS_CLUSTER = "llm_picker_replicas";

/**
 * The fleet benchmark's offered rate per trace, in requests per model
 * second: its own, not the routing benchmark's DEFAULT_RATES (which keep 8
 * servers 50–89% prefill-busy under round robin to test load-aware
 * routing). Here one 2-core machine runs 3 Envoys, 8 simulated servers and
 * the client, and the question is the hit rate across replicas and the cost
 * of a kill, not saturation: at the routing rates a replica dies with
 * 100–170 requests in flight and queueing, not placement, sets the hit rate
 * and TTFT. These are the rates the fleet's goal figures were first
 * measured at (docs/benchmarks.md "Fleet").
 */
export const FLEET_RATES: Record<TraceName, number> = {
  "multi-turn": 20,
  "system-prompts": 25,
  "doc-qa": 10,
  agents: 12,
  "pareto-prompts": 16,
  "shared-prompt": 20,
  bursty: 20,
  rag: 12,
  "long-context": 1.5,
  "held-out-pareto": 14,
  "held-out-shared": 22,
  "held-out-rag-bursty": 10,
  "held-out-agents-responses": 9,
};

/** A trace's offered load in one run: where its rate came from, and the simulators' time scale for it. */
export interface FleetWorkload {
  /** Requests per model second. */
  rate: number;
  /** "fleet default" (FLEET_RATES), "--rate", either one "× F" with --load F. */
  source: string;
  /** Real ms per model ms: the bench's base (0.5), larger when the real request rate would pass DEFAULT_REAL_RATE. */
  timeScale: number;
}

/** The workload of trace `name`: `rate` (--rate) or its FLEET_RATES entry, times `load` (--load). */
export function fleetWorkload(name: TraceName, rate: number | undefined, load: number): FleetWorkload {
  const base = rate ?? FLEET_RATES[name];
  const source = `${rate === undefined ? "fleet default" : "--rate"}${load === 1 ? "" : ` × ${load}`}`;
  const offered = base * load;
  return { rate: offered, source, timeScale: timeScaleFor(offered, DEFAULT_BENCH_SIM.timeScale ?? 1, DEFAULT_REAL_RATE) };
}

export interface FleetOptions {
  traces: string[];
  setups: Setup[];
  requests: number;
  servers: number;
  replicas: number;
  kill: boolean;
  seed: number;
  /** Requests per model second for every trace (default: FLEET_RATES). */
  rate?: number;
  /** Multiplies every trace's rate (default 1). */
  load?: number;
  /** KV blocks per simulated server (default DEFAULT_BENCH_SIM's). */
  kvBlocks?: number;
  /** Filter module (default build/llm_picker.wasm). */
  wasmPath?: string;
  log?: (line: string) => void;
}

export interface Replica {
  envoy: EnvoyProcess;
  url: string;
  dead: boolean;
}

export interface ReplicaOptions {
  /** Filter module (default build/llm_picker.wasm). */
  wasmPath?: string;
  /** Envoy's `--component-log-level` (the kill diagnostic's router/upstream/hc/pool debug log). */
  componentLogLevel?: string;
  /** sharded-3: the replicas' Envoy config (default envoy/envoy-fleet.yaml): A/B runs of a config change. */
  fleetConfig?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function statOf(envoy: EnvoyProcess, name: string): Promise<number> {
  const stats = await envoy.stats(name.replace(/\./g, "\\."));
  return Object.entries(stats).find(([k]) => k.endsWith(name))?.[1] ?? 0;
}

/** Waits until the filter of `envoy` reports every endpoint healthy (and, in a fleet, sees every replica). */
async function waitReady(envoy: EnvoyProcess, endpoints: number, replicas: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const healthy = Object.values(await envoy.stats("llm_picker\\.endpoint\\.healthy\\."));
    const fleet = replicas > 0 ? await statOf(envoy, "llm_picker.fleet.replicas") : 0;
    if (healthy.length >= endpoints && healthy.every((v) => v === 1) && fleet === replicas) return;
    await sleep(100);
  }
  throw new Error(`${envoy.listenerUrl}: the filter did not see every endpoint${replicas ? " and replica" : ""} healthy within 20 s`);
}

/** Starts the setup's Envoys (sharded-3: one fleet on `edsDir`) and waits until each filter sees every endpoint and replica. */
export async function startReplicas(setup: Setup, endpoints: string[], count: number, edsDir: string, o: ReplicaOptions = {}): Promise<Replica[]> {
  const { wasmPath, componentLogLevel, fleetConfig = FLEET_YAML } = o;
  const n = setup === "single" ? 1 : count;
  const base = filterPluginConfig("default", endpoints) as Record<string, unknown>;
  const envoys: EnvoyProcess[] = [];
  if (setup === "sharded-3") {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) ports.push(await freePort());
    writeEds(
      edsDir,
      REPLICAS_CLUSTER,
      ports.map((p) => `127.0.0.1:${p}`),
    );
    const secret = `bench-${process.pid}-${Date.now()}-fleet`;
    const pluginConfig = { ...base, pool: { intervalMs: 250 }, fleet: { cluster: REPLICAS_CLUSTER, secret } };
    for (const port of ports) {
      envoys.push(
        await startEnvoy({
          config: fleetConfig,
          logLevel: "warning",
          componentLogLevel,
          substitutions: { listenerPort: port, edsDir, endpoints, pluginConfig, wasmPath },
        }),
      );
    }
  } else {
    for (let i = 0; i < n; i++)
      envoys.push(await startEnvoy({ config: ENVOY_YAML, logLevel: "warning", componentLogLevel, substitutions: { endpoints, pluginConfig: base, wasmPath } }));
  }
  for (const e of envoys) await waitReady(e, endpoints.length, setup === "sharded-3" ? n : 0);
  // Replicas that just saw each other healthy: one more membership read each.
  if (setup === "sharded-3") await sleep(750);
  return envoys.map((envoy) => ({ envoy, url: envoy.listenerUrl, dead: false }));
}

interface Sent {
  atS: number;
  outcome: FleetOutcome;
  replica: number;
}

/**
 * The hop's cost, on an idle pool: small one-token requests, each sent to
 * every live replica; a request the replica forwarded (its
 * llm_picker.fleet.forwarded counter moved) against one it decided itself.
 * Real milliseconds, difference of the medians.
 */
async function measureHop(replicas: Replica[], path: string, model: string): Promise<number> {
  const local: number[] = [];
  const hopped: number[] = [];
  for (let i = 0; i < 60; i++) {
    const body = JSON.stringify({ model, messages: [{ role: "user", content: `hop probe ${i}: say one word` }], max_tokens: 1 });
    for (const r of replicas) {
      if (r.dead) continue;
      const before = await statOf(r.envoy, "llm_picker.fleet.forwarded");
      const t = performance.now();
      const res = await fetch(`${r.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
      await res.text();
      const ms = performance.now() - t;
      if (!res.ok) continue;
      ((await statOf(r.envoy, "llm_picker.fleet.forwarded")) > before ? hopped : local).push(ms);
    }
  }
  const median = (xs: number[]) =>
    percentile(
      [...xs].sort((a, b) => a - b),
      50,
    );
  return median(hopped) - median(local);
}

/**
 * Kills one replica: SIGKILL, after reading how many requests it had in
 * flight; resolves once the process is gone. Until then its listening socket
 * still accepts connections (a request sent in those milliseconds is in
 * flight on a dying replica), so the caller takes the kill time after this.
 */
export async function killReplica(r: Replica, edsDir: string, all: Replica[], setup: Setup): Promise<number> {
  const inFlight = await statOf(r.envoy, "http.llm_picker.downstream_rq_active").catch(() => 0);
  process.kill(r.envoy.pid, "SIGKILL");
  for (const deadline = Date.now() + 2000; r.envoy.running() && Date.now() < deadline; ) await sleep(1);
  if (setup === "sharded-3") {
    // What a control plane does a little later: the replica leaves the EDS cluster.
    setTimeout(() => {
      const alive = all.filter((x) => x !== r).map((x) => x.url.replace("http://", ""));
      writeEds(edsDir, REPLICAS_CLUSTER, alive);
    }, 2000);
  }
  return inFlight;
}

/**
 * One request through the random L4 spread, first to replica `first`: a
 * connection refused by a replica that died is sent to another live one (an
 * L4 balancer with health checks stops sending to it), and so is a request
 * that met a dead kept-alive connection. Returns the outcome, the replica
 * that answered (or failed it last), and how many times it was sent again.
 */
export async function sendThroughSpread(
  replicas: Replica[],
  first: number,
  path: string,
  body: string,
  rng: Rng,
  headers?: Record<string, string>,
): Promise<{ outcome: FleetOutcome; replica: number; reconnects: number }> {
  let pick = first;
  let reconnects = 0;
  let outcome: FleetOutcome;
  for (let attempt = 0; ; attempt++) {
    outcome = await fleetRequest(`${replicas[pick].url}${path}`, body, 120_000, headers);
    if (!(outcome.refused || outcome.staleConnection) || attempt >= replicas.length) break;
    if (outcome.refused) replicas[pick].dead = true;
    reconnects++;
    const alive = replicas.map((_, j) => j).filter((j) => !replicas[j].dead);
    if (alive.length === 0) break;
    pick = alive[Math.floor(rng.next() * alive.length)];
  }
  return { outcome, replica: pick, reconnects };
}

async function runOne(pool: SimPool, trace: TraceRequest[], traceName: string, workload: FleetWorkload, setup: Setup, o: FleetOptions): Promise<FleetResult> {
  const loadAtStart = loadavg()[0];
  const endpoints = pool.servers.map((s) => `127.0.0.1:${s.port}`);
  const timeScale = pool.servers[0].config.timeScale;
  const edsDir = mkdtempSync(join(tmpdir(), "llm-picker-bench-fleet-"));
  pool.reset();
  const replicas = await startReplicas(setup, endpoints, o.replicas, edsDir, { wasmPath: o.wasmPath });
  const rng = new Rng(o.seed * 7919 + 17);
  const plan = planSessions(trace);
  const replies: (string | undefined)[] = new Array(trace.length);
  const finished: Promise<void>[] = new Array(trace.length);
  const sent: Sent[] = new Array(trace.length);
  const killAt = o.kill && replicas.length > 1 ? Math.floor(trace.length / 2) : -1;
  let inFlightAtKill = 0;
  let reconnected = 0;
  let killAtS: number | undefined;
  let loadAtEnd = NaN;
  const fleetFigures: { forwardedShare?: number; hopCostMs?: number; retryOverflow?: number; retryStats?: Record<string, number> } = {};
  const t0 = performance.now();
  const nowS = () => (performance.now() - t0) / timeScale / 1000;
  const evictedSoFar = () => pool.stats().reduce((n, st) => n + st.evictions, 0);
  const evictions: number[] = [];
  let evictedBefore = 0;
  const sampleEvictions = setInterval(
    () => {
      const now = evictedSoFar();
      evictions.push(now - evictedBefore);
      evictedBefore = now;
    },
    WINDOW_S * 1000 * timeScale,
  );

  /** Requests started and not yet answered, and the replica each first went to. */
  const pending: number[] = [];
  const sentTo: number[] = new Array(trace.length);
  const send = async (i: number): Promise<void> => {
    const body = JSON.stringify({ ...closedLoopBody(trace[i], plan.substitutions[i], replies), stream_options: { include_usage: true } });
    const atS = nowS();
    const first = Math.floor(rng.next() * replicas.length);
    sentTo[i] = first;
    pending.push(i);
    const { outcome, replica, reconnects } = await sendThroughSpread(replicas, first, trace[i].path, body, rng);
    reconnected += reconnects;
    sent[i] = { atS, outcome, replica };
    pending.splice(pending.indexOf(i), 1);
    replies[i] = outcome.ok ? outcome.text : undefined;
  };

  try {
    for (let i = 0; i < trace.length; i++) {
      const due = t0 + trace[i].t * timeScale;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      if (i === killAt) {
        const victim = replicas.length - 1;
        const onVictim = await killReplica(replicas[victim], edsDir, replicas, setup);
        // Taken once the process is dead: a request sent while the replica's
        // stats were being read was in flight on it, not sent after the kill.
        killAtS = nowS();
        const clientSide = pending.filter((j) => sent[j] === undefined && sentTo[j] === victim).length;
        inFlightAtKill = Math.max(clientSide, onVictim);
      }
      const previous = plan.previous[i];
      finished[i] = previous < 0 ? send(i) : finished[previous].then(() => send(i));
    }
    await Promise.all(finished);
    clearInterval(sampleEvictions);
    evictions.push(evictedSoFar() - evictedBefore);
    loadAtEnd = loadavg()[0];
    if (setup === "sharded-3") {
      let forwarded = 0;
      let overflow = 0;
      for (const r of replicas) {
        if (r.dead) continue;
        forwarded += await statOf(r.envoy, "llm_picker.fleet.forwarded");
        overflow += await statOf(r.envoy, `cluster.${REPLICAS_CLUSTER}.upstream_rq_retry_overflow`);
      }
      fleetFigures.retryOverflow = overflow;
      const counters: Record<string, number> = {};
      for (const r of replicas) {
        if (r.dead) continue;
        for (const cluster of [REPLICAS_CLUSTER, "model_servers"]) {
          for (const name of [
            "upstream_rq_retry",
            "upstream_rq_retry_success",
            "upstream_rq_retry_limit_exceeded",
            "upstream_cx_connect_fail",
            "upstream_rq_503",
          ]) {
            const key = `${cluster}.${name}`;
            counters[key] = (counters[key] ?? 0) + (await statOf(r.envoy, `cluster.${key}`));
          }
        }
      }
      fleetFigures.retryStats = counters;
      fleetFigures.forwardedShare = forwarded / trace.length;
      fleetFigures.hopCostMs = await measureHop(replicas, "/v1/chat/completions", String(trace[0].body.model ?? "m"));
    }
  } finally {
    clearInterval(sampleEvictions);
    await Promise.all(replicas.map((r) => r.envoy.stop(2000)));
    rmSync(edsDir, { recursive: true, force: true });
  }

  const spread = loadSpread(pool);
  const ok = sent.filter((s) => s.outcome.ok);
  const ttfts = ok.map((s) => s.outcome.ttftMs / timeScale).sort((a, b) => a - b);
  const prompt = ok.reduce((n, s) => n + s.outcome.promptTokens, 0);
  const cached = ok.reduce((n, s) => n + s.outcome.cachedTokens, 0);
  const windows: number[] = [];
  for (const s of ok) {
    const w = Math.floor(s.atS / WINDOW_S);
    while (windows.length <= w) windows.push(NaN);
  }
  const sums = windows.map(() => [0, 0]);
  for (const s of ok) {
    const w = Math.floor(s.atS / WINDOW_S);
    sums[w][0] += s.outcome.cachedTokens;
    sums[w][1] += s.outcome.promptTokens;
  }
  const cut = Math.floor(trace.length / 2);
  const early = sent.slice(0, cut).filter((s) => s.outcome.ok);
  const earlyPrompt = early.reduce((n, s) => n + s.outcome.promptTokens, 0);
  const earlyCached = early.reduce((n, s) => n + s.outcome.cachedTokens, 0);
  const earlyTtfts = early.map((s) => s.outcome.ttftMs / timeScale).sort((a, b) => a - b);
  const failedAfterKill = killAtS === undefined ? 0 : sent.filter((s) => !s.outcome.ok && s.atS > killAtS!).length;
  return {
    setup,
    trace: traceName,
    offeredRate: roundTo(workload.rate, 2),
    rateSource: workload.source,
    timeScale: workload.timeScale,
    loadAverage: { start: roundTo(loadAtStart, 2), end: roundTo(loadAtEnd, 2) },
    requests: sent.length,
    errors: sent.length - ok.length,
    inFlightAtKill,
    hitRate: roundTo(prompt > 0 ? cached / prompt : 0, 4),
    ttftP50Ms: roundTo(percentile(ttfts, 50)),
    ttftP90Ms: roundTo(percentile(ttfts, 90)),
    ttftP99Ms: roundTo(percentile(ttfts, 99)),
    reconnected,
    maxMeanLoad: roundTo(spread.maxOverMean, 2),
    servedPerServer: spread.served,
    hitRateBeforeKill: roundTo(earlyPrompt > 0 ? earlyCached / earlyPrompt : 0, 4),
    ttftP50MsBeforeKill: roundTo(percentile(earlyTtfts, 50)),
    failedAfterKill,
    failures: sent
      .filter((s) => !s.outcome.ok)
      .map((s) => ({ atS: roundTo(s.atS, 3), replica: s.replica, status: s.outcome.status, error: s.outcome.error ?? "" })),
    windows: sums.map(([c, p]) => roundTo(p > 0 ? c / p : NaN, 4)),
    windowTokens: sums.map(([c, p]) => [c, p] as [number, number]),
    evictions,
    ...(killAtS !== undefined ? { killAtS: roundTo(killAtS) } : {}),
    ...(fleetFigures.forwardedShare !== undefined ? { forwardedShare: roundTo(fleetFigures.forwardedShare, 3) } : {}),
    ...(fleetFigures.retryOverflow !== undefined ? { retryOverflow: fleetFigures.retryOverflow } : {}),
    ...(fleetFigures.retryStats !== undefined ? { retryStats: fleetFigures.retryStats } : {}),
    ...(fleetFigures.hopCostMs !== undefined ? { hopCostMs: roundTo(fleetFigures.hopCostMs, 2) } : {}),
  };
}

export async function runFleetBench(o: FleetOptions): Promise<FleetResult[]> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const results: FleetResult[] = [];
  try {
    for (const name of o.traces) {
      if (!isTraceName(name)) throw new Error(`unknown trace "${name}"`);
      const workload = fleetWorkload(name, o.rate, o.load ?? 1);
      // Without the warm-up: the fleet's figures compare replicas on the same requests, every one of them counted.
      const trace = generateTrace(name, { seed: o.seed, requests: o.requests, rate: workload.rate, coldStart: true });
      const span = trace.length > 0 ? trace[trace.length - 1].t / 1000 : 0;
      log(
        `${name}: ${trace.length} requests at ${workload.rate} per model second (${workload.source}), ${span.toFixed(1)} model s of arrivals, ` +
          `timeScale ${workload.timeScale}, ${o.servers} servers of ${o.kvBlocks ?? DEFAULT_BENCH_SIM.numGpuBlocks} KV blocks`,
      );
      // One pool per trace: its time scale follows the trace's rate.
      const pool = await startSimPool(o.servers, {
        ...DEFAULT_BENCH_SIM,
        timeScale: workload.timeScale,
        ...(o.kvBlocks !== undefined ? { numGpuBlocks: o.kvBlocks } : {}),
      });
      try {
        // Every prompt tokenized once up front, so the first setup does not pay it during its run.
        await warmTokenizer(
          pool,
          { requests: trace },
          trace.map((r) => streamingBody(r.body)),
        );
        for (const setup of o.setups) {
          const r = await runOne(pool, trace, name, workload, setup, o);
          results.push(r);
          const reference = results.find((x) => x.trace === name && x.setup === "single");
          if (r.killAtS !== undefined) {
            r.recoveryS = recoveryAfterKill(r, reference);
            r.recovery5sS = recoveryAfterKill(r, reference, 1);
          }
          log(
            `${name} / ${setup}: ${r.requests} requests, ${r.errors} errors, in flight at kill ${r.inFlightAtKill}, hit ${(r.hitRate * 100).toFixed(1)}%, ` +
              `TTFT p50 ${r.ttftP50Ms} p90 ${r.ttftP90Ms} p99 ${r.ttftP99Ms} ms, busiest server ${r.maxMeanLoad}× the mean${r.killAtS !== undefined ? `, recovered ${r.recoveryS ?? "never"} s after the kill (5-s windows: ${r.recovery5sS ?? "never"} s)` : ""}, ` +
              `load average ${r.loadAverage.start}–${r.loadAverage.end}`,
          );
        }
      } finally {
        await pool.close();
      }
    }
  } finally {
    agent.destroy();
  }
  return results;
}

const USAGE = `usage: npm run bench:fleet -- [options]
  --traces a,b      built-in traces (default multi-turn,pareto-prompts; system-prompts
                    is the cross-session class, docs/fleet.md)
  --setups a,b      single,naive-3,sharded-3 (default all)
  --requests N      requests per trace (default 1200)
  --rate R          requests per model second for every trace (default: the fleet's own
                    rates, ${JSON.stringify(FLEET_RATES)}, lighter than bench:routing's)
  --load F          multiply every trace's rate by F (default 1)
  --servers N       simulated servers (default 8); --replicas N (default 3)
  --kv-blocks N     KV blocks per simulated server (default ${DEFAULT_BENCH_SIM.numGpuBlocks}): cache pressure
  --no-kill         no replica is killed
  --seed N          trace and spread seed (default 1)
  --wasm FILE       filter module (default build/llm_picker.wasm): A/B runs of two builds
  --json FILE       [{setup, trace, requests, errors, inFlightAtKill, hitRate,
                      ttftP50Ms, ttftP99Ms, maxMeanLoad, offeredRate, rateSource, timeScale,
                      loadAverage, ...}] (extra fields: see FleetResult)
`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      traces: { type: "string", default: "multi-turn,pareto-prompts" },
      setups: { type: "string", default: SETUPS.join(",") },
      requests: { type: "string", default: "1200" },
      rate: { type: "string" },
      load: { type: "string", default: "1" },
      servers: { type: "string", default: "8" },
      "kv-blocks": { type: "string" },
      replicas: { type: "string", default: "3" },
      "no-kill": { type: "boolean", default: false },
      seed: { type: "string", default: "1" },
      wasm: { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && !(rate > 0 && Number.isFinite(rate))) throw new Error(`--rate: "${values.rate}" is not a number > 0`);
  const load = Number(values.load);
  if (!(load > 0 && Number.isFinite(load))) throw new Error(`--load: "${values.load}" is not a number > 0`);
  const kvBlocks = values["kv-blocks"] === undefined ? undefined : Number(values["kv-blocks"]);
  if (kvBlocks !== undefined && !(Number.isInteger(kvBlocks) && kvBlocks > 0))
    throw new Error(`--kv-blocks: "${values["kv-blocks"]}" is not a positive integer`);
  const setups = values.setups.split(",").map((s) => s.trim());
  for (const s of setups) if (!(SETUPS as readonly string[]).includes(s)) throw new Error(`--setups: unknown setup "${s}" (${SETUPS.join(", ")})`);
  const options: FleetOptions = {
    traces: values.traces
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    setups: setups as Setup[],
    requests: Number(values.requests),
    servers: Number(values.servers),
    replicas: Number(values.replicas),
    kill: !values["no-kill"],
    seed: Number(values.seed),
    rate,
    load,
    kvBlocks,
    wasmPath: values.wasm ? resolve(values.wasm) : undefined,
  };
  const started = Date.now();
  const results = await runFleetBench(options);
  for (const line of goalLines(results)) process.stderr.write(`${line}\n`);
  process.stderr.write(`${machineLine()}; ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  if (values.json) {
    mkdirSync(dirname(resolve(values.json)), { recursive: true });
    writeFileSync(values.json, `${JSON.stringify(results, null, 1)}\n`);
  }
  return 0;
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
