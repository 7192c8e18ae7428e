/**
 * Routing-quality benchmark: `npm run bench:routing -- [options]`.
 *
 * Replays traces (built-in seeded generators or `--trace FILE`, JSON Lines, see
 * traces/trace.ts) through a real Envoy to the same pool of simulated vLLM
 * servers under each policy (routing-policies.ts), resetting the servers and
 * restarting Envoy between policies. Per policy and trace it reports the
 * token-level prefix-cache hit rate (from the simulators), time to first
 * token at the client (streaming; p50/p90/p99), requests per second and
 * errors; writes a Markdown table and SVG charts under bench/results/ and,
 * with --json FILE, the figures as JSON. Exits 1 if any request failed.
 *
 * Times are model time: the trace's `t` and every latency are divided by the
 * simulators' timeScale (real ms = model ms × timeScale), so a run at
 * timeScale 0.5 reports what a run at 1 would, twice as fast.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { findEnvoy, PROJECT_ROOT } from "../envoy/locate.js";
import { startEnvoy, type EnvoyProcess } from "../envoy/process.js";
import { ROUTING_HEADER } from "../envoy/config.js";
import { loadSimConfigFile, type SimConfig } from "../sim/config.js";
import { SIM_TAG_HEADER, SIM_WARMUP_HEADER, startSimPool, type SimPool } from "../sim/server.js";
import { agent, streamRequest, type RequestOutcome } from "./routing-client.js";
import { markdownTable, writeReport } from "./routing-report.js";
import { DEFAULT_POLICIES, isPolicyName, POLICY_NAMES, policyEnvoy, type PolicyName } from "./routing-policies.js";
import { PreciseRouter } from "./routing-precise.js";
import { OracleRouter } from "./routing-oracle.js";
import { closedLoopBody, planSessions } from "./routing-sessions.js";
import {
  ALL_TRACE_NAMES,
  DEFAULT_RATES,
  defaultRequests,
  generateTrace,
  HELD_OUT_NAMES,
  isTraceName,
  MIN_SPAN_S,
  type TraceName,
} from "./traces/generators.js";
import { readTrace, writeTrace } from "./traces/trace.js";
import {
  bar,
  loadSpread,
  percentile,
  recordServed,
  roundTo,
  sleep,
  streamingBody,
  waitFilterHealthy,
  warmOutcomes,
  warmTokenizer,
  writeServedLog,
} from "./routing-run.js";

export { percentile, warmOutcomes } from "./routing-run.js";
import { goalLines } from "./routing-goals.js";
import { parseSeeds, poolSeeds, seededName } from "./routing-pooled.js";

export type { LoopFigures, RoutingBenchOptions, RoutingDetail, RoutingResult, RoutingRun, TraceSpec } from "./routing-types.js";
import type { LoopFigures, RoutingBenchOptions, RoutingDetail, RoutingResult, RoutingRun, TraceSpec } from "./routing-types.js";

/** Real requests per second the harness is held to by default (see timeScaleFor). */
export const DEFAULT_REAL_RATE = 50;

/** Mean requests per model second of a trace sorted by t (model ms): arrivals after the first / span; 1 when it has no span. */
export function meanRate(requests: ReadonlyArray<{ t: number }>): number {
  if (requests.length < 2) return 1;
  const span = (requests[requests.length - 1].t - requests[0].t) / 1000;
  return span > 0 ? (requests.length - 1) / span : 1;
}

/** Model-time options of the simulated servers used by default (README "Routing"). */
export const DEFAULT_BENCH_SIM: Partial<SimConfig> = { numGpuBlocks: 2048, timeScale: 0.5 };

