/**
 * fast-check generators for the filter-level fuzz (test/host/fuzz.test.ts):
 * well-formed OpenAI bodies of the three APIs, a renderer with formatting
 * variants (pretty-printed, escaped keys, \u-escaped text, decoy duplicate
 * keys), request paths with their expected API, and body chunkings as Envoy
 * may deliver them. Byte mutations live in test/support/mutators.ts.
 */
import fc from "fast-check";

export type ApiName = "completions" | "chat_completions" | "responses";
/** What the filter's path rule (assembly/request/api.ts) gives for a request. */
export type PathClass = ApiName | "by_shape" | "not_inference";

/** The field each API requires (its missing_field param on a wrong-API body). */
export const REQUIRED_FIELD: Record<ApiName, string> = { completions: "prompt", chat_completions: "messages", responses: "input" };

const enc = new TextEncoder();

// ---- text and scalars -------------------------------------------------------

/** Text as clients send it: ASCII, accents, CJK, emoji (surrogate pairs), escapes, control characters, lone surrogates. */
export const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "\u0000", "a\u0000b", "\ud83d\ude00", 'é\n\t"\\/', "日本語", "\ud800", "\u2028\u2029", "\u007f\u0080") },
);
const nonEmptyText = text.filter((s) => s.length > 0);
const modelName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("meta-llama/Llama-3.1-8B-Instruct", "gpt-4o", "qwen", "lora-adapter-1", "") },
  { weight: 1, arbitrary: text },
);
const tokenId = fc.oneof(fc.nat({ max: 200000 }), fc.constantFrom(0, 4294967295, 128000));
const tokenIds = fc.array(tokenId, { minLength: 1, maxLength: 8 });
/** Any JSON value (for raw fields: tools' schemas, kwargs, unknown fields). */
export const anyJson = fc.jsonValue({ maxDepth: 3 });

/** A record where every key is optional except `required`. */
function body<T extends Record<string, fc.Arbitrary<unknown>>>(model: T, required: (keyof T)[]) {
  return fc.record(model, { requiredKeys: required as any });
}

// vLLM / OpenAI sampling parameters the filter forwards untouched.
const sampling = {
  stream: fc.boolean(),
  stream_options: fc.record({ include_usage: fc.boolean() }),
  temperature: fc.oneof(fc.double({ min: 0, max: 2, noNaN: true }), fc.constant(0.7)),
  top_p: fc.double({ min: 0, max: 1, noNaN: true }),
  top_k: fc.integer({ min: -1, max: 100 }),
  max_tokens: fc.nat({ max: 4096 }),
  seed: fc.integer(),
  n: fc.integer({ min: 1, max: 4 }),
  stop: fc.oneof(text, fc.array(text, { maxLength: 3 })),
  guided_json: anyJson,
  cache_salt: text,
  user: text,
  extra_field: anyJson,
};

// ---- completions --------------------------------------------------------------

export const completionsBody = body(
  {
    model: modelName,
    prompt: fc.oneof(nonEmptyText, fc.array(text, { minLength: 1, maxLength: 3 }), tokenIds, fc.array(tokenIds, { minLength: 1, maxLength: 3 })),
    echo: fc.boolean(),
    logprobs: fc.nat({ max: 5 }),
    suffix: text,
    ...sampling,
  },
  ["model", "prompt"],
);

// ---- chat completions ---------------------------------------------------------

const textPart = fc.record({ type: fc.constant("text"), text });
const imagePart = fc.record({
  type: fc.constant("image_url"),
  image_url: fc.record({ url: fc.webUrl(), detail: fc.constantFrom("auto", "low", "high") }, { requiredKeys: ["url"] }),
});
const audioPart = fc.record({
  type: fc.constant("input_audio"),
  input_audio: fc.record({ data: fc.base64String({ maxLength: 40 }), format: fc.constantFrom("wav", "mp3") }),
});
const videoPart = fc.record({ type: fc.constant("video_url"), video_url: fc.record({ url: fc.webUrl() }) });
const filePart = fc.record({
  type: fc.constant("file"),
  file: fc.record({ file_id: text, file_data: fc.base64String({ maxLength: 40 }), filename: text }, { requiredKeys: [] }),
});
const unknownPart = fc.record({ type: fc.constantFrom("x_custom", "refusal", "input_text", ""), payload: anyJson }, { requiredKeys: ["type"] });
const part = fc.oneof({ weight: 4, arbitrary: textPart }, imagePart, audioPart, videoPart, filePart, unknownPart);

