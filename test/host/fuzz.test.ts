/**
 * Fuzz of the BUILT filter (release .wasm) in the emulated Envoy: generated and mutated OpenAI bodies and hostile inputs, delivered
 * in several chunkings on several paths, with a large and a small
 * `maxBodyBytes`. Invariants per request: test/fuzz/filter.ts (`sendChecked`).
 *
 *   npx vitest run test/host/fuzz.test.ts                       FUZZ_RUNS=6000 (default, CI size)
 *   FUZZ_RUNS=100000 npx vitest run test/host/fuzz.test.ts      the full run
 *   FUZZ_SEED=123 ...                                           replay a fast-check seed
 *   LLM_PICKER_WASM=path/to/llm_picker.wasm ...                 another build
 *
 * FUZZ_RUNS counts the generated and mutated bodies of the properties below;
 * the deterministic blocks (every prefix, every split, every wrong type, the
 * hostile table) run on top of it at every size.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { referenceValid } from "../fixtures/requests/reference";
import { mutate, mutation } from "../support";
import { HOSTILE } from "../fuzz/hostile";
import { BIG_LIMIT, ensureFilterBuilt, Hosts, sendChecked, SMALL_LIMIT, type FuzzRequest, type Outcome } from "../fuzz/filter";
import {
  chunksOf,
  classifyPath,
  COMPACT,
  delivery,
  fixedChunks,
  KIND_LITERALS,
  method,
  path,
  pathsOf,
  randomBytes,
  render,
  REQUIRED_FIELD,
  style,
  wellFormedBody,
  type ApiName,
  type Kind,
} from "../fuzz/generators";

const TOTAL = Number(process.env.FUZZ_RUNS ?? 6000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const share = (f: number) => Math.max(1, Math.round(TOTAL * f));
const N = { ownPath: share(0.25), anyPath: share(0.2), mutated: share(0.35), wrongType: share(0.1), bytes: share(0.1) };
const TIMEOUT = 60_000 + TOTAL * 5; // ms; generous: the machine is shared
const enc = new TextEncoder();
const hosts = new Hosts();
/** `s` with lone surrogates replaced by U+FFFD (String.prototype.toWellFormed, without needing the ES2024 lib). */
const wellFormed = (s: string) => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
const runs = (numRuns: number) => ({ numRuns, seed: SEED, endOnFailure: false });
/** Limit of a run: mostly the big one, sometimes the smallest the filter accepts (413 on ordinary bodies). */
/** x-request-id as clients send it (absent, empty, UUIDs, any printable text incl. quotes, backslashes and non-ASCII). */
const requestId = fc.oneof(
  fc.constant(null),
  fc.constant(""),
  fc.uuid(),
  fc
    .string({ unit: "grapheme", minLength: 1, maxLength: 40 })
    .filter((s) => ![...s].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) && s.trim() === s),
);
const limitArb = fc.oneof({ weight: 4, arbitrary: fc.constant(BIG_LIMIT) }, { weight: 1, arbitrary: fc.constant(SMALL_LIMIT) });

let sent = 0;
async function send(limit: number, req: FuzzRequest): Promise<Outcome> {
  sent++;
  return sendChecked(await hosts.get(limit), limit, req);
}

beforeAll(ensureFilterBuilt);

afterAll(() => {
  const memory = hosts.all().map((h) => (h.vmMemoryBytes() / 1048576).toFixed(1) + " MiB");
  console.log(`[fuzz] ${sent} requests through the filter; VM memory at the end (16 MiB limit host, 1 KiB limit host): ${memory.join(", ")}`);
  const traps = [...hosts.retiredTraps, ...hosts.all().flatMap((h) => h.traps())];
  hosts.close();
  expect(traps).toEqual([]);
});

