/**
 * Instructions Envoy executes per request, per filter chain: the noise-free
 * companion of bench:overhead's CPU figures on a shared machine.
 * `npm run bench:overhead:instructions -- [--configs LIST] [--sizes LIST] [--requests N]`
 *
 * Each configuration (the same Envoy configs as bench:overhead) runs under
 * valgrind's callgrind with instrumentation off; after a warm-up (V8 tiers
 * the filter up, the index learns the sessions) instrumentation is switched
 * on for exactly N requests sent one at a time, then the totals are dumped:
 * instructions (Ir) per request, the whole Envoy process (workers, main
 * thread, V8). The filter runs with a fixed snapshot of the pool (the same
 * per-request work as with scraping, no scrapes inside the window); a last
 * window with scraping on and no traffic gives instructions per scrape of
 * the upstream's 40 KB vLLM page, in three windows: the filter at its
 * default cadence (idle: a round every 500 ms, ticks every 50 ms), the
 * filter scraping on every 50 ms tick, and wasm-noop making the same
 * callouts every 50 ms and dropping the answers unread (Envoy's own cost of
 * a callout); the last two give the split of a scrape between Envoy and the
 * filter. `--wasm FILE` measures another build of the filter (e.g. an
 * earlier commit's). `--branch-sim` adds valgrind's simulated branch
 * predictor and reports mispredicted branches per request: an instruction
 * count does not see them, and branch-free SIMD code can run more
 * instructions in less time than a branchy loop. `--by-function N` runs
 * the filter built with its function names (`asc --debug`, same code; or
 * the `--wasm` given, which must have them) and prints, for each filter
 * cell, its N hottest AssemblyScript functions by self instructions per
 * request (jit-profile.ts says how the JIT's addresses are named).
 * `--body-class unique|shared-head|repeat` sends that class of chat bodies
 * (overhead-setup.ts classBody; warm-up and window from different bodies)
 * instead of bench:overhead's conversations. Needs
 * valgrind (Debian `valgrind`).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { findEnvoy, PROJECT_ROOT } from "../envoy/locate.js";
import { startEnvoy, type EnvoyProcess } from "../envoy/process.js";
import {
  BODY_CLASSES,
  type BodyClass,
  chatBodies,
  classBody,
  CONFIG_NAMES,
  ensureTools,
  envoyConfigFor,
  isConfigName,
  pluginConfigFor,
  poolSnapshot,
  startHelper,
  vegetaReport,
  writeTargets,
  type ConfigName,
} from "./overhead-setup.js";
import { wasmFunctionProfile } from "./jit-profile.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function vegetaCount(bin: string, targets: string, requests: number, rate: number): Promise<Record<string, number>> {
  // One request at a time at a fixed rate: exactly `requests` requests.
  const seconds = requests / rate;
  return vegetaReport<{ status_codes: Record<string, number> }>(bin, targets, [`-rate=${rate}/1s`, `-duration=${seconds}s`, "-timeout=60s"]).then(
    (r) => r.status_codes,
  );
}

/** Tick of the two split windows (the filter's default metrics.intervalMs). */
const TICK_MS = 50;
/** The idle windows: instructions per scrape, no requests. */
type ScrapeWindow = "scrape" | "scrape-every-tick" | "scrape-noop";
const isScrapeWindow = (name: string): name is ScrapeWindow => name === "scrape" || name === "scrape-every-tick" || name === "scrape-noop";
const SCRAPE_LABELS: Record<ScrapeWindow, string> = {
  scrape: "scrape (filter, idle cadence)",
  "scrape-every-tick": `scrape (filter, a round every ${TICK_MS} ms tick)`,
  "scrape-noop": `callout only (wasm-noop, same callouts every ${TICK_MS} ms, answer unread)`,
};

function callgrind(pid: number, ...args: string[]): void {
  execFileSync("callgrind_control", [...args, String(pid)], { stdio: "ignore" });
}

/**
 * Totals of the last dump written for `prefix` (callgrind writes <prefix>.<n>
 * per dump): Ir, and with --branch-sim the mispredicted branches (Bcm
 * conditional + Bim indirect, from valgrind's simulated predictor).
 */
function lastDump(dir: string, prefix: string): { ir: number; mispredicted: number; file: string } {
  const files = readdirSync(dir)
    .filter((f) => f.startsWith(prefix + "."))
    .sort((a, b) => Number(a.split(".").pop()) - Number(b.split(".").pop()));
  const text = readFileSync(join(dir, files[files.length - 1]), "utf8");
  const events = /^events:\s+(.+)$/m.exec(text)?.[1].trim().split(/\s+/) ?? ["Ir"];
  const totals = /^totals:\s+(.+)$/m.exec(text)?.[1].trim().split(/\s+/).map(Number);
  if (!totals) throw new Error(`no totals in ${files[files.length - 1]}`);
  const of = (e: string) => totals[events.indexOf(e)] ?? 0;
  return { ir: of("Ir"), mispredicted: of("Bcm") + of("Bim"), file: join(dir, files[files.length - 1]) };
}