async function replay(
  envoy: EnvoyProcess,
  pool: SimPool,
  trace: TraceSpec,
  bodies: string[],
  policy: PolicyName,
  clientPicks: boolean,
  options: RoutingBenchOptions,
  onDone: (done: number, errors: number) => void,
): Promise<{ outcomes: RequestOutcome[]; realSeconds: number; arrivalSeconds: number; loop: LoopFigures }> {
  const timeScale = pool.servers[0].config.timeScale;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const addresses = pool.servers.map((s) => `127.0.0.1:${s.port}`);
  const router = !clientPicks ? null : policy === "oracle" ? new OracleRouter(pool.servers) : new PreciseRouter(pool.servers);
  const closedLoop = !options.openLoop;
  const plan = closedLoop ? planSessions(trace.requests) : null;
  const replies: (string | undefined)[] = new Array(trace.requests.length);
  const finished: Promise<void>[] = new Array(trace.requests.length);
  const outcomes: RequestOutcome[] = new Array(trace.requests.length);
  const loop: LoopFigures = { closedLoop, substituted: 0, delayed: 0, delayModelMs: 0, sendLateMs: new Array<number>(trace.requests.length) };
  let done = 0;
  let errors = 0;
  const t0 = performance.now();
  let lastSent = t0;
  let firstMeasuredSent = Infinity;

  const bodyOf = (i: number): string => {
    if (plan === null || plan.substitutions[i].length === 0) return bodies[i];
    for (const s of plan.substitutions[i]) if (replies[s.source] !== undefined) loop.substituted++;
    return JSON.stringify(closedLoopBody(trace.requests[i], plan.substitutions[i], replies));
  };

  const send = async (i: number): Promise<void> => {
    const r = trace.requests[i];
    lastSent = Math.max(lastSent, performance.now());
    if (r.warmup !== true) firstMeasuredSent = Math.min(firstMeasuredSent, performance.now());
    const body = bodyOf(i);
    // With a request log, each request carries its session and trace index to the servers' records;
    // a warm-up request says so, and the servers count it apart.
    const tag: Record<string, string> = {
      ...(options.servedLogDir === undefined ? {} : { [SIM_TAG_HEADER]: `${r.session}#${i}` }),
      ...(r.warmup === true ? { [SIM_WARMUP_HEADER]: "1" } : {}),
    };
    let outcome: RequestOutcome;
    if (router) {
      let chosen = -1;
      try {
        chosen = await router.pick(r.path, body);
      } catch (err) {
        outcome = { ok: false, status: 0, ttftMs: NaN, totalMs: 0, error: `${policy} lookup: ${(err as Error).message}` };
      }
      if (chosen >= 0) {
        router.inFlight[chosen]++;
        // TTFT starts after the lookup: a router fed by KV-cache events holds
        // this knowledge locally; the 8 HTTP lookups are a benchmark artefact.
        outcome = await streamRequest(
          `${envoy.listenerUrl}${r.path}`,
          body,
          { [ROUTING_HEADER]: addresses[chosen], ...tag },
          timeoutMs,
          performance.now(),
          closedLoop,
        );
        router.inFlight[chosen]--;
      }
    } else {
      outcome = await streamRequest(`${envoy.listenerUrl}${r.path}`, body, tag, timeoutMs, performance.now(), closedLoop);
    }
    outcomes[i] = outcome!;
    replies[i] = outcome!.text;
    done++;
    if (!outcome!.ok) errors++;
    onDone(done, errors);
  };

  for (let i = 0; i < trace.requests.length; i++) {
    const due = t0 + trace.requests[i].t * timeScale;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    // The harness's own lag: how far past its due time the loop got to this request.
    loop.sendLateMs[i] = Math.max(0, performance.now() - due) / timeScale;
    const previous = plan === null ? -1 : plan.previous[i];
    if (previous < 0) {
      finished[i] = send(i);
    } else {
      // A turn needs its session's previous reply: sent at max(t, previous completion).
      finished[i] = finished[previous].then(() => {
        const late = performance.now() - due;
        if (late > 1) {
          loop.delayed++;
          loop.delayModelMs += late / timeScale;
        }
        return send(i);
      });
    }
  }
  await Promise.all(finished);
  const realSeconds = (performance.now() - t0) / 1000;
  // The arrival window of the measured requests (the warm-up's comes before it).
  const arrivalSeconds = (lastSent - Math.min(firstMeasuredSent, lastSent)) / 1000;
  return { outcomes, realSeconds, arrivalSeconds, loop };
}

