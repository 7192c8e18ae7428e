// Fuzz: generated and mutated request bodies through the parser and output in
// build/units-request.wasm. Zero traps; every body ends as a
// routed structured request or a 400 (413 past the limit), and the outcome
// agrees with V8 on whether the bytes are JSON at all.
//
//   FUZZ_RUNS=5000   (default; split over the properties below; fits CI)
//   FUZZ_RUNS=100000 npx vitest run test/unit/request.fuzz.test.ts   (the full run)
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { referenceValid } from "../fixtures/requests/reference";
import { loadUnits, mutate, mutation, type Units } from "../support";

const TOTAL = Number(process.env.FUZZ_RUNS ?? 5000);
const PATHS = ["/v1/chat/completions", "/v1/completions", "/v1/responses", "/"];
const API_BY_PATH: Record<string, number> = { "/v1/chat/completions": 1, "/v1/completions": 0, "/v1/responses": 2, "/": -1 };
const CODES = new Set(["invalid_json", "invalid_type", "missing_field", "empty_field", "invalid_value", "body_too_large"]);

let u: Units<"request">;
const enc = new TextEncoder();
const dec = new TextDecoder();
beforeAll(async () => {
  u = await loadUnits("request");
});

/** Runs one body; asserts the invariants; returns the decision object. */
function check(path: string, bytes: Uint8Array, limit = 0): any {
  const line: string = u.decide("POST", path, "x-request-id: f", bytes, limit);
  const got = JSON.parse(line);
  const valid = referenceValid(bytes);
  if (got.decision === "route") {
    expect(valid).toBe(true);
    expect(typeof got.request.targetModel).toBe("string");
    const key = Object.keys(got.request.body)[0];
    expect(["completions", "chat_completions", "responses"]).toContain(key);
    // The forwarded body is the client's, byte for byte, except the rewritten model.
    const rewritten: Uint8Array = u.rewrite(bytes, API_BY_PATH[path], "fuzz-model")!;
    const before = JSON.parse(dec.decode(bytes));
    const after = JSON.parse(dec.decode(rewritten));
    expect(after).toEqual({ ...before, model: "fuzz-model" });
  } else {
    expect(got.decision).toBe("reject");
    expect(CODES.has(got.error.code)).toBe(true);
    if (got.error.code === "body_too_large") {
      expect(got.status).toBe(413);
    } else {
      expect(got.status).toBe(400);
      expect(got.error.code === "invalid_json").toBe(!valid);
    }
  }
  return got;
}

// ---- generators -----------------------------------------------------------

const anyJson = fc.jsonValue({ maxDepth: 3 });
const text = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: "binary", maxLength: 20 }), fc.constantFrom("", "\u0000", "\ud83d\ude00", 'é\n"\\'));
const maybe = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: a }, { weight: 1, arbitrary: anyJson });

const part = fc.oneof(
  fc.record({ type: fc.constant("text"), text: maybe(text) }, { requiredKeys: ["type"] }),
  fc.record({ type: fc.constantFrom("image_url", "input_audio", "video_url", "file", "x"), image_url: fc.record({ url: text }) }, { requiredKeys: [] }),
  anyJson,
);
const message = fc.record(
  {
    role: maybe(fc.constantFrom("system", "developer", "user", "assistant", "tool")),
    content: maybe(fc.oneof(text, fc.constant(null), fc.array(part, { maxLength: 3 }))),
    name: maybe(text),
    tool_calls: maybe(fc.array(anyJson, { maxLength: 2 })),
    tool_call_id: maybe(text),
  },
  { requiredKeys: [] },
);
const tokenIds = fc.array(fc.oneof(fc.nat(), fc.integer(), fc.double()), { maxLength: 4 });
const requestBody = fc.record(
  {
    model: maybe(text),
    stream: maybe(fc.boolean()),
    messages: maybe(fc.array(maybe(message), { maxLength: 4 })),
    prompt: maybe(fc.oneof(text, fc.array(text, { maxLength: 3 }), tokenIds, fc.array(tokenIds, { maxLength: 3 }))),
    input: maybe(fc.oneof(text, fc.array(maybe(fc.object({ maxDepth: 1 })), { maxLength: 3 }))),
    tools: maybe(fc.array(anyJson, { maxLength: 2 })),
    documents: maybe(fc.array(anyJson, { maxLength: 2 })),
    chat_template: maybe(text),
    chat_template_kwargs: maybe(fc.object({ maxDepth: 1 })),
    add_generation_prompt: maybe(fc.boolean()),
    cache_salt: maybe(text),
    instructions: maybe(text),
    extra: anyJson,
  },
  { requiredKeys: [] },
);
const bodyText = requestBody.map((b) => JSON.stringify(b));

const N = { generated: Math.ceil(TOTAL * 0.45), mutated: Math.ceil(TOTAL * 0.45), bytes: Math.ceil(TOTAL * 0.1) };

