/**
 * Data-path overhead benchmark: `npm run bench:overhead -- [options]`.
 *
 * Six Envoys (1.40, one worker each) that differ only in their HTTP filter
 * chain (overhead-setup.ts): plain Envoy, a no-op AssemblyScript filter that
 * buffers the body (and makes the filter's idle scrape callouts, answers
 * unread), llm-picker without and with prefix affinity, and Envoy's
 * ext_proc in buffered and full-duplex mode against a minimal Go ext_proc
 * picker. Each has its own four fast Go upstreams (one process), so request
 * spread and scrape counts are per configuration.
 *
 * Load comes from vegeta (built from the Go module proxy): a constant-rate
 * open loop for latency, which does not hide queueing the way a closed loop
 * does (no coordinated omission), and `-rate 0` with N workers for closed-loop
 * throughput. vegeta keeps every target's body as its own byte slice and
 * sends it through a fresh reader per request, so no body is touched while
 * it is in flight; the upstreams count bodies that arrive as invalid JSON.
 *
 * Rounds are interleaved (round → size → config), and each figure is
 * reported as the median and range over the rounds. Per config and size:
 * latency p50/p99 at --rate, closed-loop req/s, Envoy CPU per request and
 * the ext_proc server's (scheduler run time of all threads from /proc over
 * the closed loop), the filter's decision_time_us p50 (its Envoy histogram over the
 * phase), every non-200 status, and the spread over the upstreams. Per
 * round also an idle window: the Envoy CPU each configuration spends with no
 * traffic, and per scrape for the filter configs with the filter's own part
 * (its scrape_time_us histogram).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startEnvoy, type EnvoyProcess } from "../envoy/process.js";
import { machine, median } from "./parse.js";
import {
  chatBodies,
  CONFIG_NAMES,
  cpuMicros,
  ensureTools,
  envoyConfigFor,
  isConfigName,
  pluginConfigFor,
  startHelper,
  vegetaReport,
  writeTargets,
  type ConfigName,
  type Helper,
} from "./overhead-setup.js";

const HELP = `usage: npm run bench:overhead -- [options]
  --configs LIST      comma-separated, default all: ${CONFIG_NAMES.join(",")}
  --sizes LIST        body sizes in KB, default 2,8,100,220
  --concurrency N     closed-loop connections (default 16)
  --duration S        seconds of each closed-loop phase (default 5)
  --rate R            requests/s of the latency phase (default 100)
  --latency-duration S  seconds of each latency phase (default 5)
  --rounds N          interleaved rounds (default 3)
  --idle S            seconds of the idle (scrape) window per round (default 3; 0 = none)
  --filter-config J   JSON merged into the filter's plugin configuration
  --wasm FILE         the filter module (default build/llm_picker.wasm), e.g. an earlier commit's build
  --json FILE         write [{config,bodyBytes,rps,p50Ms,p99Ms,envoyCpuUsPerReq,extprocCpuUsPerReq,decisionP50Us,non200,scrapeCpuUs,scrapeTimeP50Us}], medians over rounds (the scrape fields: idle window, per configuration)`;

interface VegetaReport {
  latencies: Record<string, number>;
  requests: number;
  throughput: number;
  status_codes: Record<string, number>;
  errors: string[] | null;
}

interface Cell {
  config: ConfigName;
  bodyBytes: number;
  rps: number[];
  p50Ms: number[];
  p99Ms: number[];
  envoyCpuUsPerReq: number[];
  extprocCpuUsPerReq: number[];
  decisionP50Us: number[];
  decisionP50AtRateUs: number[];
  decisionP99AtRateUs: number[];
  decisionP99Us: number[];
  non200: Record<string, number>;
  /** Requests per upstream / mean, lowest and highest, per round. */
  spreadMin: number[];
  spreadMax: number[];
  badBodies: number;
}