/** Requests per server from the simulators' own counters. */
async function runOne(pool: SimPool, trace: TraceSpec, bodies: string[], policy: PolicyName, options: RoutingBenchOptions, label: string): Promise<RoutingRun> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const endpoints = pool.servers.map((s) => `127.0.0.1:${s.port}`);
  const setup = policyEnvoy(policy, endpoints, options.wasmPath, options.filterOverride);
  pool.reset();
  recordServed(pool, options.servedLogDir !== undefined);
  const envoy = await startEnvoy({ config: setup.config, substitutions: setup.substitutions, logLevel: "warning", concurrency: options.envoyWorkers ?? 1 });
  try {
    if (setup.filter && !(await waitFilterHealthy(envoy, endpoints.length))) {
      const health = await envoy.stats("llm_picker\\.endpoint\\.(healthy|scrape_failures)\\.");
      log(`[${label}] warning: the filter did not report every endpoint healthy within 10 s: ${JSON.stringify(health)}`);
      log(
        envoy
          .logs()
          .split("\n")
          .filter((l) => /wasm|critical|error/.test(l))
          .slice(-20)
          .join("\n"),
      );
    }
    const tty = options.progress ?? process.stderr.isTTY;
    const total = trace.requests.length;
    let lastDraw = 0;
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const cpu0 = process.cpuUsage();
    const { outcomes, realSeconds, arrivalSeconds, loop } = await replay(envoy, pool, trace, bodies, policy, setup.clientPicks, options, (done, errors) => {
      const now = Date.now();
      if (tty && (now - lastDraw > 100 || done === total)) {
        lastDraw = now;
        process.stderr.write(`\r${label.padEnd(34)} ${bar(done, total)} ${String(done).padStart(5)}/${total} errors ${errors}  `);
      }
    });
    loopDelay.disable();
    const cpu = process.cpuUsage(cpu0);
    if (tty) process.stderr.write("\n");
    const timeScale = pool.servers[0].config.timeScale;
    const late = loop.sendLateMs.filter((v) => v !== undefined).sort((a, b) => a - b);
    // Every figure but errors and throughput is over the measured requests: the warm-up's are left out.
    const stats = pool.stats();
    const prompt = stats.reduce((s, x) => s + x.promptTokens - x.warmup.promptTokens, 0);
    const cached = stats.reduce((s, x) => s + x.cachedTokens - x.warmup.cachedTokens, 0);
    const ok = outcomes.filter((o) => o.ok);
    const measured = outcomes.filter((_, i) => trace.requests[i].warmup !== true);
    const ttfts = measured
      .filter((o) => o.ok)
      .map((o) => o.ttftMs / timeScale)
      .sort((a, b) => a - b);
    const warmTtfts = warmOutcomes(trace, outcomes)
      .filter((o) => o.ok)
      .map((o) => o.ttftMs / timeScale)
      .sort((a, b) => a - b);
    const failed = outcomes.filter((o) => !o.ok);
    const serverTtfts = pool.servers.flatMap((s) => s.engine.ttftSamples).sort((a, b) => a - b);
    const detail: RoutingDetail = {
      imbalance: loadSpread(pool).maxOverMean,
      errorSamples: failed.slice(0, 5).map((o) => o.error ?? `HTTP ${o.status}`),
      loop,
      ttfts,
      warmTtfts,
      serverTtfts,
      promptTokens: prompt,
      cachedTokens: cached,
    };
    if (setup.filter) {
      // The prefix-block counters reach Envoy on the filter's next tick (at most 1 s with scraping off).
      await sleep(1100);
      const s = await envoy.stats("llm_picker\\.(prefix|hot_spot_guard|route)");
      const find = (suffix: string) => Object.entries(s).find(([k]) => k.endsWith(suffix))?.[1] ?? 0;
      const total = find("llm_picker.prefix.total_blocks");
      detail.filterMatchRatio = total > 0 ? find("llm_picker.prefix.matched_blocks") / total : 0;
      detail.guardFired = find("llm_picker.hot_spot_guard") + find("llm_picker.route.load_overrode_affinity");
      detail.redecided = find("llm_picker.route.redecided");
      const horizons = Object.values(await envoy.stats("llm_picker\\.endpoint\\.eviction_horizon_blocks\\."));
      if (horizons.length > 0) detail.evictionHorizon = [Math.min(...horizons), Math.max(...horizons)];
      detail.unexpectedPrefill = Object.values(await envoy.stats("llm_picker\\.endpoint\\.unexpected_prefill_blocks\\.")).reduce((a, b) => a + b, 0);
    }
    // Utilisation over the arrival window (first to last request sent): the
    // prefill work the trace offered per server and second. Over the whole
    // run it would also count the drain after the last arrival, which is
    // most of a short, fast trace.
    const arrivalModelSeconds = arrivalSeconds / timeScale;
    const prefillBusy = stats.reduce((sum, x) => sum + x.prefillMs - x.warmup.prefillMs, 0) / 1000 / Math.max(1e-9, arrivalModelSeconds * stats.length);
    const kvUsage = stats.reduce((sum, x) => sum + x.meanKvUsage, 0) / Math.max(1, stats.length);
    const slotUsage = stats.reduce((sum, x) => sum + x.meanSlotUsage, 0) / Math.max(1, stats.length);
    if (options.servedLogDir !== undefined) writeServedLog(pool, options.servedLogDir, trace.name, policy);
    const result: RoutingResult = {
      policy,
      trace: trace.name,
      requests: measured.length,
      errors: failed.length,
      ...(measured.length < outcomes.length ? { warmupRequests: outcomes.length - measured.length } : {}),
      hitRate: roundTo(prompt > 0 ? cached / prompt : 0, 4),
      ttftP50Ms: roundTo(percentile(ttfts, 50)),
      ttftP90Ms: roundTo(percentile(ttfts, 90)),
      ttftP99Ms: roundTo(percentile(ttfts, 99)),
      rps: roundTo((ok.length * timeScale) / realSeconds, 2),
      maxMeanLoad: roundTo(detail.imbalance, 2),
      ...(detail.guardFired !== undefined ? { activations: detail.guardFired } : {}),
      busy: roundTo(prefillBusy, 3),
      kvUsage: roundTo(kvUsage, 3),
      slotUsage: roundTo(slotUsage, 3),
      serverTtftP50Ms: roundTo(percentile(serverTtfts, 50)),
      serverTtftP90Ms: roundTo(percentile(serverTtfts, 90)),
      serverTtftP99Ms: roundTo(percentile(serverTtfts, 99)),
      ...(trace.rate !== undefined ? { offeredRate: roundTo(trace.rate, 2) } : {}),
      timeScale,
      sendLateP50Ms: roundTo(percentile(late, 50)),
      sendLateP99Ms: roundTo(percentile(late, 99)),
      sendLateMaxMs: roundTo(late.length > 0 ? late[late.length - 1] : NaN),
      // The histogram is in real nanoseconds; it includes the 10 ms sampling resolution's own timer.
      loopDelayP99Ms: roundTo(loopDelay.percentile(99) / 1e6 / timeScale),
      harnessCpu: roundTo((cpu.user + cpu.system) / 1e6 / Math.max(1e-9, realSeconds), 3),
      warmTtftP90Ms: roundTo(percentile(warmTtfts, 90)),
      warmTtftP99Ms: roundTo(percentile(warmTtfts, 99)),
    };
    if (!tty) {
      const fed = loop.closedLoop ? `, ${loop.substituted} replies fed back, ${loop.delayed} turns delayed` : ", open loop";
      const warmup = result.warmupRequests === undefined ? "" : ` (after ${result.warmupRequests} warm-up)`;
      log(
        `${label}: ${result.requests} requests${warmup}, ${result.errors} errors, hit ${(result.hitRate * 100).toFixed(1)}%, TTFT p50 ${result.ttftP50Ms} ms${fed}`,
      );
    }
    return { result, detail };
  } catch (err) {
    log(`[${label}] failed; Envoy log tail:\n${envoy.logs().split("\n").slice(-40).join("\n")}`);
    throw err;
  } finally {
    recordServed(pool, false);
    await envoy.stop();
  }
}

