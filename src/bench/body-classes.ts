/**
 * The filter's time per request on three classes of long chat bodies, in
 * the emulator (src/host): what skipping the checks on bytes a body shares
 * with one that already parsed (assembly/request/validated_prefixes.ts)
 * gains or costs on each. `tsx src/bench/body-classes.ts [--wasm A,B]
 * [--kb 220] [--rounds 3]`.
 *
 * - unique: every body differs from its first byte (one-off long prompts);
 * - shared-head: an 8 KB system prompt shared, the rest new each time
 *   (the one class that hashes without gaining);
 * - repeat: 8 bodies cycling (a conversation's turns resend the same bytes).
 *
 * Each round makes a fresh host per build (builds alternated), warms it up
 * with 96 requests so V8 has tiered the filter up, then times 100 requests
 * of each class (µs per request, the emulator's own JavaScript included:
 * compare builds, not absolute figures).
 */
import { parseArgs } from "node:util";
import { ProxyWasmHost } from "../host/index.js";
import { BODY_CLASSES as CLASSES, classBody, poolSnapshot } from "./overhead-setup.js";
import { CHAT_HEADERS, RELEASE_WASM, sendRequest } from "./parse.js";

const HELP = `usage: npm run bench:body-classes -- [options]
  --wasm A,B    filter modules to compare, alternated per round (default build/llm_picker.wasm)
  --kb N        body size in KB (default 220)
  --rounds N    rounds, a fresh host per build each (default 3)`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      wasm: { type: "string", default: RELEASE_WASM },
      kb: { type: "string", default: "220" },
      rounds: { type: "string", default: "3" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const builds = values.wasm!.split(",");
  const kb = Number(values.kb);
  const headers = CHAT_HEADERS.filter(([k]) => k !== "x-request-id");
  const endpoints = ["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003", "127.0.0.1:8004"];
  const config = JSON.stringify({ endpoints: endpoints.map((address) => ({ address })), snapshot: poolSnapshot(endpoints) });
  const results = new Map<string, number[]>();
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const wasm of builds) {
      const host = await ProxyWasmHost.create({ wasm, pluginConfig: config, bufferLimitBytes: 64 << 20, logLevel: "warn" });
      const warm = Array.from({ length: 16 }, (_, i) => new Uint8Array(classBody("unique", 90_000 + i + round * 100, kb)));
      for (let j = 0; j < 6; j++) for (const b of warm) sendRequest(host, headers, b);
      // Class order alternates per round: no class always runs first.
      for (const kind of round % 2 ? [...CLASSES].reverse() : CLASSES) {
        const bodies = Array.from({ length: 120 }, (_, i) => new Uint8Array(classBody(kind, i + round * 1000, kb)));
        for (let i = 0; i < 20; i++) sendRequest(host, headers, bodies[i]);
        const start = process.hrtime.bigint();
        for (let i = 20; i < 120; i++) sendRequest(host, headers, bodies[i]);
        const key = `${wasm} ${kind}`;
        results.set(key, [...(results.get(key) ?? []), Number(process.hrtime.bigint() - start) / 100 / 1000]);
      }
      host.close();
    }
  }
  console.log(`${kb} KB chat bodies, emulator, µs per request per round (min)`);
  for (const [key, us] of results) console.log(`${key.padEnd(48)} ${us.map((x) => x.toFixed(1)).join(" ")} (${Math.min(...us).toFixed(1)})`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