interface Running {
  name: ConfigName;
  envoy: EnvoyProcess;
  ports: number[];
  extproc: Helper<unknown> | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function vegeta(bin: string, targets: string, args: string[]): Promise<VegetaReport> {
  return vegetaReport<VegetaReport>(bin, targets, ["-timeout=30s", ...args]);
}

/**
 * Quantiles of one Envoy histogram over the phase that just ended. With
 * stats_flush_on_admin every admin read starts a merge of the workers'
 * histograms, which completes after the reply: a first read closes the
 * phase's interval, the next one (once the merge is done) reports it.
 */
async function histogramInterval(envoy: EnvoyProcess, name: string): Promise<{ p50: number; p99: number } | null> {
  await startInterval(envoy, name);
  await sleep(300);
  const res = await envoy.admin(`/stats?format=json&filter=${encodeURIComponent(name)}`);
  const body = (await res.json()) as {
    stats?: Array<{ histograms?: { supported_quantiles: number[]; computed_quantiles: Array<{ name: string; values: Array<{ interval: number | null }> }> } }>;
  };
  for (const s of body.stats ?? []) {
    const h = s.histograms;
    if (!h) continue;
    const q = h.computed_quantiles.find((c) => c.name.endsWith(name));
    if (!q) continue;
    const at = (p: number) => q.values[h.supported_quantiles.indexOf(p)]?.interval;
    const p50 = at(50);
    const p99 = at(99);
    if (p50 == null || p99 == null) return null;
    return { p50, p99 };
  }
  return null;
}

/** Starts a new histogram interval (see histogramInterval). */
async function startInterval(envoy: EnvoyProcess, name: string): Promise<void> {
  await (await envoy.admin(`/stats?format=json&filter=${encodeURIComponent(name)}`)).text();
}

async function upstreamCounts(adminPort: number): Promise<Record<string, { requests: number; scrapes: number; badBodies: number }>> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/_bench/counts`);
  return (await res.json()) as Record<string, { requests: number; scrapes: number; badBodies: number }>;
}

function addStatuses(into: Record<string, number>, r: VegetaReport): void {
  for (const [code, n] of Object.entries(r.status_codes ?? {})) if (code !== "200") into[code] = (into[code] ?? 0) + n;
}

function range(xs: number[], digits = 1): string {
  const ok = xs.filter((x) => Number.isFinite(x));
  if (ok.length === 0) return "–";
  const f = (x: number) => x.toFixed(digits);
  const lo = Math.min(...ok);
  const hi = Math.max(...ok);
  return ok.length === 1 || lo === hi ? f(median(ok)) : `${f(median(ok))} (${f(lo)}–${f(hi)})`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      configs: { type: "string", default: CONFIG_NAMES.join(",") },
      sizes: { type: "string", default: "2,8,100,220" },
      concurrency: { type: "string", default: "16" },
      duration: { type: "string", default: "5" },
      rate: { type: "string", default: "100" },
      "latency-duration": { type: "string", default: "5" },
      rounds: { type: "string", default: "3" },
      idle: { type: "string", default: "3" },
      "filter-config": { type: "string" },
      wasm: { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const configs = values.configs!.split(",").map((s) => s.trim());
  for (const c of configs) if (!isConfigName(c)) throw new Error(`--configs: unknown configuration "${c}" (known: ${CONFIG_NAMES.join(", ")})`);
  const sizesKb = values.sizes!.split(",").map(Number);
  if (sizesKb.some((k) => !(k > 0))) throw new Error(`--sizes: "${values.sizes}" is not a list of positive KB sizes`);
  const num = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!(n >= min)) throw new Error(`--${name}: "${v}" must be a number ≥ ${min}`);
    return n;
  };
  const concurrency = num("concurrency", values.concurrency!, 1);
  const duration = num("duration", values.duration!, 1);
  const rate = num("rate", values.rate!, 1);
  const latencyDuration = num("latency-duration", values["latency-duration"]!, 1);
  const rounds = num("rounds", values.rounds!, 1);
  const idle = num("idle", values.idle!, 0);
  const filterExtra = values["filter-config"] ? (JSON.parse(values["filter-config"]) as Record<string, unknown>) : {};
  const log = (s: string) => process.stderr.write(`[overhead] ${s}\n`);

  const tools = ensureTools(log);
  const names = configs as ConfigName[];
  const upstream = await startHelper<{ ports: number[]; metricsBytes: number }>(tools.upstream, ["-n", String(4 * names.length + 1)]);
  const benchPort = upstream.info.ports[0]; // counts/reset are answered on any port; port 0 carries no traffic
  const work = mkdtempSync(join(tmpdir(), "llm-picker-overhead-"));
  const running: Running[] = [];
  try {
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const ports = upstream.info.ports.slice(1 + 4 * i, 5 + 4 * i);
      const endpoints = ports.map((p) => `127.0.0.1:${p}`);
      let extproc: Helper<{ bufferedPort: number; fullDuplexPort: number }> | null = null;
      if (name.startsWith("ext_proc")) extproc = await startHelper(tools.extproc, ["-endpoints", endpoints.join(",")]);
      const envoy = await startEnvoy({
        config: envoyConfigFor(name, extproc ? extproc.info : null, values.wasm),
        substitutions: { endpoints, pluginConfig: name === "wasm-noop" ? noopCallouts(endpoints) : pluginConfigFor(name, endpoints, filterExtra) },
        concurrency: 1,
        logLevel: "warn",
      });
      running.push({ name, envoy, ports, extproc });
      log(`${name}: Envoy pid ${envoy.pid} on ${envoy.listenerUrl}${extproc ? `, ext_proc pid ${extproc.child.pid}` : ""}`);
    }
    const targets = new Map<string, string>();
    for (const kb of sizesKb) {
      const bodies = chatBodies(kb * 1024);
      for (const r of running) {
        const file = join(work, `${r.name}-${kb}.json`);
        writeTargets(file, r.envoy.listenerUrl, bodies);
        targets.set(`${r.name}/${kb}`, file);
      }
    }
    const bodyBytes = new Map(sizesKb.map((kb) => [kb, median(chatBodies(kb * 1024).map((b) => b.length))]));
    log(`machine: ${machine()}; metrics page ${upstream.info.metricsBytes} B; ${names.length} configs × ${sizesKb.length} sizes × ${rounds} rounds`);

    // Warm-up: V8 tiers the filter up, connections open, and each filter's index learns the sessions.
    for (const kb of sizesKb)
      for (const r of running)
        await vegeta(tools.vegeta, targets.get(`${r.name}/${kb}`)!, ["-rate=0", `-max-workers=${concurrency}`, `-workers=${concurrency}`, "-duration=1s"]);

    const cells = new Map<string, Cell>();
    const idleCpu = new Map<ConfigName, number[]>();
    const scrapeCpu = new Map<ConfigName, number[]>();
    const scrapeTime = new Map<ConfigName, number[]>();
    for (let round = 0; round < rounds; round++) {
      for (const kb of sizesKb) {
        for (const r of running) {
          const key = `${r.name}/${kb}`;
          const cell = cells.get(key) ?? newCell(r.name, bodyBytes.get(kb)!);
          cells.set(key, cell);
          await measureCell(r, cell, tools.vegeta, targets.get(key)!, benchPort, { rate, latencyDuration, concurrency, duration });
          log(
            `round ${round + 1}/${rounds} ${kb} KB ${r.name}: ${cell.rps.at(-1)!.toFixed(0)} req/s, p50 ${cell.p50Ms.at(-1)!.toFixed(2)} ms, Envoy ${cell.envoyCpuUsPerReq.at(-1)!.toFixed(0)} µs/req`,
          );
        }
      }
      if (idle > 0) await measureIdle(running, benchPort, idle, idleCpu, scrapeCpu, scrapeTime);
    }
    report([...cells.values()], idleCpu, scrapeCpu, scrapeTime, {
      concurrency,
      duration,
      rate,
      latencyDuration,
      rounds,
      metricsBytes: upstream.info.metricsBytes,
    });
    if (values.json) {
      const rows = [...cells.values()].map((c) => ({
        config: c.config,
        bodyBytes: c.bodyBytes,
        rps: median(c.rps),
        p50Ms: median(c.p50Ms),
        p99Ms: median(c.p99Ms),
        envoyCpuUsPerReq: median(c.envoyCpuUsPerReq),
        extprocCpuUsPerReq: c.extprocCpuUsPerReq.length ? median(c.extprocCpuUsPerReq) : null,
        decisionP50Us: c.decisionP50Us.length ? median(c.decisionP50Us) : null,
        non200: Object.values(c.non200).reduce((a, b) => a + b, 0),
        // Idle window, per configuration: Envoy CPU per scrape over plain Envoy, and the filter's own part (p50).
        scrapeCpuUs: scrapeCpu.has(c.config) ? median(everyOther(scrapeCpu.get(c.config)!, 0)) : null,
        scrapeTimeP50Us: scrapeTime.has(c.config) ? median(everyOther(scrapeTime.get(c.config)!, 0)) : null,
      }));
      writeFileSync(values.json, JSON.stringify(rows, null, 2) + "\n");
      log(`wrote ${values.json}`);
    }
  } finally {
    for (const r of running) {
      await r.envoy.stop();
      r.extproc?.stop();
    }
    upstream.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function newCell(config: ConfigName, bodyBytes: number): Cell {
  return {
    config,
    bodyBytes,
    rps: [],
    p50Ms: [],
    p99Ms: [],
    envoyCpuUsPerReq: [],
    extprocCpuUsPerReq: [],
    decisionP50Us: [],
    decisionP50AtRateUs: [],
    decisionP99AtRateUs: [],
    decisionP99Us: [],
    non200: {},
    spreadMin: [],
    spreadMax: [],
    badBodies: 0,
  };
}

interface PhaseOptions {
  rate: number;
  latencyDuration: number;
  concurrency: number;
  duration: number;
}

const DECISION = "decision_time_us";
const SCRAPE = "scrape_time_us";
const isFilter = (c: ConfigName) => c === "filter" || c === "filter-noprefix";

async function measureCell(r: Running, cell: Cell, vegetaBin: string, targets: string, benchPort: number, o: PhaseOptions): Promise<void> {
  await fetch(`http://127.0.0.1:${benchPort}/_bench/reset`, { method: "POST" });
  // Latency at a fixed rate (open loop).
  if (isFilter(r.name)) await startInterval(r.envoy, DECISION);
  const lat = await vegeta(vegetaBin, targets, [`-rate=${o.rate}/1s`, `-duration=${o.latencyDuration}s`]);
  cell.p50Ms.push(lat.latencies["50th"] / 1e6);
  cell.p99Ms.push(lat.latencies["99th"] / 1e6);
  addStatuses(cell.non200, lat);
  if (isFilter(r.name)) {
    const h = await histogramInterval(r.envoy, DECISION);
    if (h) {
      cell.decisionP50AtRateUs.push(h.p50);
      cell.decisionP99AtRateUs.push(h.p99);
    }
  }
  // Throughput and CPU per request (closed loop).
  if (isFilter(r.name)) await startInterval(r.envoy, DECISION);
  const envoyBefore = cpuMicros(r.envoy.pid);
  const extBefore = r.extproc ? cpuMicros(r.extproc.child.pid!) : 0;
  const tput = await vegeta(vegetaBin, targets, ["-rate=0", `-max-workers=${o.concurrency}`, `-workers=${o.concurrency}`, `-duration=${o.duration}s`]);
  const envoyCpu = cpuMicros(r.envoy.pid) - envoyBefore;
  const extCpu = r.extproc ? cpuMicros(r.extproc.child.pid!) - extBefore : 0;
  const ok = Math.max(1, tput.requests);
  cell.rps.push(tput.throughput);
  cell.envoyCpuUsPerReq.push(envoyCpu / ok);
  if (r.extproc) cell.extprocCpuUsPerReq.push(extCpu / ok);
  addStatuses(cell.non200, tput);
  if (isFilter(r.name)) {
    const h = await histogramInterval(r.envoy, DECISION);
    if (h) {
      cell.decisionP50Us.push(h.p50);
      cell.decisionP99Us.push(h.p99);
    }
  }
  const counts = await upstreamCounts(benchPort);
  const per = r.ports.map((p) => counts[String(p)]?.requests ?? 0);
  const mean = per.reduce((a, b) => a + b, 0) / per.length;
  cell.spreadMin.push(mean > 0 ? Math.min(...per) / mean : 0);
  cell.spreadMax.push(mean > 0 ? Math.max(...per) / mean : 0);
  cell.badBodies += r.ports.reduce((a, p) => a + (counts[String(p)]?.badBodies ?? 0), 0);
}

