// Properties of the rendering + chain over real bodies (parsed by
// request/parse.ts inside build/units-hashing.wasm), issue 7 point 2:
//  (a) a conversation extended by more turns keeps every full block of the
//      shorter one as a prefix of the longer one's blocks;
//  (b) a change in an earlier message, in tools, in the model or in the salt
//      changes every hash from that point on (and none before);
//  (c) key order and whitespace in the JSON change no hash.
// Plus the seed's growing-conversation test through the index (§2.7).
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits } from "./units";

let u: any;
const enc = new TextEncoder();
const CHAT = 1;

beforeAll(async () => {
  u = await loadUnits("hashing");
});

const text = fc.string({ unit: "grapheme", maxLength: 40 });
const part = fc.oneof(
  fc.record({ type: fc.constant("text"), text }),
  fc.record({ type: fc.constant("image_url"), image_url: fc.record({ url: fc.webUrl() }) }),
  fc.record({ type: fc.constant("input_audio"), input_audio: fc.record({ data: fc.base64String({ maxLength: 24 }), format: fc.constant("wav") }) }),
);
const message = fc.oneof(
  fc.record({ role: fc.constantFrom("system", "user", "assistant"), content: text }),
  fc.record({ role: fc.constant("user"), content: fc.array(part, { minLength: 1, maxLength: 3 }) }),
  fc.record({
    role: fc.constant("assistant"),
    content: fc.constant(null),
    tool_calls: fc.array(fc.record({ id: fc.string({ maxLength: 8 }), type: fc.constant("function"), function: fc.record({ name: fc.string({ maxLength: 8 }), arguments: fc.json() }) }), { minLength: 1, maxLength: 2 }),
  }),
  fc.record({ role: fc.constant("tool"), tool_call_id: fc.string({ maxLength: 8 }), content: text }),
);
const tools = fc.option(fc.array(fc.record({ type: fc.constant("function"), function: fc.record({ name: fc.string({ maxLength: 10 }), description: text }) }), { minLength: 1, maxLength: 2 }), { nil: undefined });
const cfg = fc.record({ S: fc.integer({ min: 1, max: 24 }), trailing: fc.boolean() });

function chatBody(model: string, msgs: unknown[], t?: unknown, salt?: string) {
  const b: any = { model, messages: msgs };
  if (t !== undefined) b.tools = t;
  if (salt !== undefined) b.cache_salt = salt;
  return JSON.stringify(b);
}
const hashes = (body: string, S: number, trailing: boolean): string[] => {
  const r: string = u.hashBodyHex(enc.encode(body), CHAT, "", S, 100000, trailing);
  if (r.startsWith("!")) throw new Error(r);
  return r === "" ? [] : r.split(" ");
};
const renderLen = (body: string) => {
  const r: string = u.renderHex(enc.encode(body), CHAT);
  if (r.startsWith("!")) throw new Error(r);
  return r.length / 2;
};
/** Bytes before the first message (tools etc.); a chat body needs ≥ 1 message, so by difference. */
const headerLen = (t: unknown) => {
  const x = [{ role: "user", content: "x" }];
  return renderLen(chatBody("m", x, t)) - renderLen(chatBody("m", x));
};
/** Offset of message j in the rendering. */
const messageOffset = (msgs: unknown[], j: number, t: unknown) => (j === 0 ? headerLen(t) : renderLen(chatBody("m", msgs.slice(0, j), t)));

describe("(a) extending a conversation keeps every full block", () => {
  it("holds for random conversations, tools and block sizes", () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 5 }), fc.array(message, { minLength: 1, maxLength: 4 }), tools, cfg, (short, more, t, { S, trailing }) => {
        const a = chatBody("m", short, t);
        const b = chatBody("m", [...short, ...more], t);
        const ra: string = u.renderHex(enc.encode(a), CHAT);
        expect((u.renderHex(enc.encode(b), CHAT) as string).startsWith(ra)).toBe(true);
        const full = Math.floor(ra.length / 2 / S);
        expect(hashes(b, S, trailing).slice(0, full)).toEqual(hashes(a, S, trailing).slice(0, full));
      }),
      { numRuns: 150 },
    );
  });
});

/** Asserts: hashes before block floor(d/S) equal, every hash from there on differs. */
function expectChangedFrom(before: string[], after: string[], d: number, S: number) {
  const first = Math.floor(d / S);
  const n = Math.min(before.length, after.length);
  for (let i = 0; i < n; i++) {
    if (i < first) expect(after[i]).toBe(before[i]);
    else expect(after[i]).not.toBe(before[i]);
  }
}
function firstDiff(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return Math.floor(i / 2);
}

