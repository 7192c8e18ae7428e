/**
 * The request behaviour table, as data: every one of the seed's 17 test
 * cases (docs/reference/seed.md#the-seeds-request-test-cases), its extra edge cases, the
 * project's deliberate differences (`differsFromSeed`, with the reason) and
 * rows for what real clients send. Shared by the tiers:
 *  - test/unit/request.table.test.ts runs it through build/units-request.wasm
 *    (the pure parser + output, `decide()` in assembly/request/testing.ts);
 *  - the host tier (test/host) and the Envoy tier can run the same rows
 *    through the built filter and compare the `inspect` line.
 *
 * Conventions:
 *  - `path: "/"` means "the path says nothing": the API is chosen by body
 *    shape, as the seed did (api.ts). Seed rows use it so they test the
 *    seed's exact classification.
 *  - Route rows send `x-request-id: test-id` (see `route()`), so requestId is
 *    deterministic; `targetModel` is the body's model unless a row sets
 *    x-gateway-model-name-rewrite.
 *  - Reject rows give status, code and param (null when none); the message
 *    is checked to be non-empty and to name the param.
 *  - `bodyLimit` (bytes) is the configured body limit for that row (413 past it).
 */

export type Expect =
  | { decision: "route"; request: { requestId: string; targetModel: string; body: Record<string, unknown> }; stream?: boolean }
  | { decision: "reject"; status: number; code: string; param: string | null }
  | { decision: "pass" };

export interface RequestRow {
  name: string;
  /** Where the row comes from: "seed #N" (the seed's test case N), "seed edge", "seed director", "project", "client". */
  source: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  bodyLimit?: number;
  /** Why this project's result differs from the seed's (status or structure). */
  differsFromSeed?: string;
  /** Exact expected `decide` line, when byte-exactness matters (raw fields, escapes). */
  line?: string;
  expect: Expect;
}

const ID = { "x-request-id": "test-id" };
const CHAT = "/v1/chat/completions";
const COMP = "/v1/completions";
const RESP = "/v1/responses";
const SHAPE = "/";

function route(targetModel: string, body: Record<string, unknown>, stream?: boolean): Expect {
  return { decision: "route", request: { requestId: "test-id", targetModel, body }, ...(stream === undefined ? {} : { stream }) };
}
function reject(param: string | null, code: string, status = 400): Expect {
  return { decision: "reject", status, code, param };
}
const PASS: Expect = { decision: "pass" };

function row(name: string, source: string, path: string, body: unknown, expect: Expect, extra: Partial<RequestRow> = {}): RequestRow {
  return {
    name,
    source,
    method: "POST",
    path,
    headers: { ...ID },
    body: typeof body === "string" ? body : JSON.stringify(body),
    expect,
    ...extra,
  };
}

const user = (content: unknown) => ({ role: "user", content });
const E1 = "seed: 400 'invalid chat-completions request: ... must have at least one message'";
const E2 = "seed: 400 'invalid request format'";

// ---------------------------------------------------------------------------
// The seed's 17 cases (body_test.go TestExtractRequestData), by body shape.