/**
 * No traffic for `seconds`: each Envoy's CPU, and per scrape for the filters
 * (minus plain Envoy's idle CPU), with the filter's own time per scrape
 * (its scrape_time_us histogram: p50, p99 per round).
 */
async function measureIdle(
  running: Running[],
  benchPort: number,
  seconds: number,
  idleCpu: Map<ConfigName, number[]>,
  scrapeCpu: Map<ConfigName, number[]>,
  scrapeTime: Map<ConfigName, number[]>,
): Promise<void> {
  await fetch(`http://127.0.0.1:${benchPort}/_bench/reset`, { method: "POST" });
  for (const r of running) if (isFilter(r.name)) await startInterval(r.envoy, SCRAPE);
  const before = running.map((r) => cpuMicros(r.envoy.pid));
  await sleep(seconds * 1000);
  const after = running.map((r) => cpuMicros(r.envoy.pid));
  const counts = await upstreamCounts(benchPort);
  for (const r of running) {
    if (!isFilter(r.name)) continue;
    const h = await histogramInterval(r.envoy, SCRAPE);
    if (h) scrapeTime.set(r.name, [...(scrapeTime.get(r.name) ?? []), h.p50, h.p99]);
  }
  const base = running.findIndex((r) => r.name === "baseline");
  const baseCpu = base >= 0 ? after[base] - before[base] : 0;
  running.forEach((r, i) => {
    const cpu = after[i] - before[i];
    idleCpu.set(r.name, [...(idleCpu.get(r.name) ?? []), (cpu / (seconds * 1e6)) * 100]);
    const scrapes = r.ports.reduce((a, p) => a + (counts[String(p)]?.scrapes ?? 0), 0);
    if (scrapes > 0) scrapeCpu.set(r.name, [...(scrapeCpu.get(r.name) ?? []), (cpu - baseCpu) / scrapes, scrapes / seconds]);
  });
}

