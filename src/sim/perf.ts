// Throughput check of the simulator itself (not of the filter):
//   npx tsx src/sim/perf.ts [--servers 8] [--requests 2000] [--concurrency 64] [--precise]
//
// Starts a pool in this process with a near-zero latency model (timeScale
// 0.0001), sends multi-turn chat requests round-robin (growing conversations
// with shared system prompts, fresh text every turn), and with --precise first
// asks every server /sim/prefix for each request, as the `precise` benchmark
// policy does. Prints requests/s and CPU time per request (client included:
// it runs in the same process, so the server-only cost is lower).

import { Agent, request } from "node:http";
import { parseArgs } from "node:util";
import { SeededRandom } from "./output.js";
import { startSimPool } from "./server.js";
import { clearParsedMemo } from "./prompt.js";
import { clearTokenizerMemo, tokenizerMemoStats } from "./tokenizer.js";

const { values } = parseArgs({
  options: {
    servers: { type: "string", default: "8" },
    requests: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "64" },
    precise: { type: "boolean", default: false },
  },
});
const servers = Number(values.servers);
const total = Number(values.requests);
const concurrency = Number(values.concurrency);

const WORDS =
  "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu river mountain forest ocean cloud stone garden window paper light".split(
    " ",
  );
const random = new SeededRandom(1);
function text(words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[random.int(0, WORDS.length - 1)] + (random.next() < 0.1 ? "." : ""));
  return out.join(" ");
}

const systems = Array.from({ length: 4 }, () => text(600)); // ~1000 tokens each
interface Session {
  messages: { role: string; content: string }[];
}
const sessions: Session[] = Array.from({ length: 200 }, (_, i) => ({ messages: [{ role: "system", content: systems[i % systems.length] }] }));

const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
function post(url: string, path: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: "POST", agent, headers: { "content-type": "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`${res.statusCode} ${Buffer.concat(chunks)}`)),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  clearTokenizerMemo();
  clearParsedMemo();
  const pool = await startSimPool(servers, { timeScale: 0.0001, numGpuBlocks: 8192, maxModelLen: 131072, outputTokensMin: 50, outputTokensMax: 150 });
  let next = 0;
  let promptTokens = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const session = sessions[i % sessions.length];
      session.messages.push({ role: "user", content: text(60) });
      const body = JSON.stringify({ model: "m", messages: session.messages, max_tokens: 100 });
      if (values.precise) await Promise.all(pool.urls.map((u) => post(u, "/sim/prefix?path=/v1/chat/completions", body)));
      const reply = JSON.parse(await post(pool.urls[i % servers], "/v1/chat/completions", body));
      promptTokens += reply.usage.prompt_tokens;
      session.messages.push({ role: "assistant", content: reply.choices[0].message.content });
      if (session.messages.length > 21) session.messages.splice(1, 2); // keep conversations bounded
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const stats = pool.stats();
  const hit =
    stats.reduce((s, x) => s + x.cachedTokens, 0) /
    Math.max(
      1,
      stats.reduce((s, x) => s + x.promptTokens, 0),
    );
  console.log(
    JSON.stringify({
      servers,
      requests: total,
      precise: values.precise,
      seconds: +seconds.toFixed(2),
      rps: +(total / seconds).toFixed(1),
      cpuMsPerRequest: +(cpuMs / total).toFixed(2),
      avgPromptTokens: Math.round(promptTokens / total),
      hitRate: +hit.toFixed(3),
      tokenizerMemo: tokenizerMemoStats(),
    }),
  );
  agent.destroy();
  await pool.close();
}

void main();