// biome-ignore format: a table, one case per row as laid out by hand
const seedCases: RequestRow[] = [
  row("seed 1: completions request body", "seed #1", SHAPE, { model: "test", prompt: "test prompt" },
    route("test", { completions: { prompt: "test prompt" } })),
  row("seed 2: chat completions request body", "seed #2", SHAPE,
    { model: "test", messages: [{ role: "system", content: "this is a system message" }, user("hello")] },
    route("test", { chat_completions: { messages: [{ role: "system", content: "this is a system message" }, user("hello")] } })),
  row("seed 3: chat completions with all optional fields", "seed #3", SHAPE,
    {
      model: "test",
      messages: [user("hello")],
      tools: [{ type: "function" }],
      documents: [{ content: "doc" }],
      chat_template: "custom template",
      return_assistant_tokens_mask: true,
      continue_final_message: true,
      add_generation_prompt: true,
      chat_template_kwargs: { key: "value" },
    },
    route("test", {
      chat_completions: {
        messages: [user("hello")],
        tools: [{ type: "function" }],
        documents: [{ content: "doc" }],
        chat_template: "custom template",
        chat_template_kwargs: { key: "value" },
        return_assistant_tokens_mask: true,
        continue_final_message: true,
        add_generation_prompt: true,
      },
    })),
  row("seed 4: nil body", "seed #4", SHAPE, "null", reject(null, "invalid_type"),
    { differsFromSeed: "same status (400); the seed's director says 'model not found' for a null body, this project says the body is not a JSON object" }),
  row("seed 5: invalid prompt format (prompt:123, no messages)", "seed #5", SHAPE, { model: "test", prompt: 123 },
    reject("messages", "missing_field")),
  row("seed 6: invalid messages format", "seed #6", SHAPE, { model: "test", messages: "invalid" },
    reject("messages", "invalid_type")),
  row("seed 7: neither prompt nor messages", "seed #7", SHAPE, { model: "test" }, reject("messages", "missing_field")),
  row("seed 8: empty messages array", "seed #8", SHAPE, { model: "test", messages: [] }, reject("messages", "empty_field")),
  row("seed 9: message with non-string role", "seed #9", SHAPE, { model: "test", messages: [{ role: 123, content: "hello" }] },
    reject("messages[0].role", "invalid_type")),
  row("seed 10: message with non-string content", "seed #10", SHAPE, { model: "test", messages: [{ role: "user", content: 123 }] },
    reject("messages[0].content", "invalid_type")),
  row("seed 11: invalid tools format", "seed #11", SHAPE, { model: "test", messages: [user("hello")], tools: "invalid" },
    reject("tools", "invalid_type")),
  row("seed 12: invalid documents format", "seed #12", SHAPE, { model: "test", messages: [user("hello")], documents: "invalid" },
    reject("documents", "invalid_type")),
  row("seed 13: invalid chat_template format", "seed #13", SHAPE, { model: "test", messages: [user("hello")], chat_template: 123 },
    reject("chat_template", "invalid_type")),
  row("seed 14: invalid return_assistant_tokens_mask format", "seed #14", SHAPE,
    { model: "test", messages: [user("hello")], return_assistant_tokens_mask: "invalid" },
    reject("return_assistant_tokens_mask", "invalid_type")),
  row("seed 15: invalid continue_final_message format", "seed #15", SHAPE,
    { model: "test", messages: [user("hello")], continue_final_message: "invalid" },
    reject("continue_final_message", "invalid_type")),
  row("seed 16: invalid add_generation_prompt format", "seed #16", SHAPE,
    { model: "test", messages: [user("hello")], add_generation_prompt: "invalid" },
    reject("add_generation_prompt", "invalid_type")),
  row("seed 17: invalid chat_template_kwargs format", "seed #17", SHAPE,
    { model: "test", messages: [user("hello")], chat_template_kwargs: "invalid" },
    reject("chat_template_kwargs", "invalid_type")),
];

// ---------------------------------------------------------------------------
// The seed's further edge cases and director checks (docs/reference/seed.md#request-bodies).