/**
 * wasm-noop makes the filter's idle scrape callouts (same cluster, headers
 * and timeout, every endpoint every IDLE_SCRAPE_MS) and drops the answers
 * unread: its CPU per scrape in the idle window is Envoy's own cost of a
 * callout, the part of a filter scrape the filter cannot remove.
 */
const IDLE_SCRAPE_MS = 500; // the filter's default metrics.idleIntervalMs
function noopCallouts(endpoints: string[]): string {
  return ["model_servers_metrics", String(IDLE_SCRAPE_MS), ...endpoints].join("\n");
}

/** Values at even (start 0) or odd (start 1) positions: the maps above hold pairs per round. */
function everyOther(xs: number[], start: 0 | 1): number[] {
  return xs.filter((_, i) => i % 2 === start);
}

function report(
  cells: Cell[],
  idleCpu: Map<ConfigName, number[]>,
  scrapeCpu: Map<ConfigName, number[]>,
  scrapeTime: Map<ConfigName, number[]>,
  o: { concurrency: number; duration: number; rate: number; latencyDuration: number; rounds: number; metricsBytes: number },
): void {
  const out: string[] = [];
  out.push(`machine: ${machine()}; Envoy --concurrency 1; ${o.rounds} interleaved rounds; median (min–max) over rounds`);
  out.push(`latency: vegeta ${o.rate} req/s for ${o.latencyDuration} s; throughput and CPU: vegeta closed loop, ${o.concurrency} connections, ${o.duration} s`);
  out.push("");
  out.push(
    "| config | body | req/s | p50 ms | p99 ms | Envoy CPU µs/req | ext_proc CPU µs/req | decision p50 µs (load) | decision p50 µs (at rate) | decision p99 µs (load) | decision p99 µs (at rate) | upstream spread min/max of mean | non-200 |",
  );
  out.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
  const sorted = [...cells].sort((a, b) => a.bodyBytes - b.bodyBytes || CONFIG_NAMES.indexOf(a.config) - CONFIG_NAMES.indexOf(b.config));
  for (const c of sorted) {
    const non200 =
      Object.entries(c.non200)
        .map(([k, v]) => `${k === "0" ? "error" : k}: ${v}`)
        .join(", ") || "0";
    const bad = c.badBodies > 0 ? ` (${c.badBodies} corrupted bodies)` : "";
    out.push(
      `| ${c.config} | ${(c.bodyBytes / 1024).toFixed(1)} KB | ${range(c.rps, 0)} | ${range(c.p50Ms, 2)} | ${range(c.p99Ms, 2)} | ${range(c.envoyCpuUsPerReq, 0)} | ${range(c.extprocCpuUsPerReq, 0)} | ${range(c.decisionP50Us, 0)} | ${range(c.decisionP50AtRateUs, 0)} | ${range(c.decisionP99Us, 0)} | ${range(c.decisionP99AtRateUs, 0)} | ${median(c.spreadMin).toFixed(2)}/${median(c.spreadMax).toFixed(2)} | ${non200}${bad} |`,
    );
  }
  out.push("");
  out.push("Added over the same-run baseline (medians): Envoy CPU µs/req, latency p50 / p99 ms, throughput ratio filter / better ext_proc");
  out.push("| body | config | +Envoy CPU µs/req | +CPU incl. ext_proc µs/req | +p50 ms | +p99 ms | req/s vs better ext_proc |");
  out.push("|---:|---|---:|---:|---:|---:|---:|");
  const bySize = new Map<number, Cell[]>();
  for (const c of sorted) bySize.set(c.bodyBytes, [...(bySize.get(c.bodyBytes) ?? []), c]);
  for (const [bytes, cs] of bySize) {
    const base = cs.find((c) => c.config === "baseline");
    if (!base) continue;
    const ext = cs.filter((c) => c.config.startsWith("ext_proc")).map((c) => median(c.rps));
    const bestExt = ext.length ? Math.max(...ext) : NaN;
    for (const c of cs) {
      if (c === base) continue;
      const cpu = median(c.envoyCpuUsPerReq) - median(base.envoyCpuUsPerReq);
      const total = cpu + (c.extprocCpuUsPerReq.length ? median(c.extprocCpuUsPerReq) : 0);
      const vsExt = c.config.startsWith("ext_proc") || !Number.isFinite(bestExt) ? "–" : `${(median(c.rps) / bestExt).toFixed(2)}×`;
      out.push(
        `| ${(bytes / 1024).toFixed(1)} KB | ${c.config} | ${cpu.toFixed(0)} | ${total.toFixed(0)} | ${(median(c.p50Ms) - median(base.p50Ms)).toFixed(2)} | ${(median(c.p99Ms) - median(base.p99Ms)).toFixed(2)} | ${vsExt} |`,
      );
    }
  }
  out.push("");
  out.push(`Idle (no traffic), metrics page ${o.metricsBytes} B: Envoy CPU % of a core; filters: CPU per scrape over plain Envoy's idle CPU, and scrapes/s`);
  for (const [name, xs] of idleCpu) {
    const s = scrapeCpu.get(name);
    const own = scrapeTime.get(name);
    const perScrape = s ? everyOther(s, 0) : [];
    const ownPart = own ? `; the filter's own part (scrape_time_us) p50 ${range(everyOther(own, 0), 0)} µs, p99 ${range(everyOther(own, 1), 0)} µs` : "";
    const what = name === "wasm-noop" ? " (the same callouts, answers unread: Envoy's own cost of a callout)" : "";
    out.push(`- ${name}: ${range(xs, 2)} %${s ? `; ${range(perScrape, 0)} µs per scrape at ${range(everyOther(s, 1), 1)} scrapes/s${what}${ownPart}` : ""}`);
  }
  out.push(
    "(Per scrape is a configuration's idle CPU over plain Envoy's, divided by its scrapes. For the filter: Envoy's own HTTP callout (what wasm-noop's figure is), the filter's part (the page copied into the VM, parsed, published: scrape_time_us, wall time inside the callback) and the lease/health ticks between idle scrapes. `npm run bench:overhead:instructions` splits a scrape into Envoy's callout and the filter's part in instructions.)",
  );
  console.log(out.join("\n"));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