const HELP = `usage: npm run bench:overhead:instructions -- [options]   (needs valgrind)
  --configs LIST        comma-separated, default baseline,wasm-noop,filter-noprefix,filter
  --sizes LIST          body sizes in KB, default 2,8,100,220
  --requests N          requests counted per cell, sent one at a time after a warm-up (default 200)
  --scrape-seconds S    seconds of each idle scrape window (default 5; 0 = no scrape windows)
  --filter-config J     JSON merged into the filter's plugin configuration
  --wasm FILE           the filter module (default build/llm_picker.wasm)
  --branch-sim          also count mispredicted branches per request (valgrind's branch simulator)
  --by-function N       the filter's N hottest functions by self instructions per request
                        (builds the filter with names unless --wasm is given; it must have them)
  --body-class C        unique | shared-head | repeat: that class of chat bodies instead of conversations`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      help: { type: "boolean", default: false },
      configs: { type: "string", default: "baseline,wasm-noop,filter-noprefix,filter" },
      sizes: { type: "string", default: "2,8,100,220" },
      requests: { type: "string", default: "200" },
      "scrape-seconds": { type: "string", default: "5" },
      "filter-config": { type: "string" },
      wasm: { type: "string" },
      "branch-sim": { type: "boolean", default: false },
      "by-function": { type: "string" },
      "body-class": { type: "string" },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const names = values.configs!.split(",");
  for (const c of names)
    if (!isConfigName(c) || c.startsWith("ext_proc")) throw new Error(`--configs: "${c}" is not one of ${CONFIG_NAMES.slice(0, 4).join(", ")}`);
  const sizes = values.sizes!.split(",").map(Number);
  const n = Number(values.requests);
  const branchSim = values["branch-sim"] === true;
  const extra = values["filter-config"] ? (JSON.parse(values["filter-config"]) as Record<string, unknown>) : {};
  const log = (s: string) => process.stderr.write(`[instructions] ${s}\n`);
  const tools = ensureTools(log);
  const envoyBin = findEnvoy();
  if (!envoyBin) throw new Error("no Envoy binary: run `npm run envoy:install` or set ENVOY_BIN");
  const work = mkdtempSync(join(tmpdir(), "llm-picker-instr-"));
  const byFunction = values["by-function"] === undefined ? 0 : Number(values["by-function"] || 25);
  const bodyClass = values["body-class"];
  if (bodyClass !== undefined && !(BODY_CLASSES as readonly string[]).includes(bodyClass))
    throw new Error(`--body-class: "${bodyClass}" is not one of ${BODY_CLASSES.join(", ")}`);
  let wasm = values.wasm;
  if (byFunction > 0 && wasm === undefined) {
    wasm = join(work, "named.wasm");
    log(`building the filter with names: ${wasm}`);
    execFileSync("npx", ["asc", "assembly/index.ts", "--target", "release", "--debug", "--outFile", wasm], { cwd: PROJECT_ROOT, stdio: "ignore" });
  }
  const profiles: string[] = [];
  const upstream = await startHelper<{ ports: number[] }>(tools.upstream, ["-n", "5"]);
  const endpoints = upstream.info.ports.slice(1).map((p) => `127.0.0.1:${p}`);
  const rows: string[] = [];
  const irPerReq = new Map<string, number>();
  const irPerScrape = new Map<string, number>();
  try {
    const scrapeWindows = values["scrape-seconds"] === "0" ? [] : (["scrape", "scrape-every-tick", "scrape-noop"] as const);
    for (const name of [...names, ...scrapeWindows] as Array<ConfigName | ScrapeWindow>) {
      const config: ConfigName = name === "scrape-noop" ? "wasm-noop" : isScrapeWindow(name) ? "filter" : name;
      const prefix = `callgrind.${name}`;
      const wrapper = join(work, `valgrind-${name}.sh`);
      writeFileSync(
        wrapper,
        `#!/bin/sh\nexec valgrind --tool=callgrind${branchSim ? " --branch-sim=yes" : ""} --instr-atstart=no --callgrind-out-file=${join(work, prefix)}.%p "${envoyBin}" "$@"\n`,
      );
      chmodSync(wrapper, 0o755);
      let plugin: Record<string, unknown> | string | undefined = pluginConfigFor(config, endpoints, extra) as Record<string, unknown> | undefined;
      if (name === "scrape-every-tick")
        plugin = { ...(plugin as Record<string, unknown>), metrics: { cluster: "model_servers_metrics", intervalMs: TICK_MS, idleIntervalMs: TICK_MS } };
      if (name === "scrape-noop") plugin = ["model_servers_metrics", String(TICK_MS), ...endpoints].join("\n");
      if (plugin && !isScrapeWindow(name)) {
        // Fixed pool state instead of scraping: the request path reads and decodes it as usual.
        plugin = { ...(plugin as Record<string, unknown>), snapshot: poolSnapshot(endpoints) };
      }
      let envoy: EnvoyProcess | null = null;
      try {
        envoy = await startEnvoy({
          config: envoyConfigFor(config, null, wasm),
          substitutions: { endpoints, pluginConfig: plugin },
          envoyBin: wrapper,
          logLevel: "warn",
          readyTimeoutMs: 600_000,
        });
        const pid = envoy.pid;
        if (isScrapeWindow(name)) {
          await fetch(`http://127.0.0.1:${upstream.info.ports[0]}/_bench/reset`, { method: "POST" });
          await sleep(2000);
          await fetch(`http://127.0.0.1:${upstream.info.ports[0]}/_bench/reset`, { method: "POST" });
          callgrind(pid, "-i", "on");
          await sleep(Number(values["scrape-seconds"]) * 1000);
          callgrind(pid, "-i", "off");
          const counts = (await (await fetch(`http://127.0.0.1:${upstream.info.ports[0]}/_bench/counts`)).json()) as Record<string, { scrapes: number }>;
          callgrind(pid, "-d");
          const scrapes = Object.values(counts).reduce((a, c) => a + c.scrapes, 0);
          const { ir } = lastDump(work, `${prefix}.${pid}`);
          const per = ir / Math.max(1, scrapes);
          irPerScrape.set(name, per);
          const noop = irPerScrape.get("scrape-noop");
          const every = irPerScrape.get("scrape-every-tick");
          const split = name === "scrape-noop" && every !== undefined ? `filter's own: ${((every - per) / 1000).toFixed(0)} k` : "";
          rows.push(`| ${SCRAPE_LABELS[name]} | 40 KB page | ${scrapes} scrapes | ${(per / 1000).toFixed(0)} k Ir per scrape | ${split} | |`);
          log(
            `${name}: ${scrapes} scrapes, ${(per / 1000).toFixed(0)} k Ir each${noop !== undefined && every !== undefined ? ` (filter's own ${((every - noop) / 1000).toFixed(0)} k)` : ""}`,
          );
          continue;
        }
        for (const kb of sizes) {
          const targets = join(work, `t-${name}-${kb}.json`);
          let warmTargets = targets;
          if (bodyClass === undefined) writeTargets(targets, envoy.listenerUrl, chatBodies(kb * 1024));
          else {
            // Warm-up and window from different bodies (a unique body must not have been seen).
            const kind = bodyClass as BodyClass;
            warmTargets = join(work, `w-${name}-${kb}.json`);
            writeTargets(
              warmTargets,
              envoy.listenerUrl,
              Array.from({ length: Math.max(64, n) }, (_, i) => classBody(kind, 100_000 + i, kb)),
            );
            writeTargets(
              targets,
              envoy.listenerUrl,
              Array.from({ length: n }, (_, i) => classBody(kind, i, kb)),
            );
          }
          await vegetaCount(tools.vegeta, warmTargets, Math.max(64, n), 20); // warm-up
          callgrind(pid, "-i", "on");
          const codes = await vegetaCount(tools.vegeta, targets, n, 20);
          callgrind(pid, "-i", "off");
          callgrind(pid, "-d");
          const { ir, mispredicted, file } = lastDump(work, `${prefix}.${pid}`);
          callgrind(pid, "-z");
          if (byFunction > 0 && wasm !== undefined && config !== "baseline" && config !== "wasm-noop") {
            const profile = wasmFunctionProfile(file, wasm, n);
            profiles.push(
              `${name} ${kb} KB: the filter's wasm ${(profile.jitPerRequest / 1000).toFixed(1)} k Ir per request; self Ir per request by function\n` +
                profile.functions
                  .slice(0, byFunction)
                  .map((f) => `${String(Math.round(f.irPerRequest)).padStart(8)}  ${f.name}`)
                  .join("\n"),
            );
          }
          const per = ir / n;
          irPerReq.set(`${name}/${kb}`, per);
          const base = irPerReq.get(`baseline/${kb}`);
          const added = base !== undefined && name !== "baseline" ? `${((per - base) / 1000).toFixed(0)} k` : "";
          const non200 =
            Object.entries(codes)
              .filter(([c]) => c !== "200")
              .map(([c, k]) => `${c}: ${k}`)
              .join(", ") || "0";
          const branches = branchSim ? ` ${(mispredicted / n / 1000).toFixed(1)} k |` : "";
          rows.push(`| ${name} | ${kb} KB | ${n} | ${(per / 1000).toFixed(0)} k | ${added} |${branches} ${non200} |`);
          log(`${name} ${kb} KB: ${(per / 1000).toFixed(0)} k Ir/request`);
        }
      } finally {
        await envoy?.stop(30_000);
      }
    }
  } finally {
    upstream.stop();
    if (!process.env.KEEP_CALLGRIND) rmSync(work, { recursive: true, force: true });
    else log(`callgrind files kept in ${work}`);
  }
  console.log(`Envoy 1.40 --concurrency 1 under callgrind; instructions of the whole process per request, requests one at a time at 20/s after a warm-up`);
  console.log(
    branchSim
      ? "| config | body | requests | Ir per request | added over baseline | mispredicted branches per request (simulated) | non-200 |\n|---|---:|---:|---:|---:|---:|---|"
      : "| config | body | requests | Ir per request | added over baseline | non-200 |\n|---|---:|---:|---:|---:|---|",
  );
  console.log(rows.join("\n"));
  for (const p of profiles) console.log(`\n${p}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
