/**
 * Traces shaped like the two the routing issue was filed with, written as
 * trace files (not built-in traces): a fixed number of sessions, every one
 * starting inside the trace (so the trace ramps up and down, and no request
 * carries a history its servers were not sent), replayed with --trace.
 *
 *   npx tsx bench/results/routing-v25/issue_traces.ts DIR [seed]
 *
 * pareto.jsonl: 160 sessions, 6 system prompts of 1.2–3 KB with Zipf(1.2)
 *   popularity, 2–10 turns, about 8 requests per second.
 * shared.jsonl: 420 sessions sharing one 6 KB system prompt, 30% of them
 *   with a short tenant suffix, 1–6 turns, about 13 requests per second.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { growingChat, resolveOptions, Rng, words, type Session } from "../../../src/bench/traces/common.js";
import { writeTrace, type TraceRequest } from "../../../src/bench/traces/trace.js";

function sessions(count: number, meanTurns: number, rate: number, rng: Rng, make: (id: string, start: number) => Session): TraceRequest[] {
  const out: TraceRequest[] = [];
  const sessionGapMs = (1000 * meanTurns) / rate;
  let start = 0;
  for (let s = 0; s < count; s++) {
    const session = make(`s${s}`, start);
    let t = start;
    for (let body = session.next(); body !== null; body = session.next()) {
      out.push({ t: Math.round(t * 1000) / 1000, session: session.id, path: "/v1/chat/completions", body });
      t += session.gap();
    }
    start += rng.exp(sessionGapMs);
  }
  return out.sort((a, b) => a.t - b.t);
}

const [dir, seedText] = process.argv.slice(2);
const seed = Number(seedText ?? 1);
mkdirSync(dir, { recursive: true });
const o = resolveOptions({ seed }, 8);

{
  const rng = new Rng(seed);
  const prompts = Array.from({ length: 6 }, (_, i) => `You are assistant ${i} of our product. ${words(rng, rng.int(200, 500))}`);
  const trace = sessions(160, 6, 8, rng, (id, start) =>
    growingChat(o, rng, id, start, prompts[rng.zipf(prompts.length, 1.2)], rng.int(2, 10), 1500, [30, 150], [100, 250]),
  );
  writeTrace(join(dir, "pareto.jsonl"), trace);
}
{
  const rng = new Rng(seed + 1000);
  const system = `You are the assistant of our product. ${words(rng, 1000)}`;
  const tenants = Array.from({ length: 12 }, (_, i) => `\n\nTenant ${i}: ${words(rng, rng.int(10, 30))}`);
  const trace = sessions(420, 3.5, 13, rng, (id, start) => {
    const prompt = rng.next() < 0.3 ? system + rng.pick(tenants) : system;
    return growingChat(o, rng, id, start, prompt, rng.int(1, 6), 1500, [20, 80], [40, 160]);
  });
  writeTrace(join(dir, "shared.jsonl"), trace);
}