const toolCall = fc.record({
  id: text,
  type: fc.constant("function"),
  function: fc.record({ name: text, arguments: anyJson.map((v) => JSON.stringify(v)) }),
});
const message = fc.oneof(
  fc.record(
    { role: fc.constantFrom("system", "developer"), content: fc.oneof(text, fc.array(textPart, { maxLength: 2 })), name: text },
    { requiredKeys: ["role", "content"] },
  ),
  fc.record({ role: fc.constant("user"), content: fc.oneof(text, fc.array(part, { maxLength: 4 })), name: text }, { requiredKeys: ["role", "content"] }),
  fc.record(
    {
      role: fc.constant("assistant"),
      content: fc.oneof(text, fc.constant(null)),
      tool_calls: fc.array(toolCall, { maxLength: 2 }),
      name: text,
      reasoning_content: text,
    },
    { requiredKeys: ["role"] },
  ),
  fc.record({ role: fc.constant("tool"), tool_call_id: text, content: fc.oneof(text, fc.array(textPart, { maxLength: 2 })) }),
  fc.record({ role: fc.constantFrom("function", "critic", ""), content: text, extra: anyJson }, { requiredKeys: ["role"] }),
);
const tool = fc.record({
  type: fc.constant("function"),
  function: fc.record(
    { name: text, description: text, parameters: fc.oneof(anyJson, fc.constant({ type: "object", properties: { q: { type: "string" } }, required: ["q"] })) },
    { requiredKeys: ["name"] },
  ),
});

export const chatCompletionsBody = body(
  {
    model: modelName,
    messages: fc.array(message, { minLength: 1, maxLength: 6 }),
    tools: fc.array(tool, { maxLength: 3 }),
    tool_choice: fc.oneof(fc.constantFrom("auto", "none", "required"), fc.record({ type: fc.constant("function"), function: fc.record({ name: text }) })),
    documents: fc.array(fc.record({ title: text, text }), { maxLength: 2 }),
    chat_template: text,
    chat_template_kwargs: fc.record({ enable_thinking: fc.boolean(), custom: anyJson }, { requiredKeys: [] }),
    add_generation_prompt: fc.boolean(),
    continue_final_message: fc.boolean(),
    return_assistant_tokens_mask: fc.boolean(),
    response_format: fc.record({ type: fc.constantFrom("text", "json_object") }),
    max_completion_tokens: fc.nat({ max: 4096 }),
    logit_bias: fc.dictionary(fc.nat().map(String), fc.integer({ min: -100, max: 100 }), { maxKeys: 2 }),
    ...sampling,
  },
  ["model", "messages"],
);

// ---- responses ------------------------------------------------------------------

const inputContent = fc.oneof(fc.record({ type: fc.constant("input_text"), text }), fc.record({ type: fc.constant("input_image"), image_url: fc.webUrl() }));
const inputItem = fc.oneof(
  fc.record({ role: fc.constantFrom("user", "system", "developer", "assistant"), content: fc.oneof(text, fc.array(inputContent, { maxLength: 3 })) }),
  fc.record({ type: fc.constant("function_call"), call_id: text, name: text, arguments: anyJson.map((v) => JSON.stringify(v)) }),
  fc.record({ type: fc.constant("function_call_output"), call_id: text, output: text }),
  fc.record({ type: fc.constant("x_unknown"), anything: anyJson }),
  fc.record({
    type: fc.constantFrom("reasoning", "web_search_call", "custom_tool_call_output"),
    summary: fc.array(fc.record({ type: fc.constant("summary_text"), text })),
  }),
  // role and type of any JSON kind (the parser reads them only as strings, skips anything else)
  fc.record({ role: anyJson, type: anyJson, content: text }),
);
export const responsesBody = body(
  {
    model: modelName,
    input: fc.oneof(nonEmptyText, fc.array(inputItem, { minLength: 1, maxLength: 4 })),
    instructions: text,
    tools: fc.array(fc.record({ type: fc.constant("function"), name: text, parameters: anyJson }), { maxLength: 2 }),
    previous_response_id: text,
    store: fc.boolean(),
    reasoning: fc.record({ effort: fc.constantFrom("low", "medium", "high") }),
    max_output_tokens: fc.nat({ max: 4096 }),
    ...sampling,
  },
  ["model", "input"],
);