/** Runs every policy on every trace; one simulated pool per trace (its time scale may differ), reset between policies. */
export async function runRoutingBench(options: RoutingBenchOptions): Promise<RoutingRun[]> {
  const runs: RoutingRun[] = [];
  try {
    for (const trace of options.traces) {
      const sim = trace.timeScale === undefined ? options.sim : { ...options.sim, timeScale: trace.timeScale };
      const pool = await startSimPool(options.servers, sim);
      try {
        const bodies = trace.requests.map((r) => streamingBody(r.body));
        await warmTokenizer(pool, trace, bodies);
        for (const policy of options.policies) {
          runs.push(await runOne(pool, trace, bodies, policy, options, `${trace.name} / ${policy}`));
        }
      } finally {
        await pool.close();
      }
    }
  } finally {
    agent.destroy();
  }
  return runs;
}

/**
 * The simulators' timeScale for a trace offered at `rate` model requests per
 * second: at least `base`, and large enough that the real request rate
 * (rate / timeScale) stays at or below `realRate`, which one client process
 * with eight simulated servers and Envoy keeps up with on a small machine.
 * Figures are in model time, so the scale changes how long a run takes, not
 * what it reports (docs/benchmarks.md "Routing").
 */
export function timeScaleFor(rate: number, base: number, realRate: number): number {
  const needed = rate / realRate;
  return Math.round(Math.max(base, needed) * 1000) / 1000;
}