describe(`request fuzz (FUZZ_RUNS=${TOTAL})`, () => {
  it(`generated request bodies (${N.generated})`, () => {
    fc.assert(
      fc.property(fc.constantFrom(...PATHS), bodyText, (p, s) => void check(p, enc.encode(s))),
      { numRuns: N.generated },
    );
  });

  it(`mutated request bodies (${N.mutated})`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PATHS),
        bodyText,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (p, s, m) => void check(p, mutate(enc.encode(s), m)),
      ),
      { numRuns: N.mutated },
    );
  });

  it(`random bytes and near-JSON (${N.bytes})`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PATHS),
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc.json().map((s) => enc.encode(s)),
        ),
        (p, b) => void check(p, b),
      ),
      { numRuns: N.bytes },
    );
  });

  it("with a body limit, larger bodies get 413 and smaller ones are parsed", () => {
    fc.assert(
      fc.property(bodyText, fc.integer({ min: 1, max: 400 }), (s, limit) => {
        const b = enc.encode(s);
        const got = check("/v1/chat/completions", b, limit);
        if (b.length > limit) expect(got.status).toBe(413);
        else expect(got.status ?? 200).not.toBe(413);
      }),
      { numRuns: 200 },
    );
  });
});

describe("hostile bodies", () => {
  const chat = (content: string) => `{"model":"m","messages":[{"role":"user","content":${content}}]}`;
  const cases: [string, () => Uint8Array, string][] = [
    ["100,000 nested arrays", () => enc.encode("[".repeat(100000) + "]".repeat(100000)), "invalid_json"],
    ["100,000 nested arrays, unclosed, inside messages", () => enc.encode('{"model":"m","messages":' + "[".repeat(100000)), "invalid_json"],
    [
      "100,000 nested objects in an ignored field",
      () => enc.encode('{"model":"m","x":' + '{"a":'.repeat(100000) + "1" + "}".repeat(100000) + "}"),
      "invalid_json",
    ],
    ["100,000 nested arrays as content", () => enc.encode(chat("[".repeat(100000) + "]".repeat(100000))), "invalid_json"],
    ["10 MB string", () => enc.encode(chat(JSON.stringify("x".repeat(10 * 1024 * 1024)))), "route"],
    ["10 MB string of escapes", () => enc.encode(chat('"' + "\\n\\u00e9".repeat(1024 * 1024) + '"')), "route"],
    ["10 MB unterminated string", () => enc.encode(chat('"' + "y".repeat(10 * 1024 * 1024))), "invalid_json"],
    ["invalid UTF-8 in content", () => Uint8Array.from([...enc.encode(chat('"a')).slice(0, -4), 0xc3, 0x28, ...enc.encode('"}]}')]), "invalid_json"],
    ["invalid UTF-8 in the model", () => Uint8Array.from([...enc.encode('{"model":"'), 0xff, ...enc.encode('","prompt":"p"}')]), "invalid_json"],
    ["UTF-8 encoded surrogate", () => Uint8Array.from([...enc.encode('{"model":"m","prompt":"'), 0xed, 0xa0, 0x80, ...enc.encode('"}')]), "invalid_json"],
    [
      "1e999 everywhere it is not interpreted",
      () => enc.encode('{"model":"m","temperature":1e999,"top_p":-1e-999,"messages":[{"role":"user","content":"x","w":1e999}]}'),
      "route",
    ],
    ["1e999 as a token id", () => enc.encode('{"model":"m","prompt":[1e999]}'), "invalid_value"],
    ["raw NUL byte in a string", () => enc.encode(chat('"a\u0000b"')), "invalid_json"],
    ["raw NUL byte between tokens", () => enc.encode('{"model":"m",\u0000"prompt":"p"}'), "invalid_json"],
    ["escaped NUL", () => enc.encode(chat('"a\\u0000b"')), "route"],
    ["10,000 duplicate model keys", () => enc.encode("{" + '"model":"a",'.repeat(10000) + '"model":"last","prompt":"p"}'), "route"],
    [
      "65,536 messages (the element bound)",
      () => enc.encode('{"model":"m","messages":[' + Array(65536).fill('{"role":"user","content":"hi"}').join(",") + "]}"),
      "route",
    ],
    [
      "100,000 messages (past the element bound)",
      () => enc.encode('{"model":"m","messages":[' + Array(100000).fill('{"role":"user","content":"hi"}').join(",") + "]}"),
      "too_many_elements",
    ],
    ["100,000 token ids", () => enc.encode('{"model":"m","prompt":[' + Array(100000).fill("4294967295").join(",") + "]}"), "route"],
  ];
  for (const [name, make, want] of cases) {
    it(name, () => {
      const bytes = make();
      const path = Buffer.from(bytes).includes('"prompt"') ? "/v1/completions" : "/v1/chat/completions";
      const got = u.decide("POST", path, "", bytes, 0);
      const decision = JSON.parse(got);
      expect(decision.decision === "route" ? "route" : decision.error.code).toBe(want);
      if (want !== "route" && want !== "invalid_value" && want !== "too_many_elements") expect(referenceValid(bytes)).toBe(false);
    });
  }
  it("the last duplicate model is the target", () => {
    const got = JSON.parse(u.decide("POST", "/v1/completions", "", enc.encode('{"model":"a","model":"b","prompt":"p"}'), 0));
    expect(got.request.targetModel).toBe("b");
  });
});
