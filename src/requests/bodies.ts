/**
 * OpenAI-style request bodies for tests, benchmarks and the demo: one builder
 * for chat-completions bodies, and deterministic bodies of a given size.
 */

export const DEFAULT_MODEL = "meta-llama/Llama-3.1-8B-Instruct";

/** One chat message as a client sends it; any other fields (content parts, tool_calls…) are kept as given. */
export interface ChatMessage {
  role: string;
  content?: unknown;
}

/** A turn: a string alternates user, assistant, user… by its position; an object is taken as the message. */
export type Turn<M extends ChatMessage = ChatMessage> = string | M;

/**
 * A chat-completions request: `{ model, messages, ...fields }`. `fields` may
 * replace the model (`{ model: "m" }`) and adds anything else (tools,
 * max_tokens, stream…) after the messages, in the order given.
 */
export function chatRequest<M extends ChatMessage>(turns: readonly Turn<M>[], fields: Record<string, unknown> = {}): Record<string, unknown> {
  const messages = turns.map((t, i) => (typeof t === "string" ? { role: i % 2 === 0 ? "user" : "assistant", content: t } : { ...t }));
  return { model: DEFAULT_MODEL, messages, ...fields };
}

/** `chatRequest` as JSON text. */
export function chatBody<M extends ChatMessage>(turns: readonly Turn<M>[], fields: Record<string, unknown> = {}): string {
  return JSON.stringify(chatRequest(turns, fields));
}

/** Deterministic PRNG (a 32-bit LCG): the same seed gives the same bytes on every run. Floats in [0, 1). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// biome-ignore format: a word list, not one word per line
const WORDS = [
  "the", "model", "request", "prefix", "cache", "server", "token", "latency", "Envoy", "route", "block", "hash",
  "quantum", "garden", "river", "compile", "function", "return", "value", "query", "café", "naïve", "日本語", "データ",
  "emoji😀", "\"quoted\"", "back\\slash", "tab\there", "line\nbreak", "{braces}", "[brackets]", "a,b", "x:y", "100%",
];

function sentence(rand: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(rand() * WORDS.length)]);
  return out.join(" ") + ".";
}

/**
 * A realistic multi-turn chat body of about `bytes` UTF-8 bytes: system
 * prompt, tools, alternating user/assistant turns with escapes and
 * non-ASCII text, sampling fields. Deterministic for a given size and seed.
 */
export function sizedChatBody(bytes: number, seed = 1): Uint8Array {
  const rand = lcg(seed + bytes);
  const turns: ChatMessage[] = [{ role: "system", content: `You are a helpful assistant. ${sentence(rand, 30)}` }];
  const fields = {
    tools: [
      {
        type: "function",
        function: { name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { city: { type: "string" } } } },
      },
    ],
    temperature: 0.7,
    max_tokens: 512,
    stream: true,
  };
  const size = () => Buffer.byteLength(JSON.stringify(chatRequest(turns, fields)));
  let turn = 0;
  while (size() < bytes) {
    const remaining = bytes - size();
    const words = Math.max(1, Math.min(200, Math.floor(remaining / 9)));
    turns.push({ role: turn++ % 2 ? "assistant" : "user", content: sentence(rand, words) });
  }
  return new TextEncoder().encode(JSON.stringify(chatRequest(turns, fields)));
}