const USAGE = `Usage: npm run bench:routing -- [options]
  --traces a,b        built-in traces (${ALL_TRACE_NAMES.join(", ")}; default all;
                      ${HELD_OUT_NAMES.join(", ")} are held out: other seeds and parameters of the same classes)
  --trace FILE        replay a JSON Lines trace instead (repeatable), keeping its timing
                      (closed loop: a turn waits for its session's previous turn, see below)
  --open-loop         send assistant messages as the trace wrote them, every request at its t.
                      Default (closed loop, as chat clients do): in a request with a "session", an
                      assistant message whose preceding messages are exactly an earlier turn's
                      messages carries the text the server streamed for that turn (tool-call
                      messages and turns not in the trace keep the trace's text), and a turn is
                      sent at max(t, completion of its session's previous turn)
  --policies a,b      any of ${POLICY_NAMES.join(", ")}
                      (default ${DEFAULT_POLICIES.join(",")}):
                        round-robin, least-request, random  Envoy's own balancers, no filter
                        seed-like   the filter with "profile": "seed" (the seed's weighted scorers)
                        default     the filter's defaults (load-bounded affinity on predicted TTFT)
                        precise     the client scores exact cache contents like the seed profile
                        oracle      the client picks the lowest TTFT the simulators' latency model
                                    predicts from their exact caches and queues (the bound)
  --servers N         simulated servers (default 8)
  --sim FILE          simulator config (JSON, src/sim/README.md); default ${JSON.stringify(DEFAULT_BENCH_SIM)}
  --time-scale X      the simulators' timeScale for every trace (real = model time × X); default
                      per trace, see --real-rate
  --requests N        requests per built-in trace (default 300; the workload classes 400, long-context 80;
                      more when that spans less than ${MIN_SPAN_S} model seconds at the trace's rate)
  --duration S        keep only requests with t < S model seconds (from the trace's start, warm-up included)
  --rate R            mean requests per model second for built-in traces (defaults ${JSON.stringify(DEFAULT_RATES)})
  --load F            multiply every trace's rate by F (built-in: its default or --rate; --trace FILE:
                      its clock runs F times faster), e.g. --load 0.25 for a lightly loaded pool
  --real-rate R       hold the harness to at most R real requests per second (default ${DEFAULT_REAL_RATE}): each
                      trace's simulators get timeScale max(base, rate / R), so a loaded trace runs
                      longer in real time instead of outrunning the client; ignored with --time-scale
  --seed N            generator seed (default 1)
  --seeds a,b,c       run each built-in trace at each of these seeds (named trace@seed), then pool
                      them: one row per trace and policy over every seed's requests, which the
                      goals read (a p99 over one run's few hundred requests moves by tens of
                      percent between seeds; pooled, it is over a few thousand)
  --cold-start        built-in traces without their warm-up: the measured requests alone, as after
                      a restart of the whole pool (sessions under way whose history no server holds).
                      Default: sessions under way at the trace's start first send their latest
                      earlier turn (and every request in the last moments before it) as a warm-up,
                      sent through the policy like the rest but left out of every figure but errors
                      (a trace file's lines with "warmup": true are the same)
  --out DIR           report directory (default bench/results/latest)
  --json FILE         also write the figures as JSON
  --save-traces DIR   write the generated traces as JSON Lines
  --request-log DIR   write what the servers did with each request, per trace and policy, as
                      DIR/<trace>-<policy>.jsonl (arrival, admission, prefill start, first token,
                      prompt and cached tokens, model ms): where a tail's time went; with
                      --filter-config '{"debugHeaders":true}' also the filter's decision for each
  --timeout MS        per-request timeout, real ms (default 120000)
  --filter-config J   JSON merged into the filter's plugin configuration (seed-like and default),
                      e.g. '{"prefix":{"capacityPerEndpoint":2048}}'
  --wasm FILE         filter module (default build/llm_picker.wasm)
  --envoy-workers N   Envoy worker threads (default 1); with more, requests are decided on several
                      threads at once against one shared view (the "decided again" column)`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      traces: { type: "string" },
      trace: { type: "string", multiple: true },
      policies: { type: "string" },
      servers: { type: "string", default: "8" },
      sim: { type: "string" },
      "time-scale": { type: "string" },
      requests: { type: "string" },
      duration: { type: "string" },
      rate: { type: "string" },
      load: { type: "string" },
      "real-rate": { type: "string" },
      seed: { type: "string", default: "1" },
      seeds: { type: "string" },
      out: { type: "string", default: join(PROJECT_ROOT, "bench/results/latest") },
      json: { type: "string" },
      "save-traces": { type: "string" },
      "request-log": { type: "string" },
      timeout: { type: "string", default: "120000" },
      "filter-config": { type: "string" },
      wasm: { type: "string" },
      "open-loop": { type: "boolean", default: false },
      "cold-start": { type: "boolean", default: false },
      "envoy-workers": { type: "string", default: "1" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const fail = (message: string): number => {
    console.error(`bench:routing: ${message}\n\n${USAGE}`);
    return 2;
  };
  const policies = (values.policies ?? DEFAULT_POLICIES.join(","))
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  for (const p of policies) if (!isPolicyName(p)) return fail(`unknown policy "${p}"`);
  const servers = Number(values.servers);
  if (!Number.isInteger(servers) || servers < 1 || servers > 64) return fail("--servers must be an integer in 1..64");
  const envoyWorkers = Number(values["envoy-workers"]);
  if (!Number.isInteger(envoyWorkers) || envoyWorkers < 1 || envoyWorkers > 64) return fail("--envoy-workers must be an integer in 1..64");
  const requests = values.requests === undefined ? undefined : Number(values.requests);
  if (requests !== undefined && (!Number.isInteger(requests) || requests < 1)) return fail("--requests must be a positive integer");
  const seeded = values.seeds === undefined ? null : parseSeeds(values.seeds);
  if (typeof seeded === "string") return fail(seeded);
  if (seeded !== null && values.trace && values.trace.length > 0) return fail("--seeds applies to the built-in traces, not --trace files");
  const seeds = seeded ?? [Number(values.seed)];
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && !(rate > 0)) return fail("--rate must be > 0");
  const load = values.load === undefined ? 1 : Number(values.load);
  if (!(load > 0) || !Number.isFinite(load)) return fail("--load must be a number > 0");
  const realRate = values["real-rate"] === undefined ? DEFAULT_REAL_RATE : Number(values["real-rate"]);
  if (!(realRate > 0) || !Number.isFinite(realRate)) return fail("--real-rate must be a number > 0");

  let filterOverride: Record<string, unknown> | undefined;
  if (values["filter-config"] !== undefined) {
    try {
      filterOverride = JSON.parse(values["filter-config"]) as Record<string, unknown>;
    } catch (err) {
      return fail(`--filter-config is not JSON: ${(err as Error).message}`);
    }
  }
  let sim: Partial<SimConfig> = { ...DEFAULT_BENCH_SIM };
  if (values.sim) sim = loadSimConfigFile(values.sim);
  const fixedTimeScale = values["time-scale"] !== undefined;
  if (fixedTimeScale) {
    const ts = Number(values["time-scale"]);
    if (!(ts > 0) || !Number.isFinite(ts)) return fail("--time-scale must be a number > 0");
    sim = { ...sim, timeScale: ts };
  }

  let traces: TraceSpec[];
  if (values.trace && values.trace.length > 0) {
    // --load compresses a file trace's clock: F times the requests per second.
    traces = values.trace.map((file) => ({
      name: basename(file).replace(/\.jsonl?$/, ""),
      requests: readTrace(file).map((r) => (load === 1 ? r : { ...r, t: r.t / load })),
    }));
    for (const t of traces) t.rate = meanRate(t.requests);
  } else {
    const names = (values.traces ?? ALL_TRACE_NAMES.join(","))
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean);
    for (const n of names) if (!isTraceName(n)) return fail(`unknown trace "${n}"`);
    traces = names.flatMap((name) =>
      seeds.map((seed) => {
        const traceRate = (rate ?? DEFAULT_RATES[name as TraceName]) * load;
        return {
          name: seeded === null ? name : seededName(name, seed),
          rate: traceRate,
          requests: generateTrace(name as TraceName, {
            seed,
            requests: requests ?? defaultRequests(name as TraceName, traceRate),
            rate: traceRate,
            coldStart: values["cold-start"],
          }),
        };
      }),
    );
  }
  if (values.duration !== undefined) {
    const limit = Number(values.duration) * 1000;
    traces = traces.map((t) => ({ ...t, requests: t.requests.filter((r) => r.t < limit) })).filter((t) => t.requests.length > 0);
  }
  if (!fixedTimeScale) {
    const base = sim.timeScale ?? DEFAULT_BENCH_SIM.timeScale ?? 1;
    for (const t of traces) t.timeScale = timeScaleFor(t.rate ?? meanRate(t.requests), base, realRate);
  }
  if (values["save-traces"]) {
    mkdirSync(values["save-traces"], { recursive: true });
    for (const t of traces) writeTrace(join(values["save-traces"], `${t.name}.jsonl`), t.requests);
  }
  if (!findEnvoy()) {
    console.error("bench:routing: no Envoy binary found: run `npm run envoy:install` (or set ENVOY_BIN)");
    return 2;
  }

  const command = `npm run bench:routing -- ${argv.join(" ")}`.trim();
  const runs = await runRoutingBench({
    traces,
    policies: policies as PolicyName[],
    servers,
    sim,
    timeoutMs: Number(values.timeout),
    filterOverride,
    wasmPath: values.wasm ? resolve(values.wasm) : undefined,
    openLoop: values["open-loop"],
    servedLogDir: values["request-log"] ? resolve(values["request-log"]) : undefined,
    envoyWorkers,
  });
  // With --seeds, the goals read the pooled rows (each seed's run is named trace@seed).
  const pooled = seeded === null ? [] : poolSeeds(runs);
  const reported = [...runs, ...pooled];
  const judged = seeded === null ? runs : pooled;
  process.stdout.write("\n" + markdownTable(reported) + "\n" + goalLines(judged.map((r) => r.result)).join("\n") + "\n");
  const files = writeReport(resolve(values.out), reported, { command, servers, sim, openLoop: values["open-loop"] });
  if (values.json) {
    mkdirSync(dirname(resolve(values.json)), { recursive: true });
    writeFileSync(
      values.json,
      JSON.stringify(
        reported.map((r) => r.result),
        null,
        2,
      ) + "\n",
    );
    files.push(values.json);
  }
  console.error(`\nwrote ${files.join(", ")}`);
  const errors = runs.reduce((s, r) => s + r.result.errors, 0);
  if (errors > 0) {
    console.error(`bench:routing: ${errors} request(s) failed`);
    for (const r of runs) for (const e of r.detail.errorSamples) console.error(`  ${r.result.trace} / ${r.result.policy}: ${e}`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`bench:routing: ${(err as Error).stack ?? err}`);
      process.exit(1);
    },
  );
}
