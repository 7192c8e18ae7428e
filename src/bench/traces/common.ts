/**
 * What the seeded trace generators share (traces/generators.ts,
 * traces/workloads.ts): options, a small PRNG, English filler text, chat
 * bodies, and sessions arriving as a Poisson process.
 */
import { sortByTime, type TraceRequest } from "./trace.js";
import { chatRequest, DEFAULT_MODEL } from "../../requests/bodies.js";

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
  /**
   * Leave out the warm-up (fromSessions): the trace then opens as after a
   * restart of the whole pool, with sessions under way whose history no
   * server ever computed.
   */
  coldStart?: boolean;
}

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

export const WORDS = (
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

export function words(rng: Rng, n: number): string {
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

export interface Message {
  role: string;
  content: string | null;
  tool_calls?: unknown[];
  tool_call_id?: string;
}

export type Resolved = Required<GeneratorOptions> & { explicitMaxTokens: boolean };

/** max_tokens of a chat turn whose reply the trace writes with `replyWords` words. */
export function turnMaxTokens(o: Resolved, replyWords: number): number {
  return o.explicitMaxTokens ? o.maxTokens : replyWords;
}

export function chatTurn(o: Resolved, messages: Message[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return chatRequest(messages, { model: o.model, max_tokens: o.maxTokens, ...extra });
}

/** Options with their defaults filled in (`rate` and `requests` defaults are per trace). */
export function resolveOptions(options: GeneratorOptions, defaultRate: number, defaultRequests = 300): Resolved {
  return {
    explicitMaxTokens: options.maxTokens !== undefined,
    seed: options.seed ?? 1,
    requests: options.requests ?? defaultRequests,
    rate: options.rate ?? defaultRate,
    model: options.model ?? DEFAULT_MODEL,
    coldStart: options.coldStart ?? false,
    maxTokens: options.maxTokens ?? 24,
  };
}

/** A session: a start time and a function producing its k-th request body (null when it is over). */
export interface Session {
  id: string;
  start: number;
  /** Model ms between a turn and the next (user think time + model time). */
  gap: () => number;
  next: () => Record<string, unknown> | null;
}

/**
 * Sessions arrive as a Poisson process; each emits its turns `gap()` apart
 * until it ends. The session rate is set so that the request rate is about
 * `rate` in steady state. Sessions start `warmupMs` before time 0 and the
 * first `requests` requests at t >= 0 are measured, so the trace opens in
 * steady state (sessions already under way) instead of ramping up.
 * `rateFactor(t)` scales the session arrival rate at model time t (bursts;
 * mean 1 keeps `rate` on average).
 *
 * In steady state the servers have computed the history of every session
 * under way. The trace therefore starts with a warm-up (`warmupRequests`),
 * sent like any request but left out of the figures, and is shifted so that
 * it starts at t = 0. With `coldStart` it has none.
 */
export function fromSessions(
  o: Resolved,
  rng: Rng,
  meanTurns: number,
  warmupMs: number,
  makeSession: (id: string, start: number) => Session,
  rateFactor: (t: number) => number = () => 1,
): TraceRequest[] {
  const sessionGapMs = (1000 * meanTurns) / o.rate;
  const out: TraceRequest[] = [];
  const before: TraceRequest[] = [];
  let start = -warmupMs;
  let horizon = Infinity;
  for (let s = 0; ; s++) {
    if (start > horizon) break;
    const session = makeSession(`s${s}`, start);
    let t = session.start;
    for (let body = session.next(); body !== null; body = session.next()) {
      const request = { t, session: session.id, path: "/v1/chat/completions", body };
      if (t >= 0) out.push(request);
      else before.push(request);
      t += session.gap();
    }
    // Once enough requests exist, only sessions starting before the
    // requests-th arrival can still contribute.
    if (out.length >= o.requests && horizon === Infinity) {
      horizon = out.map((r) => r.t).sort((a, b) => a - b)[o.requests - 1];
    }
    start += rng.exp(sessionGapMs / rateFactor(start));
  }
  const measured = sortByTime(out).slice(0, o.requests);
  const warmup = o.coldStart ? [] : warmupRequests(before, measured);
  const shift = warmup.length > 0 ? -warmup[0].t : 0;
  return [...warmup.map((r) => ({ ...r, warmup: true })), ...measured].map((r) => ({ ...r, t: Math.round((r.t + shift) * 1000) / 1000 }));
}

/**
 * The warm-up of a trace whose sessions began before time 0 (`before`: their
 * requests at t < 0, each session's in turn order): the latest earlier turn
 * of every session the measured requests continue, so a server holds each
 * conversation under way as it would in steady state; and every request in
 * the window those latest turns span at the median, so the pool carries its
 * steady load when measuring starts. Sorted by t.
 */
export function warmupRequests(before: readonly TraceRequest[], measured: readonly TraceRequest[]): TraceRequest[] {
  const continued = new Set(measured.map((r) => r.session));
  const latest = new Map<string, TraceRequest>();
  for (const r of before) if (continued.has(r.session)) latest.set(r.session, r);
  if (latest.size === 0) return [];
  const ages = [...latest.values()].map((r) => -r.t).sort((a, b) => a - b);
  const window = ages[Math.floor(ages.length / 2)];
  const last = new Set(latest.values());
  return sortByTime(before.filter((r) => r.t >= -window || last.has(r)));
}

/**
 * A chat session of `turns` user turns: each turn after the first adds the
 * previous reply (of the drawn length) and the next user message, so every
 * turn extends the last. `userTurn(k)` writes user message k; `replyTokens`
 * bounds each reply's length; `gapMs` is the mean think time between turns.
 */
function chatSession(
  o: Resolved,
  rng: Rng,
  id: string,
  start: number,
  system: string,
  turns: number,
  gapMs: number,
  userTurn: (k: number) => string,
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
      messages.push({ role: "user", content: userTurn(k) });
      k++;
      reply = rng.int(replyTokens[0], replyTokens[1]);
      return chatTurn(o, messages, { stream: true, max_tokens: turnMaxTokens(o, reply) });
    },
  };
}

/**
 * A chat session that grows by one user turn per request (after the reply
 * to the previous one): `turns` requests, `gapMs + exp(gapMs)` apart, user
 * turns of `userWords` words, replies of `replyTokens` tokens.
 */
export function growingChat(
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
  return chatSession(o, rng, id, start, system, turns, gapMs, () => words(rng, rng.int(userWords[0], userWords[1])), replyTokens);
}

/**
 * A conversation about one document: the first user turn carries the whole
 * document and a question, later turns ask follow-ups (so every turn shares
 * the document as its prefix). `gapMs` is the mean think time between turns.
 */
export function documentChat(o: Resolved, rng: Rng, id: string, start: number, doc: string, turns: number, system: string, gapMs: number): Session {
  const question = () => words(rng, rng.int(10, 40));
  return chatSession(o, rng, id, start, system, turns, gapMs, (k) => (k === 0 ? `${doc}\n\nQuestion: ${question()}?` : `Follow-up: ${question()}?`), [40, 120]);
}

/**
 * A chat request as a stateless /v1/responses client sends the same
 * conversation: a leading system message becomes `instructions`, tools lose
 * their `function` wrapper, user messages stay messages, an assistant's text
 * is an assistant message and each of its tool calls a `function_call` item,
 * a tool's answer a `function_call_output` item; `max_tokens` becomes
 * `max_output_tokens`. Other requests are returned as they are.
 */
export function asResponses(r: TraceRequest): TraceRequest {
  const body = r.body;
  if (r.path !== "/v1/chat/completions" || !Array.isArray(body.messages)) return r;
  const { messages, tools, max_tokens, ...rest } = body as { messages: Message[]; tools?: unknown[]; max_tokens?: number } & Record<string, unknown>;
  const first = messages[0];
  const instructions = first?.role === "system" && typeof first.content === "string" ? first.content : undefined;
  const input: Record<string, unknown>[] = [];
  for (const m of instructions !== undefined ? messages.slice(1) : messages) {
    if (m.role === "tool") {
      input.push({ type: "function_call_output", call_id: m.tool_call_id ?? "", output: m.content ?? "" });
      continue;
    }
    if (m.content !== null && m.content !== "") input.push({ role: m.role, content: m.content });
    for (const call of (m.tool_calls ?? []) as Array<{ id: string; function: { name: string; arguments: string } }>) {
      input.push({ type: "function_call", call_id: call.id, name: call.function.name, arguments: call.function.arguments });
    }
  }
  const flatTools = tools?.map((t) => {
    const { function: fn, ...other } = t as { function: Record<string, unknown> } & Record<string, unknown>;
    return { ...other, ...fn };
  });
  return {
    ...r,
    path: "/v1/responses",
    body: {
      ...rest,
      ...(instructions !== undefined ? { instructions } : {}),
      ...(flatTools !== undefined ? { tools: flatTools } : {}),
      input,
      ...(max_tokens !== undefined ? { max_output_tokens: max_tokens } : {}),
    },
  };
}
