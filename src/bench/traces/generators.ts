/**
 * Seeded trace generators for the routing benchmark. Each
 * returns a trace in model time (see trace.ts); the same seed and options give
 * the same trace byte for byte. Text is drawn from a vocabulary of common
 * English words (about one Llama 3 token each), so token counts are close to
 * word counts.
 *
 * - multi-turn:     many chat sessions with growing conversations (a few shared system prompts)
 * - system-prompts: few long system prompts (Zipf popularity), many users with short questions
 * - doc-qa:         questions about long documents (the document first, the question last)
 * - agents:         agent loops with a large `tools` array per agent kind, tool calls and results
 */
import type { TraceRequest } from "./trace.js";
import { chatRequest } from "../../requests/bodies.js";

export const TRACE_NAMES = ["multi-turn", "system-prompts", "doc-qa", "agents"] as const;
export type TraceName = (typeof TRACE_NAMES)[number];

export interface GeneratorOptions {
  seed?: number;
  /** Number of requests in the trace. */
  requests?: number;
  /** Mean arrival rate in requests per model second (default per trace). */
  rate?: number;
  /** Model name in the bodies. */
  model?: string;
  /**
   * max_tokens of every request when given. When not given, chat turns ask
   * for as many tokens as the reply the trace writes for them (about one token
   * per word), so a closed-loop replay (routing-sessions.ts) gets replies of
   * the trace's length; agent steps (answered with a tool call) ask for 24.
   */
  maxTokens?: number;
}

/** Default mean rate per trace (requests per model second), chosen so that round robin over 8 default simulated servers is busy but not overloaded. */
export const DEFAULT_RATES: Record<TraceName, number> = {
  "multi-turn": 20,
  "system-prompts": 25,
  "doc-qa": 10,
  agents: 12,
};

const DEFAULT_MODEL = "meta-llama/Llama-3.1-8B-Instruct";

/** Small seeded PRNG (SplitMix32-style mixing); independent of the simulator's. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = (seed >>> 0) ^ 0x9e3779b9;
  }
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  /** Exponential with the given mean. */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }
  /** Index in [0, n) with Zipf(s) popularity (index 0 most popular). */
  zipf(n: number, s = 1): number {
    let total = 0;
    for (let i = 1; i <= n; i++) total += 1 / i ** s;
    let u = this.next() * total;
    for (let i = 1; i <= n; i++) {
      u -= 1 / i ** s;
      if (u <= 0) return i - 1;
    }
    return n - 1;
  }
}

const WORDS = (
  "the of and to in is that for it as with was on be by this are or from at which but have an not they " +
  "one all were there can more when will other their if about what so out up use how each time them these " +
  "many some would into make like him has two see way could people than first water been call who its now " +
  "find long down day did get come made may part over new sound take only little work know place year live " +
  "back give most very after thing our just name good sentence man think say great where help through much " +
  "before line right too mean old any same tell boy follow came want show also around form three small set " +
  "put end does another well large must big even such because turn here why ask went men read need land " +
  "different home us move try kind hand picture again change off play spell air away animal house point page " +
  "letter mother answer found study still learn should world high every near add food between own below " +
  "country plant last school father keep tree never start city earth eye light thought head under story saw " +
  "left few while along might close something seem next hard open example begin life always those both paper " +
  "together got group often run important until children side feet car mile night walk white sea began grow " +
  "took river four carry state once book hear stop without second later miss idea enough eat face watch far " +
  "really almost let above girl sometimes mountain cut young talk soon list song being leave family"
).split(" ");

function words(rng: Rng, n: number): string {
  const out: string[] = [];
  let sentence = 0;
  for (let i = 0; i < n; i++) {
    let w = rng.pick(WORDS);
    if (sentence === 0) w = w[0].toUpperCase() + w.slice(1);
    sentence++;
    if (sentence >= 6 && (rng.next() < 0.15 || i === n - 1)) {
      w += ".";
      sentence = 0;
    }
    out.push(w);
  }
  return out.join(" ");
}

interface Message {
  role: string;
  content: string | null;
  tool_calls?: unknown[];
  tool_call_id?: string;
}

type Resolved = Required<GeneratorOptions> & { explicitMaxTokens: boolean };