// biome-ignore format: a table, one case per row as laid out by hand
const seedEdges: RequestRow[] = [
  row("prompt wins over messages", "seed edge", SHAPE, { model: "m", prompt: "p", messages: [user("hi")] },
    route("m", { completions: { prompt: "p" } })),
  row("empty prompt + messages is chat", "seed edge", SHAPE, { model: "m", prompt: "", messages: [user("hi")] },
    route("m", { chat_completions: { messages: [user("hi")] } })),
  row("non-string prompt + messages is chat", "seed edge", SHAPE, { model: "m", prompt: 5, messages: [user("hi")] },
    route("m", { chat_completions: { messages: [user("hi")] } })),
  row("prompt as an array of strings", "seed edge", SHAPE, { model: "m", prompt: ["a", "b"] },
    route("m", { completions: { prompt: ["a", "b"] } }),
    { differsFromSeed: `${E1}; prompt arrays are valid OpenAI/vLLM input (GIE #2721 asked for them)` }),
  row("content as an array of text parts", "seed edge", SHAPE, { model: "m", messages: [user([{ type: "text", text: "hi" }])] },
    route("m", { chat_completions: { messages: [user([{ type: "text", text: "hi" }])] } }),
    { differsFromSeed: `${E2}; content arrays are valid OpenAI input (GIE #925, fixed upstream by #1617)` }),
  row("content null", "seed edge", SHAPE, { model: "m", messages: [{ role: "assistant", content: null }] },
    route("m", { chat_completions: { messages: [{ role: "assistant", content: null }] } }),
    { differsFromSeed: "same status; the seed turned null into \"\", this project keeps null (ContentKind.Null)" }),
  row("message without role", "seed edge", SHAPE, { model: "m", messages: [{ content: "x" }] },
    route("m", { chat_completions: { messages: [{ content: "x" }] } })),
  row("empty message object", "seed edge", SHAPE, { model: "m", messages: [{}] },
    route("m", { chat_completions: { messages: [{}] } })),
  row("extra message fields kept when interpreted (name, tool_calls), others forwarded only", "seed edge", SHAPE,
    { model: "m", messages: [{ role: "user", content: "x", name: "bob", weight: 1 }] },
    route("m", { chat_completions: { messages: [{ role: "user", content: "x", name: "bob" }] } }),
    { differsFromSeed: "same status; the seed dropped name/tool_calls from the structured body, this project keeps them (the structured request holds the body as sent)" }),
  row("capitalised top-level keys are not the OpenAI fields", "seed edge", SHAPE, { model: "m", Messages: [user("hi")] },
    reject("messages", "missing_field"),
    { differsFromSeed: "seed: route (Go matched keys case-insensitively); OpenAI and vLLM match exactly, so `Messages` is an unknown field" }),
  row("PROMPT is not prompt", "seed edge", SHAPE, { model: "m", PROMPT: "p" }, reject("messages", "missing_field"),
    { differsFromSeed: "seed: completions (case-insensitive keys); this project matches keys exactly" }),
  row("ROLE/CONTENT inside a message are unknown keys", "seed edge", SHAPE, { model: "m", messages: [{ ROLE: "user", CONTENT: "x" }] },
    route("m", { chat_completions: { messages: [{}] } }),
    { differsFromSeed: "seed read them as role/content; this project matches keys exactly (same status)" }),
  row("body without model", "seed director", SHAPE, { hello: "world" }, reject("model", "missing_field")),
  row("body that is not JSON", "seed director", SHAPE, "no healthy upstream", reject(null, "invalid_json")),
  row("body that is a JSON array", "seed director", SHAPE, "[1]", reject(null, "invalid_type")),
  row("model not a string", "seed director", SHAPE, { model: 5, prompt: "p" }, reject("model", "invalid_type")),
  row("model null", "seed director", SHAPE, { model: null, prompt: "p" }, reject("model", "invalid_type")),
  row("model checked before the body", "seed director", SHAPE, { messages: "invalid" }, reject("model", "missing_field")),
  row("model rewrite header sets targetModel", "seed director", CHAT, { model: "m", messages: [user("hi")] },
    route("rewritten", { chat_completions: { messages: [user("hi")] } }),
    { headers: { ...ID, "x-gateway-model-name-rewrite": "rewritten" } }),
  row("x-request-id is taken from the header", "seed director", COMP, { model: "m", prompt: "p" },
    { decision: "route", request: { requestId: "abc-123", targetModel: "m", body: { completions: { prompt: "p" } } } },
    { headers: { "x-request-id": "abc-123" } }),
];

// ---------------------------------------------------------------------------
// Path detection, prompt forms, responses, errors.