describe("(b) a change changes every hash from that point on", () => {
  it("in an earlier message", () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 2, maxLength: 5 }), fc.nat(), text, tools, cfg, (msgs, pick, replacement, t, { S, trailing }) => {
        const j = pick % (msgs.length - 1); // not the last message
        const changed = msgs.slice();
        changed[j] = { role: "user", content: replacement + "#" + JSON.stringify(msgs[j]) }; // surely different
        const a = chatBody("m", msgs, t);
        const b = chatBody("m", changed, t);
        const d = firstDiff(u.renderHex(enc.encode(a), CHAT), u.renderHex(enc.encode(b), CHAT));
        expect(d).toBeGreaterThanOrEqual(messageOffset(msgs, j, t)); // earlier messages untouched
        expectChangedFrom(hashes(a, S, trailing), hashes(b, S, trailing), d, S);
      }),
      { numRuns: 150 },
    );
  });

  it("in tools (everything changes: tools come first)", () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 4 }), fc.string({ minLength: 1, maxLength: 10 }), cfg, (msgs, name, { S, trailing }) => {
        const t1 = [{ type: "function", function: { name: "f" } }];
        const t2 = [{ type: "function", function: { name: "f" + name } }];
        const a = chatBody("m", msgs, t1);
        const b = chatBody("m", msgs, t2);
        const d = firstDiff(u.renderHex(enc.encode(a), CHAT), u.renderHex(enc.encode(b), CHAT));
        expect(d).toBeLessThan(headerLen(t1));
        expectChangedFrom(hashes(a, S, trailing), hashes(b, S, trailing), d, S);
      }),
      { numRuns: 100 },
    );
  });

  it("in the model or the salt (every hash changes)", () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 4 }), fc.string({ minLength: 1, maxLength: 10 }), cfg, (msgs, extra, { S, trailing }) => {
        const base = hashes(chatBody("m", msgs, undefined, "s"), S, trailing);
        expectChangedFrom(base, hashes(chatBody("m" + extra, msgs, undefined, "s"), S, trailing), 0, S);
        expectChangedFrom(base, hashes(chatBody("m", msgs, undefined, "s" + extra), S, trailing), 0, S);
      }),
      { numRuns: 100 },
    );
  });
});

/** JSON text of `v` with object keys in a shuffled order and random whitespace. */
function scramble(v: unknown, rnd: () => number): string {
  const ws = () => [" ", "", "\n", "\t", "  "][Math.floor(rnd() * 5)];
  if (Array.isArray(v)) return "[" + ws() + v.map((x) => scramble(x, rnd)).join(ws() + "," + ws()) + ws() + "]";
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v).sort(() => rnd() - 0.5);
    return "{" + ws() + keys.map((k) => JSON.stringify(k) + ws() + ":" + ws() + scramble((v as any)[k], rnd)).join("," + ws()) + ws() + "}";
  }
  return JSON.stringify(v);
}

describe("(c) key order and whitespace change no hash", () => {
  it("holds for random chat bodies", () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 4 }), tools, fc.integer({ min: 1, max: 2 ** 31 }), cfg, (msgs, t, seed, { S, trailing }) => {
        const body: any = { model: "m", messages: msgs, chat_template_kwargs: { a: 1, b: [true, null, "x"] } };
        if (t !== undefined) body.tools = t;
        let x = seed;
        const rnd = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
        expect(hashes(scramble(body, rnd), S, trailing)).toEqual(hashes(JSON.stringify(body), S, trailing));
      }),
      { numRuns: 150 },
    );
  });
});

describe("seed TestPrefixPluginChatCompletionsGrowth (S=8) through the index", () => {
  it("2 → 4 → 6 messages: pod1 score = cached/total, pod2 0, final > 0.5", () => {
    const s = u.storeNew();
    const ix = u.indexNew(s, 31250, 16, 16, 128, 8);
    u.indexInit(ix);
    const pool = "10.0.0.1:8000,10.0.0.2:8000";
    const turns = [
      { role: "system", content: "You are a helpful assistant with extensive knowledge." },
      { role: "user", content: "Hello, can you help me with a question about machine learning?" },
      { role: "assistant", content: "Of course! I'd be happy to help you with your machine learning question." },
      { role: "user", content: "What is the difference between supervised and unsupervised learning?" },
      { role: "assistant", content: "Supervised learning uses labelled data; unsupervised learning finds structure in unlabelled data." },
      { role: "user", content: "Can you give me an example of each?" },
    ];
    let prevFull = 0;
    let prevCount = 0;
    let last = 0;
    for (const n of [2, 4, 6]) {
      const body = chatBody("test-model1", turns.slice(0, n));
      const h = u.hashBodyBytes(enc.encode(body), CHAT, 8, 256, true);
      const count = h.length / 8;
      expect(count).toBeGreaterThan(prevCount);
      const scores = Array.from(u.indexScoreAndRecord(ix, h, pool, "10.0.0.1:8000", 1_000 * n) as Float64Array);
      expect(scores[0]).toBeCloseTo(prevFull / count, 12); // every full block of the previous turn is cached
      expect(scores[1]).toBe(0);
      prevFull = Math.floor(renderLen(body) / 8);
      prevCount = count;
      last = scores[0];
    }
    expect(last).toBeGreaterThan(0.5);
  });
});