/** max_tokens of a chat turn whose reply the trace writes with `replyWords` words. */
function turnMaxTokens(o: Resolved, replyWords: number): number {
  return o.explicitMaxTokens ? o.maxTokens : replyWords;
}

function chatTurn(o: Resolved, messages: Message[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return chatRequest(messages, { model: o.model, max_tokens: o.maxTokens, ...extra });
}

function resolve(name: TraceName, options: GeneratorOptions): Resolved {
  return {
    explicitMaxTokens: options.maxTokens !== undefined,
    seed: options.seed ?? 1,
    requests: options.requests ?? 300,
    rate: options.rate ?? DEFAULT_RATES[name],
    model: options.model ?? DEFAULT_MODEL,
    maxTokens: options.maxTokens ?? 24,
  };
}

/** A session: a start time and a function producing its k-th request body (null when it is over). */
interface Session {
  id: string;
  start: number;
  /** Model ms between a turn and the next (user think time + model time). */
  gap: () => number;
  next: () => Record<string, unknown> | null;
}

/**
 * Sessions arrive as a Poisson process; each emits its turns `gap()` apart
 * until it ends. The session rate is set so that the request rate is about
 * `rate` in steady state. Sessions start `warmupMs` before time 0 and only
 * requests at t >= 0 are kept, so the trace opens in steady state (sessions
 * already under way, as when a router restarts) instead of ramping up; the
 * first `requests` requests are kept.
 */
function fromSessions(o: Resolved, rng: Rng, meanTurns: number, warmupMs: number, makeSession: (id: string, start: number) => Session): TraceRequest[] {
  const sessionGapMs = (1000 * meanTurns) / o.rate;
  const out: TraceRequest[] = [];
  let start = -warmupMs;
  let horizon = Infinity;
  for (let s = 0; ; s++) {
    if (start > horizon) break;
    const session = makeSession(`s${s}`, start);
    let t = session.start;
    for (let body = session.next(); body !== null; body = session.next()) {
      if (t >= 0) out.push({ t, session: session.id, path: "/v1/chat/completions", body });
      t += session.gap();
    }
    // Once enough requests exist, only sessions starting before the
    // requests-th arrival can still contribute.
    if (out.length >= o.requests && horizon === Infinity) {
      horizon = out.map((r) => r.t).sort((a, b) => a - b)[o.requests - 1];
    }
    start += rng.exp(sessionGapMs);
  }
  return out
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.t - b.r.t || a.i - b.i)
    .slice(0, o.requests)
    .map((x) => ({ ...x.r, t: Math.round(x.r.t * 1000) / 1000 }));
}

/**
 * A chat session that grows by one user turn per request (after the reply
 * to the previous one): `turns` requests, `gapMs + exp(gapMs)` apart, user
 * turns of `userWords` words, replies of `replyTokens` tokens.
 */
function growingChat(
  o: Resolved,
  rng: Rng,
  id: string,
  start: number,
  system: string,
  turns: number,
  gapMs: number,
  userWords: [number, number],
  replyTokens: [number, number],
): Session {
  const messages: Message[] = [{ role: "system", content: system }];
  let k = 0;
  let reply = 0;
  return {
    id,
    start,
    gap: () => gapMs + rng.exp(gapMs),
    next: () => {
      if (k >= turns) return null;
      if (k > 0) messages.push({ role: "assistant", content: words(rng, reply) });
      messages.push({ role: "user", content: words(rng, rng.int(userWords[0], userWords[1])) });
      k++;
      reply = rng.int(replyTokens[0], replyTokens[1]);
      return chatTurn(o, messages, { stream: true, max_tokens: turnMaxTokens(o, reply) });
    },
  };
}

function multiTurn(o: Resolved): TraceRequest[] {
  const rng = new Rng(o.seed);
  // Production assistants carry system prompts of several hundred tokens.
  const systems = Array.from({ length: 4 }, (_, i) => `You are assistant number ${i}. ${words(rng, 600)}`);
  return fromSessions(o, rng, 8, 8 * 3000, (id, start) => {
    const turns = rng.int(4, 12);
    return growingChat(o, rng, id, start, rng.pick(systems), turns, 1500, [30, 150], [100, 250]);
  });
}

