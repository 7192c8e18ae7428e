// The output-token limit a body asks for (ParsedBody.maxTokens): a hint for
// when the request ends (pool/decode_ends.ts), read from its API's field and
// never a reason to refuse the body.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, type Units } from "../support";

let u: Units<"request">;
const enc = new TextEncoder();
const COMPLETIONS = 0;
const CHAT = 1;
const RESPONSES = 2;
const BY_SHAPE = -1;

beforeAll(async () => {
  u = await loadUnits("request");
});

const chat = (extra: string) => `{"model":"m","messages":[{"role":"user","content":"hi"}]${extra}}`;

describe("max tokens asked for", () => {
  it.each([
    // [case, body, api, expected]
    ["chat, max_tokens", chat(',"max_tokens":128'), CHAT, 128],
    ["chat, max_completion_tokens", chat(',"max_completion_tokens":64'), CHAT, 64],
    ["chat, both: max_completion_tokens first (as vLLM reads them)", chat(',"max_completion_tokens":64,"max_tokens":128'), CHAT, 64],
    ["chat, both, max_tokens written first", chat(',"max_tokens":128,"max_completion_tokens":64'), CHAT, 64],
    ["chat, neither", chat(""), CHAT, 0],
    ["chat, max_output_tokens is the responses API's: ignored", chat(',"max_output_tokens":32'), CHAT, 0],
    ["chat, null", chat(',"max_tokens":null'), CHAT, 0],
    ["chat, 0", chat(',"max_tokens":0'), CHAT, 0],
    ["chat, negative", chat(',"max_tokens":-5'), CHAT, 0],
    ["chat, a fraction", chat(',"max_tokens":12.5'), CHAT, 0],
    ["chat, an exponent", chat(',"max_tokens":1e3'), CHAT, 0],
    ["chat, a string", chat(',"max_tokens":"128"'), CHAT, 0],
    ["chat, an object", chat(',"max_tokens":{"n":1}'), CHAT, 0],
    ["chat, above i32", chat(',"max_tokens":4294967295'), CHAT, 0],
    ["chat, the largest i32", chat(',"max_tokens":2147483647'), CHAT, 2147483647],
    ["chat, repeated: the last wins", chat(',"max_tokens":10,"max_tokens":20'), CHAT, 20],
    ["chat, a valid one then an invalid one: the last wins", chat(',"max_tokens":10,"max_tokens":"x"'), CHAT, 0],
    ["completions, max_tokens", '{"model":"m","prompt":"hi","max_tokens":16}', COMPLETIONS, 16],
    ["completions, max_completion_tokens is not a completions field", '{"model":"m","prompt":"hi","max_completion_tokens":16}', COMPLETIONS, 0],
    ["by shape: completions", '{"model":"m","prompt":"hi","max_tokens":7}', BY_SHAPE, 7],
    ["responses, max_output_tokens", '{"model":"m","input":"hi","max_output_tokens":256}', RESPONSES, 256],
    ["responses, max_tokens is not a responses field", '{"model":"m","input":"hi","max_tokens":256}', RESPONSES, 0],
  ] as const)("%s", (_case, body, api, expected) => {
    expect(u.maxTokensOf(enc.encode(body), api)).toBe(expected);
  });

  it("any JSON value there parses the body as without it (never an error)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom("max_tokens", "max_completion_tokens", "max_output_tokens"), (value, key) => {
        const body = chat(`,${JSON.stringify(key)}:${JSON.stringify(value)}`);
        const got = u.maxTokensOf(enc.encode(body), CHAT);
        const want =
          key !== "max_output_tokens" &&
          Number.isInteger(value) &&
          (value as number) > 0 &&
          (value as number) <= 2147483647 &&
          !/[.eE]/.test(JSON.stringify(value))
            ? value
            : 0;
        expect(got).toBe(want);
      }),
    );
  });
});
