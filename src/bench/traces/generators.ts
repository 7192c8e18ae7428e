/**
 * Seeded trace generators for the routing benchmark. Each returns a trace in
 * model time (see trace.ts); the same seed and options give the same trace
 * byte for byte. Text is drawn from a vocabulary of common English words
 * (about one Llama 3 token each), so token counts are close to word counts.
 *
 * - multi-turn:     many chat sessions with growing conversations (a few shared system prompts)
 * - system-prompts: few long system prompts (Zipf popularity), many users with short questions
 * - doc-qa:         questions about long documents (the document first, the question last)
 * - agents:         agent loops with a large `tools` array per agent kind, tool calls and results
 * - the workload classes of traces/workloads.ts: pareto-prompts, shared-prompt,
 *   bursty, rag, long-context, and held-out variants of them (other seeds and
 *   parameters, never used to choose the router's defaults)
 * - held-out-agents-responses: agent loops of other kinds and tool counts,
 *   sent as a stateless /v1/responses client sends them (instructions,
 *   tools, then input items: function calls and their outputs)
 */
import type { TraceRequest } from "./trace.js";
import {
  asResponses,
  chatTurn,
  documentChat,
  fromSessions,
  growingChat,
  resolveOptions,
  Rng,
  words,
  WORDS,
  type GeneratorOptions,
  type Message,
  type Resolved,
} from "./common.js";
import { WORKLOADS, type WorkloadName } from "./workloads.js";

export { Rng, type GeneratorOptions } from "./common.js";

const CLASSIC_NAMES = ["multi-turn", "system-prompts", "doc-qa", "agents"] as const;
type ClassicName = (typeof CLASSIC_NAMES)[number];

/** Built-in traces the router's defaults were measured on. */
export const TRACE_NAMES = [...CLASSIC_NAMES, "pareto-prompts", "shared-prompt", "bursty", "rag", "long-context"] as const;
/** Held-out traces: same classes, other seeds and parameters; reported, never tuned on. */
export const HELD_OUT_NAMES = ["held-out-pareto", "held-out-shared", "held-out-rag-bursty", "held-out-agents-responses"] as const;
export const ALL_TRACE_NAMES = [...TRACE_NAMES, ...HELD_OUT_NAMES] as const;
export type TraceName = (typeof ALL_TRACE_NAMES)[number];

const CLASSIC_RATES: Record<ClassicName, number> = {
  "multi-turn": 72,
  "system-prompts": 75,
  "doc-qa": 28,
  agents: 13,
};

/** Agent traces: kinds of agent (each with its system prompt and tools), tools per kind, steps per task. */
interface AgentParams {
  kinds: number;
  tools: number;
  steps: [number, number];
}
const AGENTS: AgentParams = { kinds: 6, tools: 40, steps: [3, 8] };
const RESPONSES_AGENTS: AgentParams = { kinds: 5, tools: 48, steps: [3, 10] };
/** Seeds of held-out agents are offset so that seed N never reproduces agents' draws. */
const RESPONSES_AGENTS_SALT = 2000;

/**
 * Default mean rate per trace (requests per model second): round robin over
 * 8 default simulated servers (src/bench/routing.ts DEFAULT_BENCH_SIM) keeps
 * their serial prefill 50–80% busy over the arrival window (measured;
 * docs/benchmarks.md "Routing"). `--load F` scales them all, e.g. 0.25 for a
 * lightly loaded pool.
 */
export const DEFAULT_RATES: Record<TraceName, number> = {
  ...CLASSIC_RATES,
  "held-out-agents-responses": 11,
  ...(Object.fromEntries(Object.entries(WORKLOADS).map(([k, w]) => [k, w.rate])) as Record<WorkloadName, number>),
};

/**
 * Model seconds a default-sized trace spans at least: one whole on/off cycle
 * of the bursty traces (6 s) and two or three think times of a chat session,
 * so a fast trace still holds follow-up turns and bursts, not only a slice
 * of first turns.
 */
export const MIN_SPAN_S = 6;

/**
 * Requests per trace by default: the trace's base count (long prompts get
 * fewer so a run stays a few minutes), or more when that would span less
 * than MIN_SPAN_S model seconds at `rate` (default: the trace's own rate).
 */
export function defaultRequests(name: TraceName, rate: number = DEFAULT_RATES[name]): number {
  const base = name in WORKLOADS ? WORKLOADS[name as WorkloadName].requests : 300;
  return Math.max(base, Math.ceil(rate * MIN_SPAN_S));
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
    return documentChat(o, rng, id, start, doc, turns, "Answer questions about the document the user gives. Quote it when you can.", 2000);
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

function agents(o: Resolved, p: AgentParams = AGENTS, seedSalt = 0): TraceRequest[] {
  const rng = new Rng(o.seed + seedSalt);
  const kinds = Array.from({ length: p.kinds }, (_, a) => ({
    system: `You are agent ${a}. Use the tools to complete the task. ${words(rng, 100)}`,
    tools: Array.from({ length: p.tools }, (_, i) => toolSchema(rng, a, i)),
  }));
  const meanSteps = (p.steps[0] + p.steps[1]) / 2;
  return fromSessions(o, rng, meanSteps, meanSteps * 1300, (id, start) => {
    const kind = kinds[rng.zipf(kinds.length, 0.5)];
    const steps = rng.int(p.steps[0], p.steps[1]);
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
  const rate = options.rate ?? DEFAULT_RATES[name];
  const requests = options.requests ?? defaultRequests(name, rate);
  if (name in WORKLOADS) return WORKLOADS[name as WorkloadName].generate(resolveOptions({ ...options, requests }, rate));
  const o = resolveOptions({ ...options, requests }, rate);
  if (name === "held-out-agents-responses") return agents(o, RESPONSES_AGENTS, RESPONSES_AGENTS_SALT).map(asResponses);
  switch (name as ClassicName) {
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
  return (ALL_TRACE_NAMES as readonly string[]).includes(name);
}