describe(`filter fuzz, generated and mutated bodies (FUZZ_RUNS=${TOTAL})`, () => {
  it(`well-formed bodies on their own path are routed, in any style and chunking (${N.ownPath})`, { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(wellFormedBody, style, delivery, fc.nat(), async ({ api, value }, st, d, pick) => {
        const paths = [...pathsOf(api), "/"];
        const p = paths[pick % paths.length];
        const bytes = enc.encode(render(value, st, 0, pick));
        const got = await send(BIG_LIMIT, { path: p, cls: p === "/" ? "by_shape" : api, chunks: chunksOf(bytes, d), trailers: d.trailers });
        if (got.kind !== "route") throw new Error(`not routed: ${JSON.stringify(got.decision)}`);
        expect(Object.keys(got.decision.request.body)).toEqual([api]);
        // Lone surrogate escapes decode to U+FFFD (assembly/json/, documented).
        expect(got.decision.request.targetModel).toBe(wellFormed(value.model as string));
      }),
      runs(N.ownPath),
    );
  });

  it(`well-formed bodies on any path and method, with either body limit (${N.anyPath})`, { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(wellFormedBody, style, path, method, delivery, limitArb, requestId, async ({ api, value }, st, p, m, d, limit, id) => {
        const bytes = enc.encode(render(value, st));
        const headers: [string, string][] = id === null ? [] : [["x-request-id", id]];
        const got = await send(limit, { method: m, path: p.path, cls: p.cls, chunks: chunksOf(bytes, d), trailers: d.trailers, headers });
        if (m !== "POST" || p.cls === "not_inference") expect(got.kind).toBe("pass");
        else if (bytes.length > limit) expect(got.code).toBe("body_too_large");
        else if (p.cls === api || p.cls === "by_shape") {
          expect(got.kind).toBe("route");
          // The client's id, or a generated one (docs/reference/seed.md#the-gateway-contract).
          if (id) expect(got.decision.request.requestId).toBe(id);
          else expect(got.decision.request.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        } else {
          // Only the path's API counts: its required field is missing.
          expect([got.code, got.param]).toEqual(["missing_field", REQUIRED_FIELD[p.cls]]);
        }
      }),
      runs(N.anyPath),
    );
  });

  it(`mutated bodies (${N.mutated})`, { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(
        wellFormedBody,
        style,
        fc.array(mutation, { minLength: 1, maxLength: 5 }),
        path,
        delivery,
        limitArb,
        async ({ value }, st, muts, p, d, limit) => {
          const bytes = mutate(enc.encode(render(value, st)), muts);
          await send(limit, { path: p.path, cls: p.cls, chunks: chunksOf(bytes, d), trailers: d.trailers });
        },
      ),
      runs(N.mutated),
    );
  });

  it(`a wrong type in a random interpreted field (${N.wrongType})`, { timeout: TIMEOUT }, async () => {
    const cases = wrongTypeCases();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...cases), delivery, async (c, d) => {
        const bytes = enc.encode(c.body);
        const got = await send(BIG_LIMIT, { path: pathsOf(c.api)[0], cls: c.api, chunks: chunksOf(bytes, d), trailers: d.trailers });
        expect([got.code, got.param]).toEqual(["invalid_type", c.param]);
      }),
      runs(N.wrongType),
    );
  });

  it(`random bytes and near-JSON (${N.bytes})`, { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(randomBytes, path, delivery, async (bytes, p, d) => {
        await send(BIG_LIMIT, { path: p.path, cls: p.cls, chunks: chunksOf(bytes, d), trailers: d.trailers });
      }),
      runs(N.bytes),
    );
  });

  it("formatting does not change the decision (compact, pretty, escaped, decoy duplicate keys)", { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(wellFormedBody, style, fc.constantFrom(null, 5, [], ""), fc.nat(), async ({ api, value }, st, model, seed) => {
        // Sometimes a wrong or empty model: both renderings must then fail (or pass) alike.
        const v = seed % 3 === 0 ? { ...value, model } : value;
        const p = pathsOf(api)[0];
        const a = await send(BIG_LIMIT, { path: p, cls: api, chunks: [enc.encode(render(v, COMPACT))] });
        const b = await send(BIG_LIMIT, { path: p, cls: api, chunks: [enc.encode(render(v, st, 0, seed))] });
        const key = (o: Outcome) => [o.kind, o.status, o.code, o.param, o.decision.request?.targetModel, Object.keys(o.decision.request?.body ?? {})];
        expect(key(b)).toEqual(key(a));
      }),
      runs(Math.max(50, share(0.02))),
    );
  });
});