/** A well-formed body of a random API, tagged with it. */
export const wellFormedBody: fc.Arbitrary<{ api: ApiName; value: Record<string, unknown> }> = fc.oneof(
  completionsBody.map((value) => ({ api: "completions" as const, value })),
  chatCompletionsBody.map((value) => ({ api: "chat_completions" as const, value })),
  responsesBody.map((value) => ({ api: "responses" as const, value })),
);

// ---- rendering ----------------------------------------------------------------------

/** How a JSON document is written out. All styles give the same document to JSON.parse. */
export interface Style {
  /** Indentation (0 = compact). */
  indent: number;
  /** Write non-ASCII and some ASCII characters as \uXXXX escapes. */
  escapeText: boolean;
  /** Write keys with \u escapes ("\u006dodel"). */
  escapeKeys: boolean;
  /** Before each top-level key, a decoy occurrence of the same key with another value (the last wins). */
  decoys: boolean;
}

export const style: fc.Arbitrary<Style> = fc.record({
  indent: fc.constantFrom(0, 0, 0, 1, 2, 4),
  escapeText: fc.boolean(),
  escapeKeys: fc.boolean(),
  decoys: fc.boolean(),
});
export const COMPACT: Style = { indent: 0, escapeText: false, escapeKeys: false, decoys: false };

function stringLiteral(s: string, escapeAll: boolean): string {
  if (!escapeAll) return JSON.stringify(s);
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c < 0x20 || c > 0x7e || c === 0x2f) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += s[i];
  }
  return out + '"';
}

/** Values that decoys take: every JSON kind, including the wrong ones (the last occurrence decides). */
const DECOYS = ['"decoy"', "42", "null", "true", "[1,[2]]", '{"model":5}', "1e999"];

/** Renders `v` in `st`. `depth` 0 is the top-level object. */
export function render(v: unknown, st: Style, depth = 0, seed = 0): string {
  const nl = st.indent ? "\n" + " ".repeat(st.indent * (depth + 1)) : "";
  const close = st.indent ? "\n" + " ".repeat(st.indent * depth) : "";
  const sep = st.indent ? ": " : ":";
  if (v === null || typeof v === "boolean") return String(v);
  if (typeof v === "number") return JSON.stringify(v); // NaN/Infinity → null, as a client's JSON.stringify
  if (typeof v === "string") return stringLiteral(v, st.escapeText);
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return "[" + v.map((x) => nl + render(x, st, depth + 1, seed)).join(",") + close + "]";
  }
  if (typeof v === "object") {
    const entries = Object.entries(v as object).filter(([, x]) => x !== undefined);
    if (entries.length === 0) return "{}";
    const items: string[] = [];
    entries.forEach(([k, x], i) => {
      const key =
        st.escapeKeys && k.length > 0
          ? '"\\u' + k.charCodeAt(0).toString(16).padStart(4, "0") + stringLiteral(k.slice(1), st.escapeText).slice(1)
          : stringLiteral(k, st.escapeText);
      if (st.decoys && depth === 0) items.push(nl + key + sep + DECOYS[(seed + i) % DECOYS.length]);
      items.push(nl + key + sep + render(x, st, depth + 1, seed));
    });
    return "{" + items.join(",") + close + "}";
  }
  return "null";
}

// ---- wrong types ------------------------------------------------------------------

/** JSON kinds, as literals, to put where another kind is expected. */
export const KIND_LITERALS = { string: '"s"', number: "7", bool: "false", array: '["a"]', object: '{"a":1}' } as const;
export type Kind = keyof typeof KIND_LITERALS;

// ---- paths ----------------------------------------------------------------------------

const PATHS: [string, PathClass][] = [
  ["/v1/completions", "completions"],
  ["/v1/chat/completions", "chat_completions"],
  ["/v1/responses", "responses"],
  ["/openai/v1/chat/completions", "chat_completions"],
  ["/openai/v1/completions", "completions"],
  ["/openai/v1/responses", "responses"],
  ["/v1/chat/completions/", "chat_completions"],
  ["/v1/completions?api-version=2024-10-21", "completions"],
  ["/llm/team-a/v1/responses#frag", "responses"],
  ["/", "by_shape"],
  ["/?x=1", "by_shape"],
  ["/v1/models", "not_inference"],
  ["/health", "not_inference"],
  ["/metrics", "not_inference"],
  ["/v1/embeddings", "not_inference"],
  ["/v1/responses/resp_1/cancel", "not_inference"],
  ["/chat/completions", "not_inference"],
  ["/v1/chat/completionsX", "not_inference"],
  ["/V1/completions", "not_inference"],
  ["/v1//completions", "not_inference"],
];

