// The request behaviour table (test/scenarios/requests.ts) through the pure
// parser and output in build/units-request.wasm (assembly/request/testing.ts
// `decide`). The host and Envoy tiers run the same rows through the filter.
import { beforeAll, describe, expect, it } from "vitest";
import { requestRows } from "../scenarios/requests";
import { loadUnits, type Units } from "../support";

let u: Units<"request">;
const enc = new TextEncoder();

beforeAll(async () => {
  u = await loadUnits("request");
});

function headerLines(h: Record<string, string>): string {
  return Object.entries(h)
    .map(([k, v]) => `${k}: ${v}`)
    .join("\n");
}

describe("request behaviour table", () => {
  it("covers the seed's 17 cases", () => {
    const seeds = new Set(requestRows.filter((r) => r.source.startsWith("seed #")).map((r) => r.source));
    expect(seeds.size).toBe(17);
  });

  for (const r of requestRows) {
    it(`${r.source}: ${r.name}`, () => {
      const line: string = u.decide(r.method, r.path, headerLines(r.headers), enc.encode(r.body), r.bodyLimit ?? 0);
      const got = JSON.parse(line);
      if (r.line !== undefined) expect(line).toBe(r.line);
      const want = r.expect;
      expect(got.decision).toBe(want.decision);
      if (want.decision === "route") {
        expect(got.request).toEqual(want.request);
        if (want.stream !== undefined) {
          const api = u.apiOf(r.method, r.path);
          expect(u.streamOf(enc.encode(r.body), api)).toBe(want.stream ? 1 : 0);
        }
      } else if (want.decision === "reject") {
        expect(got.status).toBe(want.status);
        expect(got.error.type).toBe("invalid_request_error");
        expect(got.error.code).toBe(want.code);
        expect(got.error.param).toBe(want.param);
        expect(typeof got.error.message).toBe("string");
        if (want.param) expect(got.error.message).toContain(`'${want.param}'`);
        expect(Object.keys(got.error)).toEqual(["message", "type", "param", "code"]);
      } else {
        expect(Object.keys(got)).toEqual(["decision"]);
      }
    });
  }
});

describe("model rewrite keeps every other byte", () => {
  const cases: [string, number, string, string][] = [
    ['{ "model" : "old", "prompt":"x", "y":1.0}', -1, "new", '{ "model" : "new", "prompt":"x", "y":1.0}'],
    ['{"prompt":"x","model":"a","model":"b"}', 0, "c", '{"prompt":"x","model":"a","model":"c"}'],
    ['{"model":"\\u006dodel","messages":[{"content":"\\u00e9"}]}', 1, 'q"\\\n\u2028é', '{"model":"q\\"\\\\\\n\u2028é","messages":[{"content":"\\u00e9"}]}'],
  ];
  for (const [body, api, model, want] of cases) {
    it(`${body} → ${JSON.stringify(model)}`, () => {
      const out = u.rewrite(enc.encode(body), api, model);
      expect(new TextDecoder().decode(out!)).toBe(want);
      expect(JSON.parse(new TextDecoder().decode(out!)).model).toBe(model);
    });
  }
});

describe("API detection", () => {
  const cases: [string, string, number][] = [
    ["POST", "/v1/chat/completions", 1],
    ["POST", "/v1/completions", 0],
    ["POST", "/v1/responses", 2],
    ["POST", "/openai/v1/chat/completions", 1],
    ["POST", "/a/b/v1/completions?x=/v1/responses", 0],
    ["POST", "/v1/responses#frag", 2],
    ["POST", "/v1/chat/completions/", 1],
    ["POST", "", -1],
    ["POST", "/", -1],
    ["POST", "/?q=1", -1],
    ["GET", "/v1/chat/completions", -2],
    ["HEAD", "/v1/completions", -2],
    ["POST", "/v1/models", -2],
    ["POST", "/v1/embeddings", -2],
    ["POST", "/health", -2],
    ["POST", "/chat/completions", -2],
    ["POST", "/xv1/completions", -2],
    ["POST", "/v1/responses/resp_1/cancel", -2],
    ["POST", "/V1/COMPLETIONS", -2],
    ["post", "/v1/completions", -2],
  ];
  for (const [m, p, want] of cases) {
    it(`${m} ${JSON.stringify(p)} → ${want}`, () => expect(u.apiOf(m, p)).toBe(want));
  }
});
