/**
 * One table over several runs of `npm run bench:routing` (their --json files):
 * `npm run bench:routing:summary -- run-1/routing.json run-2/routing.json`.
 * Every trace × policy on one row with each run's figures side by side
 * ("a / b"), then the routing goals checked on each run (routing.ts
 * goalChecks), first on the client's TTFT, then on the servers' own.
 * `--charts` also writes, next to each JSON file, charts of the servers' own
 * TTFT (routing-server-ttft-p50.svg, routing-server-ttft-p99.svg).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { groupedBarChart } from "./routing-charts.js";
import { goalChecks, ms, pct } from "./routing-goals.js";
import type { RoutingResult } from "./routing.js";

function cell(values: Array<number | undefined>, format: (v: number) => string): string {
  return values.map((v) => (v === undefined || !Number.isFinite(v) ? "–" : format(v))).join(" / ");
}

/** The side-by-side table. */
export function summaryTable(runs: RoutingResult[][]): string {
  const keys: Array<[string, string]> = [];
  for (const run of runs) for (const r of run) if (!keys.some(([t, p]) => t === r.trace && p === r.policy)) keys.push([r.trace, r.policy]);
  const lines = [
    "| trace | policy | prefill busy | hit rate | TTFT p50 (ms) | p90 | p99 | warm p90 | warm p99 | server TTFT p50 | p90 | p99 | max/mean load | overrode affinity | errors |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [trace, policy] of keys) {
    const rs = runs.map((run) => run.find((r) => r.trace === trace && r.policy === policy));
    const f = (pick: (r: RoutingResult) => number | undefined) => rs.map((r) => (r ? pick(r) : undefined));
    lines.push(
      `| ${trace} | ${policy} | ${cell(
        f((r) => r.busy),
        (v) => `${Math.round(v * 100)}%`,
      )} | ${cell(
        f((r) => r.hitRate),
        pct,
      )} | ${cell(
        f((r) => r.ttftP50Ms),
        ms,
      )} | ${cell(
        f((r) => r.ttftP90Ms),
        ms,
      )} | ${cell(
        f((r) => r.ttftP99Ms),
        ms,
      )} | ${cell(
        f((r) => r.warmTtftP90Ms),
        ms,
      )} | ${cell(
        f((r) => r.warmTtftP99Ms),
        ms,
      )} | ${cell(
        f((r) => r.serverTtftP50Ms),
        ms,
      )} | ${cell(
        f((r) => r.serverTtftP90Ms),
        ms,
      )} | ${cell(
        f((r) => r.serverTtftP99Ms),
        ms,
      )} | ${cell(
        f((r) => r.maxMeanLoad),
        (v) => v.toFixed(2),
      )} | ${cell(
        f((r) => r.activations),
        String,
      )} | ${cell(
        f((r) => r.errors),
        String,
      )} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/** The results with the server-side TTFT in place of the client's (for the same goal checks). */
export function serverSide(run: RoutingResult[]): RoutingResult[] {
  return run.map((r) => ({
    ...r,
    ttftP50Ms: r.serverTtftP50Ms ?? NaN,
    ttftP90Ms: r.serverTtftP90Ms ?? NaN,
    ttftP99Ms: r.serverTtftP99Ms ?? NaN,
    // The servers keep no arrival order, so no warm figures on this side.
    warmTtftP90Ms: undefined,
    warmTtftP99Ms: undefined,
  }));
}

/** Goal × trace, met in how many runs ("2/2"), client TTFT then server TTFT. */
export function goalTable(runs: RoutingResult[][]): string {
  const rows = new Map<string, { trace: string; goal: string; client: string[]; server: string[]; clientMet: number; serverMet: number }>();
  runs.forEach((run) => {
    const client = goalChecks(run);
    const server = goalChecks(serverSide(run));
    for (const g of client) {
      const key = `${g.trace}\u0000${g.goal}`;
      const row = rows.get(key) ?? { trace: g.trace, goal: g.goal, client: [], server: [], clientMet: 0, serverMet: 0 };
      row.client.push(g.value);
      if (g.met) row.clientMet++;
      rows.set(key, row);
    }
    for (const g of server) {
      const row = rows.get(`${g.trace}\u0000${g.goal}`);
      if (!row) continue;
      row.server.push(g.value);
      if (g.met) row.serverMet++;
    }
  });
  const lines = ["| trace | goal | client TTFT (runs) | met | server TTFT (runs) | met |", "|---|---|---|---:|---|---:|"];
  for (const r of rows.values()) {
    // A goal with no server-side figure (the tails after the cold start) leaves those cells empty.
    const timed = /p50|p90|p99/.test(r.goal) && r.server.length > 0;
    lines.push(
      `| ${r.trace} | ${r.goal} | ${r.client.join(" · ")} | ${r.clientMet}/${runs.length} | ${timed ? r.server.join(" · ") : ""} | ${timed ? `${r.serverMet}/${runs.length}` : ""} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Server-TTFT charts of one run, written next to its JSON file. */
function writeServerCharts(file: string, run: RoutingResult[]): void {
  const traces = [...new Set(run.map((r) => r.trace))];
  const policies = [...new Set(run.map((r) => r.policy))];
  const values = (f: (r: RoutingResult) => number | undefined) =>
    traces.map((t) => policies.map((p) => f(run.find((r) => r.trace === t && r.policy === p) ?? ({} as RoutingResult)) ?? Number.NaN));
  const format = (v: number) => (v >= 10 ? v.toFixed(0) : v.toFixed(1));
  for (const [name, title, pick] of [
    ["routing-server-ttft-p50.svg", "Server TTFT, median (model ms, log scale)", (r: RoutingResult) => r.serverTtftP50Ms],
    ["routing-server-ttft-p99.svg", "Server TTFT, p99 (model ms, log scale)", (r: RoutingResult) => r.serverTtftP99Ms],
  ] as const) {
    writeFileSync(join(dirname(file), name), groupedBarChart({ title, unit: "ms", groups: traces, series: policies, values: values(pick), log: true, format }));
  }
}

function main(argv: string[]): number {
  const files = argv.filter((a) => !a.startsWith("--"));
  if (files.length === 0 || argv.includes("--help") || argv.includes("-h")) {
    console.log("Usage: npm run bench:routing:summary -- [--charts] RUN.json [RUN.json ...]   (files written by bench:routing --json)");
    return files.length === 0 && !argv.includes("--help") && !argv.includes("-h") ? 2 : 0;
  }
  const runs = files.map((f) => JSON.parse(readFileSync(f, "utf8")) as RoutingResult[]);
  if (argv.includes("--charts")) for (const [i, f] of files.entries()) writeServerCharts(f, runs[i]);
  process.stdout.write(`Runs: ${files.join(", ")}\n\n${summaryTable(runs)}\n${goalTable(runs)}`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exit(main(process.argv.slice(2)));