/** The path of a well-formed body of `api`, as clients write it. */
export function pathsOf(api: ApiName): string[] {
  return PATHS.filter(([, c]) => c === api).map(([p]) => p);
}

/**
 * The class of a POST path by the rule documented in assembly/request/api.ts
 * (written again here from the documentation, not from the code): query and
 * fragment ignored, one trailing slash ignored, "" or "/" → by shape, suffix
 * match on segment boundaries of /v1/chat/completions, /v1/completions,
 * /v1/responses; anything else is not an inference call.
 */
export function classifyPath(p: string): PathClass {
  let end = p.length;
  const q = p.indexOf("?");
  if (q >= 0) end = q;
  const h = p.indexOf("#");
  if (h >= 0 && h < end) end = h;
  let s = p.slice(0, end);
  if (s.length > 1 && s.endsWith("/")) s = s.slice(0, -1);
  if (s === "" || s === "/") return "by_shape";
  if (s.endsWith("/v1/chat/completions")) return "chat_completions";
  if (s.endsWith("/v1/completions")) return "completions";
  if (s.endsWith("/v1/responses")) return "responses";
  return "not_inference";
}

/** A request path with the class the filter must give it: the table above, or a random one classified by the rule. */
export const path: fc.Arbitrary<{ path: string; cls: PathClass }> = fc.oneof(
  { weight: 9, arbitrary: fc.constantFrom(...PATHS).map(([p, cls]) => ({ path: p, cls })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.stringMatching(/^\/[a-zA-Z0-9_.\-/]{0,16}$/),
        fc.constantFrom("", "/v1/completions", "/v1/chat/completions", "/v1/responses", "/v1/responses/", "?a=/v1/completions", "#x"),
      )
      .map(([a, b]) => a + b)
      .map((p) => ({ path: p, cls: classifyPath(p) })),
  },
);

/** Methods: POST mostly; anything else is not an inference call. */
export const method = fc.oneof(
  { weight: 12, arbitrary: fc.constant("POST") },
  { weight: 1, arbitrary: fc.constantFrom("GET", "PUT", "PATCH", "OPTIONS", "post") },
);

// ---- chunking -------------------------------------------------------------------------

/** How the body reaches the filter: cut points (fractions of the length), and whether trailers end the stream. */
export interface Delivery {
  kind: "single" | "split" | "bytes";
  cuts: number[];
  trailers: boolean;
}
export const delivery: fc.Arbitrary<Delivery> = fc.record({
  kind: fc.oneof(
    { weight: 5, arbitrary: fc.constant("single" as const) },
    { weight: 4, arbitrary: fc.constant("split" as const) },
    { weight: 1, arbitrary: fc.constant("bytes" as const) },
  ),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 6 }),
  trailers: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

/** Splits `body` per `d` (cuts may coincide: empty chunks happen in Envoy too). Always at least one chunk. */
export function chunksOf(body: Uint8Array, d: Delivery): Uint8Array[] {
  if (d.kind === "single") return [body];
  if (d.kind === "bytes" && body.length <= 512) return body.length ? Array.from(body, (_, i) => body.subarray(i, i + 1)) : [body];
  const cuts = d.cuts.map((f) => Math.floor(f * body.length)).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const c of cuts) {
    out.push(body.subarray(at, c));
    at = c;
  }
  out.push(body.subarray(at));
  return out;
}

/** Splits into fixed-size chunks (Envoy delivers large bodies in ~16–64 KiB slices). */
export function fixedChunks(body: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < body.length; i += size) out.push(body.subarray(i, i + size));
  return out.length ? out : [body];
}

/** Random bytes, biased towards JSON punctuation so that some of it scans far. */
export const randomBytes = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc.array(fc.constantFrom(...'{}[]":,0123456789.eE+-tfnul \\ab'.split("")), { maxLength: 128 }).map((a) => enc.encode(a.join(""))),
  fc.json({ maxDepth: 4 }).map((s) => enc.encode(s)),
);
