/**
 * Workload classes for the routing benchmark, each a seeded generator with
 * parameters, so that the same class can be drawn again with other
 * parameters (the held-out traces):
 *
 * - pareto-prompts: multi-turn chat over a few system prompts whose
 *   popularity is heavy-tailed (Zipf with exponent `alpha`, the discrete
 *   Pareto), the workload where affinity piles sessions onto the servers
 *   that first got the popular prompt;
 * - shared-prompt: one system prompt shared by every session (one product's
 *   assistant), a share of sessions adding a short per-tenant suffix;
 * - bursty: short chats whose session arrivals switch between an "on" rate
 *   and an "off" rate (on/off bursts, same mean rate);
 * - rag: a fixed system prompt, then k documents drawn from a shared pool
 *   (Zipf popularity, most relevant first), then the question;
 * - long-context: a mix of long documents (8–28k tokens) with questions
 *   and follow-ups, and short chats.
 */
import type { TraceRequest } from "./trace.js";
import { chatTurn, documentChat, fromSessions, growingChat, Rng, turnMaxTokens, words, type Message, type Resolved, type Session } from "./common.js";

export interface ChatParams {
  /** Distinct system prompts and their length in words. */
  prompts: number;
  promptWords: [number, number];
  /** Zipf exponent of prompt popularity (0: uniform). */
  alpha: number;
  turns: [number, number];
  userWords: [number, number];
  replyTokens: [number, number];
  /** Mean model ms between turns (think time; exponential on top of a fixed part). */
  gapMs: number;
}

export interface SharedParams {
  promptWords: number;
  /** Share of sessions that add a tenant suffix to the shared prompt. */
  tenantShare: number;
  tenants: number;
  turns: [number, number];
}

export interface BurstParams {
  /** Model ms of each "on" and "off" period. */
  onMs: number;
  offMs: number;
  /** Session arrival rate during "on", as a multiple of the mean (off gets what keeps the mean). */
  onFactor: number;
}

export interface RagParams {
  docs: number;
  docWords: [number, number];
  alpha: number;
  perRequest: [number, number];
  turns: [number, number];
}

export interface LongParams {
  docs: number;
  docWords: [number, number];
  alpha: number;
  turns: [number, number];
  /** Share of sessions that are short chats instead of long documents. */
  shortShare: number;
}

/** On/off session-rate factor with mean 1 over a period. */
export function onOff(b: BurstParams): (t: number) => number {
  const period = b.onMs + b.offMs;
  const offFactor = Math.max(0, (period - b.onFactor * b.onMs) / b.offMs);
  return (t: number) => {
    const phase = ((t % period) + period) % period;
    return phase < b.onMs ? b.onFactor : Math.max(0.05, offFactor);
  };
}

const meanOf = (r: [number, number]) => (r[0] + r[1]) / 2;

function paretoChat(o: Resolved, p: ChatParams, seedSalt: number, burst?: BurstParams): TraceRequest[] {
  const rng = new Rng(o.seed + seedSalt);
  const systems = Array.from(
    { length: p.prompts },
    (_, i) => `You are the assistant of service ${i}. ${words(rng, rng.int(p.promptWords[0], p.promptWords[1]))}`,
  );
  return fromSessions(
    o,
    rng,
    meanOf(p.turns),
    meanOf(p.turns) * 2 * p.gapMs,
    (id, start) =>
      growingChat(o, rng, id, start, systems[rng.zipf(systems.length, p.alpha)], rng.int(p.turns[0], p.turns[1]), p.gapMs, p.userWords, p.replyTokens),
    burst ? onOff(burst) : undefined,
  );
}

function sharedPrompt(o: Resolved, p: SharedParams, seedSalt: number): TraceRequest[] {
  const rng = new Rng(o.seed + seedSalt);
  const system = `You are the assistant of one product, used by all of its customers. ${words(rng, p.promptWords)}`;
  const tenants = Array.from({ length: p.tenants }, (_, i) => `\n\nCustomer ${i}: ${words(rng, rng.int(10, 30))}`);
  return fromSessions(o, rng, meanOf(p.turns), meanOf(p.turns) * 4000, (id, start) => {
    const prompt = rng.next() < p.tenantShare ? system + tenants[rng.int(0, tenants.length - 1)] : system;
    return growingChat(o, rng, id, start, prompt, rng.int(p.turns[0], p.turns[1]), 2000, [15, 60], [40, 120]);
  });
}