// biome-ignore format: a table, one case per row as laid out by hand
const project: RequestRow[] = [
  row("path says chat although prompt is present", "project", CHAT, { model: "m", prompt: "p", messages: [user("hi")] },
    route("m", { chat_completions: { messages: [user("hi")] } }),
    { differsFromSeed: "seed: completions by shape; the path decides here (GIE #2133)" }),
  row("path says completions, only messages", "project", COMP, { model: "m", messages: [user("hi")] },
    reject("prompt", "missing_field"), { differsFromSeed: "seed: chat by shape; the path decides here (GIE #2133)" }),
  row("path says completions, prompt not a string", "project", COMP, { model: "m", prompt: 123 }, reject("prompt", "invalid_type")),
  row("path under a prefix with a query string", "project", "/openai/v1/chat/completions?api-version=2024-10-21",
    { model: "m", messages: [user("hi")] }, route("m", { chat_completions: { messages: [user("hi")] } })),
  row("path with a trailing slash", "project", "/v1/completions/", { model: "m", prompt: "p" }, route("m", { completions: { prompt: "p" } })),
  row("malformed messages ignored on /v1/completions", "project", COMP, { model: "m", prompt: "p", messages: "bad" },
    route("m", { completions: { prompt: "p" } })),
  row("prompt token ids", "project", COMP, { model: "m", prompt: [1, 2, 3] }, route("m", { completions: { prompt: [1, 2, 3] } })),
  row("prompt token-id lists", "project", COMP, { model: "m", prompt: [[1, 2], [3]] }, route("m", { completions: { prompt: [[1, 2], [3]] } })),
  row("prompt token id 4294967295", "project", COMP, { model: "m", prompt: [4294967295, 0] }, route("m", { completions: { prompt: [4294967295, 0] } })),
  row("prompt token id too large", "project", COMP, { model: "m", prompt: [4294967296] }, reject("prompt[0]", "invalid_value")),
  row("prompt token id not an integer", "project", COMP, '{"model":"m","prompt":[1,2.5]}', reject("prompt[1]", "invalid_value")),
  row("prompt token id negative", "project", COMP, { model: "m", prompt: [[1], [-1]] }, reject("prompt[1][0]", "invalid_value")),
  row("prompt mixed string and token", "project", COMP, { model: "m", prompt: ["a", 1] }, reject("prompt[1]", "invalid_type")),
  row("prompt array of objects", "project", COMP, { model: "m", prompt: [{}] }, reject("prompt[0]", "invalid_type")),
  row("prompt empty string", "project", COMP, { model: "m", prompt: "" }, reject("prompt", "empty_field")),
  row("prompt empty array", "project", COMP, { model: "m", prompt: [] }, reject("prompt", "empty_field")),
  row("prompt with an empty token list", "project", COMP, { model: "m", prompt: [[1], []] }, reject("prompt[1]", "empty_field")),
  row("prompt null is missing", "project", COMP, { model: "m", prompt: null }, reject("prompt", "missing_field")),
  row("completions cache_salt", "project", COMP, { model: "m", prompt: "p", cache_salt: "s1" },
    route("m", { completions: { prompt: "p", cache_salt: "s1" } })),
  row("chat cache_salt", "project", CHAT, { model: "m", messages: [user("hi")], cache_salt: "s2" },
    route("m", { chat_completions: { messages: [user("hi")], cache_salt: "s2" } })),
  row("cache_salt not a string", "project", CHAT, { model: "m", messages: [user("hi")], cache_salt: 1 }, reject("cache_salt", "invalid_type")),
  row("responses with input text", "project", RESP, { model: "m", input: "Tell me a story" },
    route("m", { responses: { input: "Tell me a story" } }),
    { differsFromSeed: `${E1}; /v1/responses is supported (GIE #2028)` }),
  row("responses with items and all fields", "project", RESP,
    {
      model: "m",
      instructions: "be brief",
      input: [{ role: "user", content: [{ type: "input_text", text: "hi" }] }, { type: "function_call_output", call_id: "c1", output: "42" }],
      tools: [{ type: "function", name: "f", parameters: {} }],
      previous_response_id: "resp_1",
      cache_salt: "s",
      store: false,
    },
    route("m", {
      responses: {
        input: [{ role: "user", content: [{ type: "input_text", text: "hi" }] }, { type: "function_call_output", call_id: "c1", output: "42" }],
        instructions: "be brief",
        tools: [{ type: "function", name: "f", parameters: {} }],
        previous_response_id: "resp_1",
        cache_salt: "s",
      },
    })),
  row("responses by shape (no path)", "project", SHAPE, { model: "m", input: "x" }, route("m", { responses: { input: "x" } }),
    { differsFromSeed: `${E1}; an 'input' body with no path is a responses request` }),
  row("responses without input", "project", RESP, { model: "m", instructions: "x" }, reject("input", "missing_field")),
  row("responses empty input", "project", RESP, { model: "m", input: [] }, reject("input", "empty_field")),
  row("responses input item not an object", "project", RESP, { model: "m", input: ["x"] }, reject("input[0]", "invalid_type")),
  row("responses instructions not a string", "project", RESP, { model: "m", input: "x", instructions: 1 }, reject("instructions", "invalid_type")),
  row("GET /v1/models passes", "project", "/v1/models", "", PASS, { method: "GET" }),
  row("GET /health passes", "project", "/health", "", PASS, { method: "GET" }),
  row("HEAD on an inference path passes", "project", CHAT, "", PASS, { method: "HEAD" }),
  row("POST /v1/embeddings passes", "project", "/v1/embeddings", { model: "m", input: "x" }, PASS),
  row("POST to an unknown path passes, body unread", "project", "/upload", "not json at all", PASS),
  row("message not an object", "project", CHAT, { model: "m", messages: ["hi"] }, reject("messages[0]", "invalid_type")),
  row("content part not an object", "project", CHAT, { model: "m", messages: [user(["hi"])] }, reject("messages[0].content[0]", "invalid_type")),
  row("content part without type", "project", CHAT, { model: "m", messages: [user([{ text: "hi" }])] },
    reject("messages[0].content[0].type", "missing_field")),
  row("text part without text", "project", CHAT, { model: "m", messages: [user([{ type: "text" }])] },
    reject("messages[0].content[0].text", "missing_field")),
  row("text part with non-string text", "project", CHAT, { model: "m", messages: [user([{ type: "text", text: 1 }])] },
    reject("messages[0].content[0].text", "invalid_type")),
  row("second message wrong, first error reported by position", "project", CHAT,
    { model: "m", tools: 1, messages: [user("a"), { role: 5 }] }, reject("tools", "invalid_type")),
  row("type errors before emptiness", "project", CHAT, { model: "m", messages: [], tools: "x" }, reject("tools", "invalid_type")),
  row("stream not a boolean", "project", CHAT, { model: "m", messages: [user("hi")], stream: "yes" }, reject("stream", "invalid_type")),
  row("null optional fields are absent", "project", CHAT,
    { model: "m", messages: [{ role: "user", content: "hi", name: null, tool_calls: null }], tools: null, documents: null, chat_template: null,
      chat_template_kwargs: null, add_generation_prompt: null, cache_salt: null, stream: null },
    route("m", { chat_completions: { messages: [user("hi")] } }, false)),
  row("duplicate keys: last wins (model, messages)", "project", CHAT,
    '{"model":"first","messages":"bad","messages":[{"role":"user","content":"hi"}],"model":"second"}',
    route("second", { chat_completions: { messages: [user("hi")] } })),
  row("duplicate keys: last wins even when the last is wrong", "project", CHAT,
    '{"model":"m","messages":[{"role":"user","content":"hi"}],"messages":5}', reject("messages", "invalid_type")),
  row("number 1e999 is valid JSON", "project", CHAT, '{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":1e999}',
    route("m", { chat_completions: { messages: [user("hi")] } })),
  row("trailing comma", "project", CHAT, '{"model":"m","messages":[{"role":"user","content":"hi"}],}', reject(null, "invalid_json")),
  row("leading zero", "project", CHAT, '{"model":"m","messages":[{"role":"user","content":"hi"}],"n":01}', reject(null, "invalid_json")),
  row("invalid escape", "project", CHAT, '{"model":"m","messages":[{"role":"user","content":"\\q"}]}', reject(null, "invalid_json")),
  row("raw control character in a string", "project", CHAT, '{"model":"m","messages":[{"role":"user","content":"a\tb"}]}', reject(null, "invalid_json")),
  row("truncated body", "project", CHAT, '{"model":"m","messages":[{"role":"user","content":"hi"}', reject(null, "invalid_json")),
  row("empty body", "project", CHAT, "", reject(null, "invalid_json")),
  row("data after the object", "project", CHAT, '{"model":"m","messages":[{"role":"user","content":"hi"}]} {}', reject(null, "invalid_json")),
  row("nesting past 128 levels", "project", CHAT,
    `{"model":"m","messages":[{"role":"user","content":"hi"}],"x":${"[".repeat(200)}${"]".repeat(200)}}`, reject(null, "invalid_json")),
  row("body past the limit", "project", CHAT, { model: "m", messages: [user("x".repeat(100))] }, reject(null, "body_too_large", 413),
    { bodyLimit: 64 }),
  row("body at the limit", "project", COMP, '{"model":"m","prompt":"p"}', route("m", { completions: { prompt: "p" } }), { bodyLimit: 26 }),
];

