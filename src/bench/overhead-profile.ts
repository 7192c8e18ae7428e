/**
 * The filter's own work per request, in the emulator (src/host), on the same
 * bodies bench:overhead sends through Envoy: `tsx src/bench/overhead-profile.ts
 * [--wasm FILE] [--sizes 2,8,100,220] [--requests N] [--loop S]`.
 *
 * Prints, per size, µs per request (best of interleaved rounds) and the host
 * calls per request by name; `--loop S` then keeps sending 8 KB requests for
 * S seconds, for `node --cpu-prof` (build the filter with names first:
 * `npx asc assembly/index.ts --target release --debug --outFile FILE`):
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx src/bench/overhead-profile.ts --wasm FILE --loop 10
 *
 * The pool is a fixed snapshot of four healthy endpoints (the states a
 * scrape would publish), so the request path reads and decodes them as it
 * does in Envoy, without scrape callouts.
 *
 * `--count N` sends 64 + N requests of the first size and nothing else (for
 * instruction counts: see --count below).
 *
 * `--scrape PAGE` (default test/fixtures/metrics/vllm-v1.txt, a 40 KB page
 * shaped like a vLLM V1 server's, as bench:overhead's upstream serves it)
 * times one scrape in the filter instead: a tick's callouts answered with
 * the page (status check, body copy, parse, publish under CAS, health),
 * per scrape, and the parser alone (units-scoring's parseMetrics).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { PROJECT_ROOT } from "../envoy/locate.js";
import { loadUnits } from "../wasm/units.js";
import { ProxyWasmHost } from "../host/index.js";
import { chatBodies, poolSnapshot } from "./overhead-setup.js";
import { CHAT_HEADERS, countCalls, RELEASE_WASM, sendRequest, timeInterleaved } from "./parse.js";

export const PROFILE_ENDPOINTS = ["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003", "127.0.0.1:8004"];

export function profileConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { endpoints: PROFILE_ENDPOINTS.map((address) => ({ address })), snapshot: poolSnapshot(PROFILE_ENDPOINTS), ...extra };
}

const HELP = `usage: tsx src/bench/overhead-profile.ts [options]   (the emulator, not Envoy)
  --wasm FILE          filter module (default build/llm_picker.wasm)
  --sizes LIST         body sizes in KB (default 2,8,100,220): µs and host calls per request
  --requests N         requests per size and round (default 400); with --scrape, scrapes timed
  --filter-config J    JSON merged into the filter's plugin configuration
  --loop S             then send 8 KB requests for S seconds (for node --cpu-prof)
  --count N            send 64 + N requests of the first size and nothing else (for instruction counts)
  --scrape PAGE        time scrapes of PAGE instead of requests ("" for the 40 KB vLLM V1 page)`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      help: { type: "boolean", default: false },
      wasm: { type: "string", default: RELEASE_WASM },
      sizes: { type: "string", default: "2,8,100,220" },
      requests: { type: "string", default: "400" },
      loop: { type: "string", default: "0" },
      "filter-config": { type: "string" },
      scrape: { type: "string" },
      count: { type: "string" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (values.scrape !== undefined) return scrape(values.wasm!, values.scrape || DEFAULT_PAGE, Number(values.requests));
  const extra = values["filter-config"] ? (JSON.parse(values["filter-config"]) as Record<string, unknown>) : {};
  const host = await ProxyWasmHost.create({
    wasm: values.wasm!,
    pluginConfig: JSON.stringify(profileConfig(extra)),
    bufferLimitBytes: 64 << 20,
    logLevel: "warn",
  });
  const n = Number(values.requests);
  const sizes = values.sizes!.split(",").map(Number);
  const headers = CHAT_HEADERS.filter(([k]) => k !== "x-request-id"); // as vegeta sends them: Envoy adds the id
  const sets = sizes.map((kb) => chatBodies(kb * 1024).map((b) => new Uint8Array(b)));
  const fns = sets.map((bodies) => (i: number) => void sendRequest(host, headers, bodies[i % bodies.length]));
  if (values.count !== undefined) {
    // Exactly 64 warm-up requests then `count` more of the first size, nothing else:
    // run twice under valgrind --tool=callgrind with two counts, and the
    // difference of the totals over the difference of the counts is the
    // instructions per request (startup cancels out).
    for (let i = 0; i < 64 + Number(values.count); i++) fns[0](i);
    return;
  }
  const times = timeInterleaved(Math.max(1, Math.floor(n / 4)), n, fns, 5);
  sizes.forEach((kb, k) => {
    const calls = countCalls(host, () => {
      for (let i = 0; i < 64; i++) fns[k](i);
    });
    const per = [...calls]
      .sort()
      .map(([name, c]) => `${name.replace(/^proxy_/, "")} ${(c / 64).toFixed(2)}`)
      .join(", ");
    console.log(`${kb} KB: ${(times[k] / 1000).toFixed(1)} µs/request (emulator, best of 5 interleaved rounds); host calls/request: ${per}`);
  });
  const loopS = Number(values.loop);
  if (loopS > 0) {
    const k = Math.max(0, sizes.indexOf(8));
    const until = Date.now() + loopS * 1000;
    let i = 0;
    while (Date.now() < until) for (let j = 0; j < 100; j++) fns[k](i++);
    console.log(`loop: ${i} requests of ${sizes[k]} KB`);
  }
}

export const DEFAULT_PAGE = resolve(PROJECT_ROOT, "test", "fixtures", "metrics", "vllm-v1.txt");

/** µs of one scrape in the filter (emulator) and of the parser alone, best of 5 rounds. */
async function scrape(wasm: string, pagePath: string, n: number): Promise<void> {
  const page = new Uint8Array(readFileSync(pagePath));
  const config = { endpoints: PROFILE_ENDPOINTS.map((address) => ({ address })), metrics: { intervalMs: 50 } };
  const host = await ProxyWasmHost.create({ wasm, pluginConfig: JSON.stringify(config), logLevel: "warn" });
  let scrapes = 0;
  const round = () => {
    host.advance(50); // one tick: a callout per endpoint
    for (const call of host.pendingHttpCalls()) {
      host.respondToHttpCall(call.token, { status: 200, body: page });
      scrapes++;
    }
  };
  for (let i = 0; i < n; i++) round();
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const before = scrapes;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) round();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1000 / (scrapes - before));
  }
  const units = await loadUnits("scoring");
  let parser = Infinity;
  for (let r = 0; r < 5; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) units.parseMetrics(page);
    parser = Math.min(parser, Number(process.hrtime.bigint() - start) / 1000 / n);
  }
  console.log(
    `scrape of a ${page.length} B page: ${best.toFixed(1)} µs per scrape in the filter (emulator: tick, callout answer, parse, publish, health); parser alone (units-scoring, -O2): ${parser.toFixed(1)} µs`,
  );
  console.log(`parsed: ${units.parseMetrics(page)}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