function systemPrompts(o: Resolved): TraceRequest[] {
  const rng = new Rng(o.seed);
  const systems = Array.from({ length: 16 }, (_, i) => `You are the support assistant of product ${i}. ${words(rng, 1800)}`);
  return fromSessions(o, rng, 1.5, 4000, (id, start) => {
    const system = systems[rng.zipf(systems.length)];
    const turns = rng.next() < 0.5 ? 1 : 2;
    return growingChat(o, rng, id, start, system, turns, 2000, [20, 80], [40, 120]);
  });
}

function docQa(o: Resolved): TraceRequest[] {
  const rng = new Rng(o.seed);
  const docs = Array.from({ length: 16 }, (_, i) => `Document ${i}.\n\n${words(rng, rng.int(2500, 4500))}`);
  return fromSessions(o, rng, 1.5, 4000, (id, start) => {
    const doc = docs[rng.zipf(docs.length, 0.8)];
    const turns = rng.next() < 0.5 ? 1 : 2;
    const messages: Message[] = [{ role: "system", content: "Answer questions about the document the user gives. Quote it when you can." }];
    let k = 0;
    let reply = 0;
    return {
      id,
      start,
      gap: () => 2000 + rng.exp(2000),
      next: () => {
        if (k >= turns) return null;
        if (k === 0) messages.push({ role: "user", content: `${doc}\n\nQuestion: ${words(rng, rng.int(10, 40))}?` });
        else {
          messages.push({ role: "assistant", content: words(rng, reply) });
          messages.push({ role: "user", content: `Follow-up: ${words(rng, rng.int(10, 40))}?` });
        }
        k++;
        reply = rng.int(40, 120);
        return chatTurn(o, messages, { stream: true, max_tokens: turnMaxTokens(o, reply) });
      },
    };
  });
}

function toolSchema(rng: Rng, agent: number, i: number): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const count = rng.int(2, 5);
  for (let p = 0; p < count; p++) {
    properties[`${rng.pick(WORDS)}_${p}`] = { type: rng.pick(["string", "integer", "boolean"]), description: words(rng, rng.int(8, 20)) };
  }
  return {
    type: "function",
    function: {
      name: `agent${agent}_tool_${i}`,
      description: words(rng, rng.int(15, 40)),
      parameters: { type: "object", properties, required: Object.keys(properties).slice(0, 1) },
    },
  };
}

function agents(o: Resolved): TraceRequest[] {
  const rng = new Rng(o.seed);
  const kinds = Array.from({ length: 6 }, (_, a) => ({
    system: `You are agent ${a}. Use the tools to complete the task. ${words(rng, 100)}`,
    tools: Array.from({ length: 40 }, (_, i) => toolSchema(rng, a, i)),
  }));
  return fromSessions(o, rng, 5.5, 5.5 * 1300, (id, start) => {
    const kind = kinds[rng.zipf(kinds.length, 0.5)];
    const steps = rng.int(3, 8);
    const messages: Message[] = [
      { role: "system", content: kind.system },
      { role: "user", content: `Task: ${words(rng, rng.int(30, 100))}` },
    ];
    let k = 0;
    return {
      id,
      start,
      gap: () => 500 + rng.exp(800),
      next: () => {
        if (k >= steps) return null;
        if (k > 0) {
          const tool = rng.pick(kind.tools) as { function: { name: string } };
          const callId = `call_${id}_${k}`;
          messages.push({
            role: "assistant",
            content: null,
            tool_calls: [
              { id: callId, type: "function", function: { name: tool.function.name, arguments: JSON.stringify({ query: words(rng, rng.int(3, 10)) }) } },
            ],
          });
          messages.push({ role: "tool", tool_call_id: callId, content: words(rng, rng.int(80, 300)) });
        }
        k++;
        return chatTurn(o, messages, { tools: kind.tools, stream: true });
      },
    };
  });
}

/** Generates one built-in trace. */
export function generateTrace(name: TraceName, options: GeneratorOptions = {}): TraceRequest[] {
  const o = resolve(name, options);
  switch (name) {
    case "multi-turn":
      return multiTurn(o);
    case "system-prompts":
      return systemPrompts(o);
    case "doc-qa":
      return docQa(o);
    case "agents":
      return agents(o);
  }
}

export function isTraceName(name: string): name is TraceName {
  return (TRACE_NAMES as readonly string[]).includes(name);
}