// ---- deterministic blocks ------------------------------------------------------------

const CHAT = JSON.stringify({
  model: "meta-llama/Llama-3.1-8B-Instruct",
  messages: [
    { role: "system", content: "You are terse. Café ☕ \u0000 \ud83d\ude00" },
    {
      role: "user",
      content: [
        { type: "text", text: "What is in this image?" },
        { type: "image_url", image_url: { url: "https://x.test/a.png", detail: "low" } },
      ],
    },
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "lookup", arguments: '{"q":"cats"}' } }] },
    { role: "tool", tool_call_id: "call_1", content: "[1,2,3]" },
  ],
  tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object", properties: { q: { type: "string" } } } } }],
  chat_template_kwargs: { enable_thinking: false },
  temperature: 0.25,
  stream: true,
  stream_options: { include_usage: true },
});
const COMPLETIONS = JSON.stringify({ model: "m", prompt: [[1, 2, 3], [4294967295]], max_tokens: 16, temperature: 1e-7, cache_salt: "s", top_k: 5 });
const RESPONSES = JSON.stringify({
  model: "gpt-4o",
  input: [
    { role: "user", content: [{ type: "input_text", text: "hi" }] },
    { type: "function_call_output", call_id: "c", output: "42" },
  ],
  instructions: "be brief",
  previous_response_id: "resp_1",
});
const VALID: [ApiName, string][] = [
  ["chat_completions", CHAT],
  ["completions", COMPLETIONS],
  ["responses", RESPONSES],
];

describe("path rule", () => {
  it("the fixed path table agrees with the documented rule", () => {
    for (const api of ["completions", "chat_completions", "responses"] as const) for (const p of pathsOf(api)) expect(classifyPath(p)).toBe(api);
    expect(["//", "/?a", "/#", "/v1/models/", "/x/v1/completions/"].map(classifyPath)).toEqual([
      "by_shape",
      "by_shape",
      "by_shape",
      "not_inference",
      "completions",
    ]);
  });
});

describe("every prefix and every split of valid bodies", () => {
  for (const [api, body] of VALID) {
    const bytes = enc.encode(body);
    const p = pathsOf(api)[0];
    it(`${api}: each of the ${bytes.length} strict prefixes is invalid_json; the whole body is routed`, { timeout: TIMEOUT }, async () => {
      for (let n = 0; n <= bytes.length; n++) {
        const got = await send(BIG_LIMIT, { path: p, cls: api, chunks: [bytes.subarray(0, n)] });
        expect(got.kind === "route" ? "route" : got.code, `prefix ${n}`).toBe(n === bytes.length ? "route" : "invalid_json");
      }
    });
    it(`${api}: split in two at each of the ${bytes.length + 1} positions, with and without trailers, is routed`, { timeout: TIMEOUT }, async () => {
      for (let n = 0; n <= bytes.length; n++) {
        const got = await send(BIG_LIMIT, { path: p, cls: api, chunks: [bytes.subarray(0, n), bytes.subarray(n)], trailers: n % 2 === 1 });
        expect(got.kind, `split at ${n}`).toBe("route");
      }
    });
  }
});

interface WrongTypeCase {
  api: ApiName;
  field: string;
  kind: Kind;
  body: string;
  param: string;
}

/**
 * Every interpreted field of a template body of each API, given each JSON kind
 * it must not have (null is "absent" and not a type error). The parser's
 * field table: assembly/request/parse.ts.
 */
