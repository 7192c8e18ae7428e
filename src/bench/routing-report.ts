/**
 * The routing benchmark's report: the Markdown table, the closed loop's
 * figures, the charts and routing.md in the report directory.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import type { SimConfig } from "../sim/config.js";
import { groupedBarChart } from "./routing-charts.js";
import { goalLines, ms, pct } from "./routing-goals.js";
import type { RoutingResult, RoutingRun } from "./routing-types.js";

/** The Markdown table (one row per trace × policy). */
export function markdownTable(runs: RoutingRun[]): string {
  const lines = [
    "| trace | policy | requests | errors | hit rate | TTFT p50 (ms) | p90 | p99 | server TTFT p50 | p90 | p99 | req/s | prefill busy | KV used | max/mean load | filter match | load overrode affinity | eviction horizon (blocks) | unexpected prefill (blocks) | decided again |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const { result: r, detail: d } of runs) {
    const match = d.filterMatchRatio === undefined ? "" : pct(d.filterMatchRatio);
    const guard = d.guardFired === undefined ? "" : String(d.guardFired);
    const horizon =
      d.evictionHorizon === undefined
        ? ""
        : d.evictionHorizon[0] === d.evictionHorizon[1]
          ? String(d.evictionHorizon[0])
          : `${d.evictionHorizon[0]}–${d.evictionHorizon[1]}`;
    const unexpected = d.unexpectedPrefill === undefined ? "" : String(d.unexpectedPrefill);
    const redecided = d.redecided === undefined ? "" : String(d.redecided);
    const busy = r.busy === undefined ? "" : pct(r.busy);
    const kv = r.kvUsage === undefined ? "" : pct(r.kvUsage);
    lines.push(
      `| ${r.trace} | ${r.policy} | ${r.requests} | ${r.errors} | ${pct(r.hitRate)} | ${ms(r.ttftP50Ms)} | ${ms(r.ttftP90Ms)} | ${ms(r.ttftP99Ms)} | ${ms(r.serverTtftP50Ms ?? NaN)} | ${ms(r.serverTtftP90Ms ?? NaN)} | ${ms(r.serverTtftP99Ms ?? NaN)} | ${r.rps.toFixed(1)} | ${busy} | ${kv} | ${d.imbalance.toFixed(2)} | ${match} | ${guard} | ${horizon} | ${unexpected} | ${redecided} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Closed-loop figures per run: replies fed back, turns delayed by the previous turn, mean delay. */
export function loopTable(runs: RoutingRun[]): string {
  const lines = ["| trace | policy | replies fed back | turns delayed | mean delay (model ms) |", "|---|---|---:|---:|---:|"];
  for (const { result: r, detail: d } of runs) {
    const mean = d.loop.delayed > 0 ? d.loop.delayModelMs / d.loop.delayed : 0;
    lines.push(`| ${r.trace} | ${r.policy} | ${d.loop.substituted} | ${d.loop.delayed} | ${mean.toFixed(0)} |`);
  }
  return lines.join("\n") + "\n";
}

export interface ReportContext {
  command: string;
  /** Assistant text as the trace wrote it (--open-loop) instead of the servers' replies. */
  openLoop?: boolean;
  servers: number;
  sim: Partial<SimConfig>;
}

export function machineLine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  return `${availableParallelism()} × ${cpu.trim()}, Node ${process.version}, ${process.platform}`;
}

/** Writes routing.md, routing.json and the SVG charts into `dir`. */
export function writeReport(dir: string, runs: RoutingRun[], ctx: ReportContext): string[] {
  mkdirSync(dir, { recursive: true });
  const traces = [...new Set(runs.map((r) => r.result.trace))];
  const policies = [...new Set(runs.map((r) => r.result.policy))];
  const cell = (t: string, p: string, f: (r: RoutingResult) => number) => {
    const run = runs.find((r) => r.result.trace === t && r.result.policy === p);
    return run ? f(run.result) : NaN;
  };
  const matrix = (f: (r: RoutingResult) => number) => traces.map((t) => policies.map((p) => cell(t, p, f)));
  const files: string[] = [];
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    files.push(join(dir, name));
  };
  write(
    "routing-hit-rate.svg",
    groupedBarChart({
      title: "Prefix-cache hit rate (tokens)",
      unit: "%",
      groups: traces,
      series: policies,
      values: matrix((r) => r.hitRate * 100),
      format: (v) => v.toFixed(0),
    }),
  );
  const ttftChart = (which: string, pick: (r: RoutingResult) => number) =>
    groupedBarChart({
      title: `Time to first token, ${which} (model ms, log scale)`,
      unit: "ms",
      groups: traces,
      series: policies,
      values: matrix(pick),
      log: true,
      format: (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1)),
    });
  write(
    "routing-ttft-p50.svg",
    ttftChart("median", (r) => r.ttftP50Ms),
  );
  write(
    "routing-ttft-p99.svg",
    ttftChart("p99", (r) => r.ttftP99Ms),
  );
  write(
    "routing.json",
    JSON.stringify(
      runs.map((r) => r.result),
      null,
      2,
    ) + "\n",
  );
  const md = [
    "# Routing benchmark",
    "",
    `Command: \`${ctx.command}\``,
    "",
    `Machine: ${machineLine()}; ${ctx.servers} simulated servers, sim config ${JSON.stringify(ctx.sim)}.`,
    "",
    ctx.openLoop
      ? "Replay: open loop (--open-loop): assistant messages as the trace wrote them; every turn at its trace time."
      : "Replay: closed loop: assistant messages that answer an earlier turn of the same session carry the text the server streamed for it; a turn is sent at max(t, its session's previous turn's completion).",
    "",
    markdownTable(runs),
    ...(ctx.openLoop ? [] : ["", loopTable(runs)]),
    ...goalLines(runs.map((r) => r.result)).map((l) => `- ${l}`),
    "",
    "![hit rate](routing-hit-rate.svg) ![TTFT p50](routing-ttft-p50.svg) ![TTFT p99](routing-ttft-p99.svg)",
    "",
    "Errors (first few per run):",
    "",
    ...runs.filter((r) => r.detail.errorSamples.length > 0).map((r) => `- ${r.result.trace} / ${r.result.policy}: ${r.detail.errorSamples.join(" · ")}`),
    "",
  ].join("\n");
  write("routing.md", md);
  return files;
}