// ---------------------------------------------------------------------------
// What real clients send.

const toolCallMessages = [
  { role: "system", content: "You are a helpful assistant." },
  user("What is the weather in Paris?"),
  {
    role: "assistant",
    content: null,
    tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
  },
  { role: "tool", tool_call_id: "call_1", content: '{"temp_c":21}' },
];

// biome-ignore format: a table, one case per row as laid out by hand
const clients: RequestRow[] = [
  row("streaming with stream_options", "client", CHAT,
    { model: "gpt-4o", messages: [user("hi")], stream: true, stream_options: { include_usage: true } },
    route("gpt-4o", { chat_completions: { messages: [user("hi")] } }, true)),
  row("stream false", "client", COMP, { model: "m", prompt: "p", stream: false }, route("m", { completions: { prompt: "p" } }, false)),
  row("assistant tool_calls with null content, then a tool message", "client", CHAT,
    { model: "m", messages: toolCallMessages, tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }], tool_choice: "auto" },
    route("m", {
      chat_completions: {
        messages: toolCallMessages,
        tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }],
      },
    })),
  row("developer role", "client", CHAT, { model: "o3", messages: [{ role: "developer", content: "Be terse." }, user("hi")] },
    route("o3", { chat_completions: { messages: [{ role: "developer", content: "Be terse." }, user("hi")] } })),
  row("multimodal parts, unknown part type kept", "client", CHAT,
    {
      model: "qwen-vl",
      messages: [
        user([
          { type: "text", text: "Describe these" },
          { type: "image_url", image_url: { url: "https://example.com/cat.png", detail: "high" } },
          { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } },
          { type: "video_url", video_url: { url: "https://example.com/v.mp4" } },
          { type: "file", file: { file_id: "file-1" } },
          { type: "x_vendor_thing", payload: [1, 2] },
        ]),
      ],
    },
    route("qwen-vl", {
      chat_completions: {
        messages: [
          user([
            { type: "text", text: "Describe these" },
            { type: "image_url", image_url: { url: "https://example.com/cat.png", detail: "high" } },
            { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } },
            { type: "video_url", video_url: { url: "https://example.com/v.mp4" } },
            { type: "file", file: { file_id: "file-1" } },
            { type: "x_vendor_thing", payload: [1, 2] },
          ]),
        ],
      },
    })),
  row("vLLM extensions: top_k, guided_json, chat_template_kwargs", "client", CHAT,
    {
      model: "m",
      messages: [user("hi")],
      top_k: 20,
      guided_json: { type: "object", properties: { a: { type: "string" } } },
      chat_template_kwargs: { enable_thinking: false },
      add_generation_prompt: false,
    },
    route("m", { chat_completions: { messages: [user("hi")], chat_template_kwargs: { enable_thinking: false }, add_generation_prompt: false } })),
  row("unicode: surrogate pair, NUL, escapes, raw UTF-8", "client", CHAT,
    '{"model":"m","messages":[{"role":"user","content":"\\ud83d\\ude00 \\u0000 caf\\u00e9 日本語 \\"q\\" \\/ \\n"}]}',
    route("m", { chat_completions: { messages: [user('😀 \u0000 café 日本語 "q" / \n')] } }),
    { line: '{"decision":"route","request":{"requestId":"test-id","targetModel":"m","body":{"chat_completions":{"messages":[{"role":"user","content":"😀 \\u0000 café 日本語 \\"q\\" / \\n"}]}}}}' }),
  row("lone surrogate escape decodes to U+FFFD", "client", CHAT, '{"model":"m","messages":[{"role":"user","content":"a\\ud800b\\udc00"}]}',
    route("m", { chat_completions: { messages: [user("a\ufffdb\ufffd")] } })),
  row("unicode model name", "client", COMP, '{"model":"mod\\u00e8le","prompt":"p"}', route("modèle", { completions: { prompt: "p" } })),
  row("pretty-printed JSON, raw fields compacted as sent", "client", CHAT,
    '{\n  "model": "m",\n  "messages": [\n    {\n      "role": "user",\n      "content": "hi"\n    }\n  ],\n  "tools": [\n\t{ "type": "function", "x": 1.50 }\n  ]\n}\n',
    route("m", { chat_completions: { messages: [user("hi")], tools: [{ type: "function", x: 1.5 }] } }),
    { line: '{"decision":"route","request":{"requestId":"test-id","targetModel":"m","body":{"chat_completions":{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","x":1.50}]}}}}' }),
  row("OpenAI SDK style body with many sampling fields", "client", CHAT,
    {
      messages: [user("hi")],
      model: "gpt-4o-mini",
      frequency_penalty: 0,
      logit_bias: { "50256": -100 },
      max_completion_tokens: 256,
      n: 1,
      response_format: { type: "json_object" },
      seed: 42,
      temperature: 0.7,
      top_p: 1,
      user: "u-1",
    },
    route("gpt-4o-mini", { chat_completions: { messages: [user("hi")] } })),
  row("legacy completions with echo and logprobs", "client", COMP, { model: "m", prompt: "Once", echo: true, logprobs: 5, max_tokens: 7 },
    route("m", { completions: { prompt: "Once" } })),
];

export const requestRows: RequestRow[] = [...seedCases, ...seedEdges, ...project, ...clients];