function wrongTypeCases(): WrongTypeCase[] {
  const W = "@@WRONG@@";
  const all: Kind[] = ["string", "number", "bool", "array", "object"];
  const except = (...ok: Kind[]) => all.filter((k) => !ok.includes(k));
  const chat = () => ({
    model: "m",
    messages: [
      { role: "system", content: "s" },
      {
        role: "user",
        content: [
          { type: "text", text: "hi" },
          { type: "image_url", image_url: { url: "u" } },
        ],
      },
      { role: "assistant", content: null, tool_calls: [] as unknown[] },
      { role: "tool", tool_call_id: "c", name: "n", content: "r" },
    ] as any[],
    tools: [] as unknown,
    documents: [] as unknown,
    chat_template: "t" as unknown,
    chat_template_kwargs: {} as unknown,
    add_generation_prompt: true as unknown,
    continue_final_message: false as unknown,
    return_assistant_tokens_mask: false as unknown,
    cache_salt: "salt" as unknown,
    stream: true as unknown,
  });
  const completions = (): any => ({ model: "m", prompt: "p", stream: false, cache_salt: "s" });
  const responses = (): any => ({
    model: "m",
    input: [{ role: "user", content: "x" }],
    instructions: "i",
    tools: [],
    previous_response_id: "r",
    cache_salt: "s",
    stream: false,
  });
  // [api, param, kinds that are wrong there, put W at that place]
  const spots: [ApiName, string, Kind[], (b: any) => void][] = [
    ["completions", "model", except("string"), (b) => (b.model = W)],
    ["completions", "stream", except("bool"), (b) => (b.stream = W)],
    ["completions", "cache_salt", except("string"), (b) => (b.cache_salt = W)],
    ["completions", "prompt", ["number", "bool", "object"], (b) => (b.prompt = W)],
    ["completions", "prompt[0]", ["bool", "object"], (b) => (b.prompt = [W])],
    ["completions", "prompt[1]", except("string"), (b) => (b.prompt = ["a", W])],
    ["completions", "prompt[1]", except("number"), (b) => (b.prompt = [1, W])],
    ["completions", "prompt[1]", except("array"), (b) => (b.prompt = [[1], W])],
    ["completions", "prompt[0][1]", except("number"), (b) => (b.prompt = [[1, W]])],
    ["chat_completions", "model", except("string"), (b) => (b.model = W)],
    ["chat_completions", "messages", except("array"), (b) => (b.messages = W)],
    ["chat_completions", "messages[0]", except("object"), (b) => (b.messages[0] = W)],
    ["chat_completions", "messages[0].role", except("string"), (b) => (b.messages[0].role = W)],
    ["chat_completions", "messages[0].content", ["number", "bool", "object"], (b) => (b.messages[0].content = W)],
    ["chat_completions", "messages[1].content[0]", except("object"), (b) => (b.messages[1].content[0] = W)],
    ["chat_completions", "messages[1].content[0].type", except("string"), (b) => (b.messages[1].content[0].type = W)],
    ["chat_completions", "messages[1].content[0].text", except("string"), (b) => (b.messages[1].content[0].text = W)],
    ["chat_completions", "messages[2].tool_calls", except("array"), (b) => (b.messages[2].tool_calls = W)],
    ["chat_completions", "messages[3].tool_call_id", except("string"), (b) => (b.messages[3].tool_call_id = W)],
    ["chat_completions", "messages[3].name", except("string"), (b) => (b.messages[3].name = W)],
    ["chat_completions", "tools", except("array"), (b) => (b.tools = W)],
    ["chat_completions", "documents", except("array"), (b) => (b.documents = W)],
    ["chat_completions", "chat_template", except("string"), (b) => (b.chat_template = W)],
    ["chat_completions", "chat_template_kwargs", except("object"), (b) => (b.chat_template_kwargs = W)],
    ["chat_completions", "add_generation_prompt", except("bool"), (b) => (b.add_generation_prompt = W)],
    ["chat_completions", "continue_final_message", except("bool"), (b) => (b.continue_final_message = W)],
    ["chat_completions", "return_assistant_tokens_mask", except("bool"), (b) => (b.return_assistant_tokens_mask = W)],
    ["chat_completions", "cache_salt", except("string"), (b) => (b.cache_salt = W)],
    ["chat_completions", "stream", except("bool"), (b) => (b.stream = W)],
    ["responses", "model", except("string"), (b) => (b.model = W)],
    ["responses", "input", ["number", "bool", "object"], (b) => (b.input = W)],
    ["responses", "input[0]", except("object"), (b) => (b.input[0] = W)],
    ["responses", "instructions", except("string"), (b) => (b.instructions = W)],
    ["responses", "previous_response_id", except("string"), (b) => (b.previous_response_id = W)],
    ["responses", "tools", except("array"), (b) => (b.tools = W)],
    ["responses", "cache_salt", except("string"), (b) => (b.cache_salt = W)],
    ["responses", "stream", except("bool"), (b) => (b.stream = W)],
  ];
  const make = { completions, chat_completions: chat, responses };
  const out: WrongTypeCase[] = [];
  for (const [api, param, kinds, put] of spots) {
    for (const kind of kinds) {
      const b = make[api]();
      put(b);
      out.push({ api, field: param, kind, param, body: JSON.stringify(b).replace(JSON.stringify(W), KIND_LITERALS[kind]) });
    }
  }
  return out;
}