function rag(o: Resolved, p: RagParams, seedSalt: number, burst?: BurstParams): TraceRequest[] {
  const rng = new Rng(o.seed + seedSalt);
  const system = `Answer with the documents below; cite them by number. ${words(rng, 120)}`;
  const docs = Array.from({ length: p.docs }, (_, i) => `[${i}] ${words(rng, rng.int(p.docWords[0], p.docWords[1]))}`);
  return fromSessions(
    o,
    rng,
    meanOf(p.turns),
    meanOf(p.turns) * 4000,
    (id, start): Session => {
      const k = rng.int(p.perRequest[0], p.perRequest[1]);
      const chosen: number[] = [];
      for (let guard = 0; chosen.length < k && guard < 100; guard++) {
        const d = rng.zipf(docs.length, p.alpha);
        if (!chosen.includes(d)) chosen.push(d);
      }
      const context = chosen.map((d) => docs[d]).join("\n\n");
      const turns = rng.int(p.turns[0], p.turns[1]);
      const messages: Message[] = [{ role: "system", content: system }];
      let n = 0;
      let reply = 0;
      return {
        id,
        start,
        gap: () => 2000 + rng.exp(2000),
        next: () => {
          if (n >= turns) return null;
          if (n === 0) messages.push({ role: "user", content: `Documents:\n\n${context}\n\nQuestion: ${words(rng, rng.int(8, 30))}?` });
          else {
            messages.push({ role: "assistant", content: words(rng, reply) });
            messages.push({ role: "user", content: `${words(rng, rng.int(8, 30))}?` });
          }
          n++;
          reply = rng.int(40, 120);
          return chatTurn(o, messages, { stream: true, max_tokens: turnMaxTokens(o, reply) });
        },
      };
    },
    burst ? onOff(burst) : undefined,
  );
}

function longContext(o: Resolved, p: LongParams, seedSalt: number): TraceRequest[] {
  const rng = new Rng(o.seed + seedSalt);
  const docs = Array.from({ length: p.docs }, (_, i) => `Report ${i}.\n\n${words(rng, rng.int(p.docWords[0], p.docWords[1]))}`);
  const chatSystem = `You are a helpful assistant. ${words(rng, 300)}`;
  return fromSessions(o, rng, meanOf(p.turns), meanOf(p.turns) * 6000, (id, start): Session => {
    if (rng.next() < p.shortShare) return growingChat(o, rng, id, start, chatSystem, rng.int(p.turns[0], p.turns[1]), 3000, [20, 80], [40, 120]);
    const doc = docs[rng.zipf(docs.length, p.alpha)];
    const turns = rng.int(p.turns[0], p.turns[1]);
    return documentChat(o, rng, id, start, doc, turns, "Read the report the user gives and answer precisely.", 3000);
  });
}

export interface Workload {
  /** Default mean rate, requests per model second. */
  rate: number;
  /** Default requests per trace. */
  requests: number;
  generate: (o: Resolved) => TraceRequest[];
}

const PARETO: ChatParams = { prompts: 6, promptWords: [400, 900], alpha: 1.2, turns: [2, 10], userWords: [20, 100], replyTokens: [60, 200], gapMs: 1500 };
const SHARED: SharedParams = { promptWords: 1000, tenantShare: 0.3, tenants: 12, turns: [1, 6] };
const BURSTY_CHAT: ChatParams = { prompts: 4, promptWords: [300, 500], alpha: 1.0, turns: [1, 4], userWords: [20, 80], replyTokens: [40, 150], gapMs: 1500 };
const BURSTS: BurstParams = { onMs: 3000, offMs: 3000, onFactor: 1.8 };
const RAG: RagParams = { docs: 80, docWords: [150, 350], alpha: 1.1, perRequest: [3, 5], turns: [1, 2] };
const LONG: LongParams = { docs: 6, docWords: [7000, 24000], alpha: 1.0, turns: [1, 3], shortShare: 0.3 };

/** Seeds of the held-out traces are offset so that seed N never reproduces a tuned trace's draws. */
const HELD_OUT_SALT = 1000;

export const WORKLOADS = {
  "pareto-prompts": { rate: 130, requests: 400, generate: (o: Resolved) => paretoChat(o, PARETO, 0) },
  "shared-prompt": { rate: 230, requests: 400, generate: (o: Resolved) => sharedPrompt(o, SHARED, 0) },
  bursty: { rate: 240, requests: 400, generate: (o: Resolved) => paretoChat(o, BURSTY_CHAT, 0, BURSTS) },
  rag: { rate: 50, requests: 400, generate: (o: Resolved) => rag(o, RAG, 0) },
  "long-context": { rate: 8, requests: 80, generate: (o: Resolved) => longContext(o, LONG, 0) },
  "held-out-pareto": {
    rate: 110,
    requests: 400,
    generate: (o: Resolved) =>
      paretoChat(
        o,
        { prompts: 10, promptWords: [350, 800], alpha: 1.0, turns: [1, 8], userWords: [10, 120], replyTokens: [40, 240], gapMs: 2000 },
        HELD_OUT_SALT,
      ),
  },
  "held-out-shared": {
    rate: 280,
    requests: 400,
    generate: (o: Resolved) => sharedPrompt(o, { promptWords: 1400, tenantShare: 0.5, tenants: 25, turns: [1, 4] }, HELD_OUT_SALT),
  },
  "held-out-rag-bursty": {
    rate: 40,
    requests: 400,
    generate: (o: Resolved) =>
      rag(o, { docs: 120, docWords: [200, 450], alpha: 0.9, perRequest: [2, 6], turns: [1, 3] }, HELD_OUT_SALT, { onMs: 2000, offMs: 4000, onFactor: 2.2 }),
  },
} satisfies Record<string, Workload>;

export type WorkloadName = keyof typeof WORKLOADS;