describe("wrong types in every interpreted field", () => {
  it("each gives 400 invalid_type naming the field, in one chunk and byte by byte", { timeout: TIMEOUT }, async () => {
    const cases = wrongTypeCases();
    expect(cases.length).toBeGreaterThan(120);
    for (const c of cases) {
      const bytes = enc.encode(c.body);
      for (const chunks of [[bytes], chunksOf(bytes, { kind: "bytes", cuts: [], trailers: false })]) {
        const got = await send(BIG_LIMIT, { path: pathsOf(c.api)[0], cls: c.api, chunks });
        expect([got.code, got.param], `${c.api} ${c.field} as ${c.kind}`).toEqual(["invalid_type", c.param]);
      }
    }
  });
});

describe("hostile bodies through the filter", () => {
  for (const [name, p, make, want] of HOSTILE) {
    it(`${name} → ${want}`, { timeout: TIMEOUT }, async () => {
      const bytes = make();
      const api = p.includes("chat") ? "chat_completions" : p.includes("responses") ? "responses" : "completions";
      // One chunk, Envoy-sized slices, and slices ended by trailers (multi-MB bodies: 1 MiB slices, to keep the run short).
      const big = bytes.length > 1024 * 1024;
      const deliveries: [Uint8Array[], boolean][] = big
        ? [
            [[bytes], false],
            [fixedChunks(bytes, 1024 * 1024 + 7), true],
          ]
        : [
            [[bytes], false],
            [fixedChunks(bytes, 64 * 1024), false],
            [fixedChunks(bytes, 16 * 1024 + 7), true],
          ];
      for (const [chunks, trailers] of deliveries) {
        const got = await send(BIG_LIMIT, { path: p, cls: api, chunks, trailers });
        expect(got.kind === "route" ? "route" : got.code, `${chunks.length} chunks${trailers ? " + trailers" : ""}`).toBe(want);
      }
      if (bytes.length > SMALL_LIMIT) {
        // Past the limit after a few small chunks; the rest in one (not 35,000 tiny calls).
        const got = await send(SMALL_LIMIT, { path: p, cls: api, chunks: [...fixedChunks(bytes.subarray(0, 3000), 300), bytes.subarray(3000)] });
        expect(got.code).toBe("body_too_large");
      }
      // The expectation agrees with V8 where it is about JSON at all.
      if (want === "route" || want === "invalid_json") expect(referenceValid(bytes)).toBe(want === "route");
    });
  }

  it("POST to an inference path with no body passes through (decided at the headers)", async () => {
    const got = await send(BIG_LIMIT, { path: "/v1/chat/completions", cls: "chat_completions", chunks: [] });
    expect(got.kind).toBe("pass");
  });

  it("a body that is only trailers is an empty body: invalid_json", async () => {
    const got = await send(BIG_LIMIT, { path: "/v1/chat/completions", cls: "chat_completions", chunks: [], trailers: true });
    expect(got.code).toBe("invalid_json");
  });

  it("a client-sent destination header is replaced, never forwarded", async () => {
    const got = await send(BIG_LIMIT, {
      path: "/v1/completions",
      cls: "completions",
      chunks: [enc.encode('{"model":"m","prompt":"p"}')],
      headers: [
        ["x-gateway-destination-endpoint", "6.6.6.6:1"],
        ["x-gateway-destination-endpoint", "10.0.0.1:8000"],
      ],
    });
    expect(got.kind).toBe("route");
  });
});

// ---- memory ------------------------------------------------------------------------------------

describe("VM memory stays bounded", () => {
  it("over thousands of generated, mutated and rejected requests on one VM", { timeout: TIMEOUT }, async () => {
    const local = new Hosts();
    const host = await local.get(BIG_LIMIT);
    const sample = fc.sample(fc.tuple(wellFormedBody, fc.array(mutation, { maxLength: 2 }), path), { numRuns: 4000, seed: 42 });
    const bodies = sample.map(([{ value }, muts, p]) => ({ p, bytes: mutate(enc.encode(render(value, COMPACT)), muts) }));
    const marks: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (const { p, bytes } of bodies.slice(round * 1000, (round + 1) * 1000))
        await sendChecked(host, BIG_LIMIT, { path: p.path, cls: p.cls, chunks: [bytes] });
      marks.push(host.vmMemoryBytes());
    }
    console.log(`[fuzz] VM memory after each 1,000 requests: ${marks.map((m) => (m / 1048576).toFixed(2) + " MiB").join(", ")}`);
    local.close();
    // After the first 1,000 (warm-up: pools, index tables), no growth beyond 1 MiB over 3,000 more requests.
    expect(marks[3] - marks[0]).toBeLessThanOrEqual(1024 * 1024);
    expect(marks[3]).toBeLessThanOrEqual(16 * 1024 * 1024);
  });

  it("element bound caps the worst amplification: 7.7 MB of empty messages is refused, 65,536 route", { timeout: TIMEOUT }, async () => {
    // Each `{}` message costs the parser ~200 B of VM heap (Message objects, arrays), doubled
    // by the incremental GC's high-water mark. Before MAX_ELEMENTS (assembly/request/parse.ts)
    // a 7.7 MB body of `{}` messages grew the VM to ~1 GiB, Envoy's per-VM cap.
    const local = new Hosts();
    const host = await local.get(BIG_LIMIT);
    const huge = enc.encode('{"model":"m","messages":[' + Array(2_500_000).fill("{}").join(",") + "]}");
    const atBound = enc.encode('{"model":"m","messages":[' + Array(65536).fill("{}").join(",") + "]}");
    for (let i = 0; i < 3; i++) {
      const refused = await sendChecked(host, BIG_LIMIT, { path: "/v1/chat/completions", cls: "chat_completions", chunks: [huge] });
      expect(refused.kind).toBe("reject");
      expect((await sendChecked(host, BIG_LIMIT, { path: "/v1/chat/completions", cls: "chat_completions", chunks: [atBound] })).kind).toBe("route");
    }
    const mib = host.vmMemoryBytes() / 1048576;
    console.log(`[fuzz] VM memory after 3 × (${(huge.length / 1048576).toFixed(1)} MB refused + 65,536 empty messages routed): ${mib.toFixed(0)} MiB`);
    local.close();
    expect(mib).toBeLessThanOrEqual(96);
  });
});
