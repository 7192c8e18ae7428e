// Properties of the rendering + chain over real bodies (parsed by
// request/parse.ts inside build/units-hashing.wasm):
//  (a) a conversation extended by more turns keeps every full block of the
//      shorter one as a prefix of the longer one's blocks;
//  (b) a change in an earlier message, in tools, in the model or in the salt
//      changes every hash from that point on (and none before);
//  (c) key order and whitespace in the JSON change no hash;
//  (d) two requests whose last message texts share a start P share every
//      block up to the end of P in the rendering (render version 2: no length
//      before a text), also for responses string input and tools;
//  (e) the rendering is injective: it decodes back to the request's fields
//      (so two requests with different fields never render the same), and
//      moved message boundaries or text holding the reserved byte / the
//      terminator never render like another request;
// and the build's rendering and hashes equal the independent reference's on
// random bodies with long texts (00 bytes across the 1 KiB scan pieces).
// Plus the seed's growing-conversation test through the index
// (docs/reference/seed.md#pinned-prefix-tests).
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, hashBody as referenceHashes, render as referenceRender } from "../../src/reference/render.ts";
import { chatBody, lcg, loadUnits, scramble, type ChatMessage, type Units } from "../support";

let u: Units<"hashing">;
const enc = new TextEncoder();
const CHAT = 1;
const RESPONSES = 2;

beforeAll(async () => {
  u = await loadUnits("hashing");
});

/** Text, sometimes built from the reserved byte 0x00, 0xFF (ÿ), tag letters and terminator-like runs. */
const tricky = fc.string({
  unit: fc.constantFrom("\u0000", "\u00ff", "M", "s", "r", "a", "\u0000\u0000", " ", "\u0000\u0000Mruser\u0000\u0000s"),
  maxLength: 12,
});
const text = fc.oneof(fc.string({ unit: "grapheme", maxLength: 40 }), tricky);
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
    tool_calls: fc.array(
      fc.record({
        id: fc.string({ maxLength: 8 }),
        type: fc.constant("function"),
        function: fc.record({ name: fc.string({ maxLength: 8 }), arguments: fc.json() }),
      }),
      { minLength: 1, maxLength: 2 },
    ),
  }),
  fc.record({ role: fc.constant("tool"), tool_call_id: fc.string({ maxLength: 8 }), content: text }),
);
const tools = fc.option(
  fc.array(fc.record({ type: fc.constant("function"), function: fc.record({ name: fc.string({ maxLength: 10 }), description: text }) }), {
    minLength: 1,
    maxLength: 2,
  }),
  { nil: undefined },
);
const cfg = fc.record({ S: fc.integer({ min: 1, max: 24 }), trailing: fc.boolean() });

/** A chat body with model "m"; tools and cache_salt only when given. */
function chat(msgs: readonly unknown[], t?: unknown, salt?: string, model = "m"): string {
  return chatBody(msgs as ChatMessage[], { model, ...(t === undefined ? {} : { tools: t }), ...(salt === undefined ? {} : { cache_salt: salt }) });
}
const hashes = (body: string, S: number, trailing: boolean, api = CHAT): string[] => {
  const r: string = u.hashBodyHex(enc.encode(body), api, "", S, 100000, trailing);
  if (r.startsWith("!")) throw new Error(r);
  return r === "" ? [] : r.split(" ");
};
const renderHex = (body: string, api = CHAT): string => {
  const r: string = u.renderHex(enc.encode(body), api);
  if (r.startsWith("!")) throw new Error(r);
  return r;
};
const renderLen = (body: string, api = CHAT) => renderHex(body, api).length / 2;
/** Bytes before the first message (tools etc.); a chat body needs ≥ 1 message, so by difference. */
const headerLen = (t: unknown) => {
  const x = [{ role: "user", content: "x" }];
  return renderLen(chat(x, t)) - renderLen(chat(x));
};
/** Offset of message j in the rendering. */
const messageOffset = (msgs: unknown[], j: number, t: unknown) => (j === 0 ? headerLen(t) : renderLen(chat(msgs.slice(0, j), t)));

describe("(a) extending a conversation keeps every full block", () => {
  it("holds for random conversations, tools and block sizes", () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 5 }),
        fc.array(message, { minLength: 1, maxLength: 4 }),
        tools,
        cfg,
        (short, more, t, { S, trailing }) => {
          const a = chat(short, t);
          const b = chat([...short, ...more], t);
          const ra: string = u.renderHex(enc.encode(a), CHAT);
          expect((u.renderHex(enc.encode(b), CHAT) as string).startsWith(ra)).toBe(true);
          const full = Math.floor(ra.length / 2 / S);
          expect(hashes(b, S, trailing).slice(0, full)).toEqual(hashes(a, S, trailing).slice(0, full));
        },
      ),
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
        const a = chat(msgs, t);
        const b = chat(changed, t);
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
        const a = chat(msgs, t1);
        const b = chat(msgs, t2);
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
        const base = hashes(chat(msgs, undefined, "s"), S, trailing);
        expectChangedFrom(base, hashes(chat(msgs, undefined, "s", "m" + extra), S, trailing), 0, S);
        expectChangedFrom(base, hashes(chat(msgs, undefined, "s" + extra), S, trailing), 0, S);
      }),
      { numRuns: 100 },
    );
  });
});

describe("(c) key order and whitespace change no hash", () => {
  it("holds for random chat bodies", () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 4 }), tools, fc.integer({ min: 1, max: 2 ** 31 }), cfg, (msgs, t, seed, { S, trailing }) => {
        const body: any = { model: "m", messages: msgs, chat_template_kwargs: { a: 1, b: [true, null, "x"] } };
        if (t !== undefined) body.tools = t;
        expect(hashes(scramble(body, lcg(seed)), S, trailing)).toEqual(hashes(JSON.stringify(body), S, trailing));
      }),
      { numRuns: 150 },
    );
  });
});

/** Number of equal leading entries. */
function sharedLead(a: string[], b: string[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
const utf8Len = (t: string) => enc.encode(t).length;
/** A shared start P of at least `minBytes` UTF-8 bytes (graphemes and reserved bytes mixed). */
const sharedStart = (minBytes: number) =>
  fc
    .array(fc.oneof(fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 }), tricky), { minLength: 1, maxLength: 20 })
    .map((xs) => xs.join(""))
    .filter((p) => utf8Len(p) >= minBytes);
/** Two different continuations (either may be empty; neither a prefix of the other is not required). */
const twoEnds = fc.tuple(text, text).filter(([a, b]) => a !== b);

describe("(d) texts sharing a start share the blocks of that start", () => {
  const k = 2; // P covers at least k blocks' worth of bytes
  it("chat: last user message P ‖ S1 vs P ‖ S2, after random messages and tools, string or text-part content", () => {
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 3 }),
        tools,
        cfg,
        fc.boolean(),
        fc.integer({ min: 1, max: 24 }).chain((S) => fc.tuple(fc.constant(S), sharedStart(k * S))),
        twoEnds,
        (before, t, { trailing }, asPart, [S, P], [s1, s2]) => {
          const last = (x: string) => ({ role: "user", content: asPart ? [{ type: "text", text: x }] : x });
          const a = chat([...before, last(P + s1)], t);
          const b = chat([...before, last(P + s2)], t);
          // Offset of P in the rendering: the same request with an empty last text, minus its 2-byte terminator.
          const offset = renderLen(chat([...before, last("")], t)) - 2;
          const sharedBytes = offset + utf8Len(P);
          // Byte level: the renderings agree through the end of P (escaping only lengthens P's bytes).
          expect(firstDiff(renderHex(a), renderHex(b))).toBeGreaterThanOrEqual(sharedBytes);
          // Block level: every block ending by then is shared, so at least k of P's own blocks are.
          const shared = sharedLead(hashes(a, S, trailing), hashes(b, S, trailing));
          expect(shared).toBeGreaterThanOrEqual(Math.floor(sharedBytes / S));
          expect(shared).toBeGreaterThanOrEqual(Math.floor(offset / S) + k - 1);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("responses: string input and instructions sharing a start", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }).chain((S) => fc.tuple(fc.constant(S), sharedStart(k * S))),
        twoEnds,
        fc.boolean(),
        ([S, P], [s1, s2], inInstructions) => {
          const body = (x: string) =>
            JSON.stringify(inInstructions ? { model: "m", instructions: x, input: "q" } : { model: "m", instructions: "Be brief.", input: x });
          // Instructions come first ('I' then the text); a string input is last (an empty one is invalid: measure with "x").
          const offset = inInstructions ? 1 : renderLen(body("x"), RESPONSES) - 1 - 2;
          const sharedBytes = offset + utf8Len(P);
          expect(firstDiff(renderHex(body(P + s1), RESPONSES), renderHex(body(P + s2), RESPONSES))).toBeGreaterThanOrEqual(sharedBytes);
          const shared = sharedLead(hashes(body(P + s1), S, true, RESPONSES), hashes(body(P + s2), S, true, RESPONSES));
          expect(shared).toBeGreaterThanOrEqual(Math.floor(sharedBytes / S));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("tools: the same tools plus one more share the blocks of the common tools' JSON", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ type: fc.constant("function"), function: fc.record({ name: fc.string({ maxLength: 10 }), description: text }) }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.record({ type: fc.constant("function"), function: fc.record({ name: fc.string({ maxLength: 10 }) }) }),
        fc.array(message, { minLength: 1, maxLength: 2 }),
        cfg,
        (common, extra, msgs, { S, trailing }) => {
          const a = chat(msgs, common);
          const b = chat(msgs, [...common, extra]);
          // 'T' then the canonical JSON of `common` without its closing ']'.
          const sharedBytes = 1 + utf8Len(canonicalJson(common)) - 1;
          expect(firstDiff(renderHex(a), renderHex(b))).toBeGreaterThanOrEqual(sharedBytes);
          expect(sharedLead(hashes(a, S, trailing), hashes(b, S, trailing))).toBeGreaterThanOrEqual(Math.floor(sharedBytes / S));
        },
      ),
      { numRuns: 100 },
    );
  });
});

// ---- (e) injectivity -------------------------------------------------------

type Field = [tag: string, value: string];

/** Reads a rendering back into fields: the grammar of docs/hashing.md §2 (render version 2). */
function decode(hex: string): Field[] {
  const b = Buffer.from(hex, "hex");
  const out: Field[] = [];
  let i = 0;
  const value = (): Buffer => {
    const v: number[] = [];
    for (;;) {
      if (i >= b.length) throw new Error(`unterminated value at ${i}`);
      const x = b[i++];
      if (x !== 0) {
        v.push(x);
        continue;
      }
      if (i >= b.length) throw new Error(`lone 00 at the end`);
      const y = b[i++];
      if (y === 0x00) return Buffer.from(v);
      if (y !== 0xff) throw new Error(`00 ${y.toString(16)} is neither an escape nor an end`);
      v.push(0);
    }
  };
  while (i < b.length) {
    const tag = String.fromCharCode(b[i++]);
    if (tag === "M") out.push(["M", ""]);
    else if (tag === "p") {
      const type = value().toString("utf8");
      if (i + 8 > b.length) throw new Error("short placeholder");
      out.push(["p", type + "#" + b.subarray(i, i + 8).toString("hex")]);
      i += 8;
    } else if ("TDCKIrscinx".includes(tag)) out.push([tag, value().toString("utf8")]);
    else throw new Error(`unknown tag ${b[i - 1]} at ${i - 1}`);
  }
  return out;
}

/** The fields a chat request should render to, from its structure (placeholders: type only, the hash is checked apart). */
function chatFields(body: any): Field[] {
  const f: Field[] = [];
  const json = (tag: string, v: unknown) => v !== undefined && v !== null && f.push([tag, canonicalJson(v)]);
  const str = (tag: string, v: unknown) => typeof v === "string" && f.push([tag, v]);
  json("T", body.tools);
  json("D", body.documents);
  str("C", body.chat_template);
  json("K", body.chat_template_kwargs);
  for (const m of body.messages) {
    f.push(["M", ""]);
    str("r", m.role);
    if (typeof m.content === "string") str("s", m.content);
    else if (Array.isArray(m.content)) for (const p of m.content) f.push(p.type === "text" ? ["s", p.text] : ["p", p.type]);
    json("c", m.tool_calls);
    str("i", m.tool_call_id);
    str("n", m.name);
  }
  return f;
}
const dropHashes = (fs: Field[]): Field[] => fs.map(([t, v]) => (t === "p" ? [t, v.slice(0, v.lastIndexOf("#"))] : [t, v]));

const smallMessage = fc.record({ role: fc.constantFrom("user", "assistant", "M"), content: tricky, name: tricky }, { requiredKeys: ["role", "content"] });

describe("(e) different requests never render the same", () => {
  it("every rendering decodes back to exactly the request's fields (a left inverse: injective)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(message, smallMessage), { minLength: 1, maxLength: 5 }),
        tools,
        fc.option(tricky, { nil: undefined }),
        (msgs, t, template) => {
          const body: any = { model: "m", messages: msgs };
          if (t !== undefined) body.tools = t;
          if (template !== undefined) body.chat_template = template;
          expect(dropHashes(decode(renderHex(JSON.stringify(body))))).toEqual(chatFields(body));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("two random small requests render the same only if they have the same fields", () => {
    const req = fc.array(smallMessage, { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(req, req, (x, y) => {
        const a = { model: "m", messages: x };
        const b = { model: "m", messages: y };
        const same = JSON.stringify(chatFields(a)) === JSON.stringify(chatFields(b));
        expect(renderHex(JSON.stringify(a)) === renderHex(JSON.stringify(b))).toBe(same);
      }),
      { numRuns: 300 },
    );
  });

  it("moving a message boundary or forging one in text changes the rendering and the last hash", () => {
    fc.assert(
      fc.property(
        fc.array(smallMessage, { maxLength: 2 }),
        tricky,
        tricky,
        fc.constantFrom("user", "assistant"),
        fc.integer({ min: 1, max: 24 }),
        (before, x, y, role, S) => {
          // [role: x‖y] vs [role: x, role: y] vs a text that spells the second message's framing inside the first.
          const forged = x + "\u0000\u0000Mr" + role + "\u0000\u0000s" + y;
          const forms = [
            [{ role, content: x + y }],
            [
              { role, content: x },
              { role, content: y },
            ],
            [{ role, content: forged }],
            [
              { role, content: x + "\u0000" },
              { role, content: y },
            ],
          ].map((tail) => chat([...before, ...tail]));
          const rendered = forms.map((b) => renderHex(b));
          expect(new Set(rendered).size).toBe(forms.length);
          // With the trailing block hashed, the last hash covers the whole rendering.
          const lasts = forms.map((b) => hashes(b, S, true).at(-1) ?? "");
          expect(new Set(lasts).size).toBe(forms.length);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("the build renders and hashes like the independent reference", () => {
  // Long texts with 00 bytes around the renderer's 1 KiB scan pieces, and a
  // maxBlocks cap that stops the chain mid-text.
  const longText = fc
    .tuple(fc.integer({ min: 0, max: 3000 }), fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 6 }), fc.constantFrom("x", "é", "😀"))
    .map(([n, zeros, c]) => {
      const chars: string[] = Array.from({ length: n }, () => c);
      for (const z of [...zeros, 1023, 1024, 1025]) if (z < n) chars[z] = "\u0000";
      return chars.join("");
    });
  it("random chat bodies with long texts: same rendering, same hashes (with and without a maxBlocks cap)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(message, fc.record({ role: fc.constant("user"), content: longText })), { minLength: 1, maxLength: 4 }),
        tools,
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 40 }),
        (msgs, t, S, maxBlocks) => {
          const body = chat(msgs, t);
          expect(renderHex(body)).toBe(Buffer.from(referenceRender("chat", JSON.parse(body))).toString("hex"));
          for (const cap of [100000, maxBlocks]) {
            const got: string = u.hashBodyHex(enc.encode(body), CHAT, "", S, cap, true);
            expect(got).toBe(referenceHashes("chat", body, { blockSize: S, maxBlocks: cap, hashTrailingBlock: true }).join(" "));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("canonical forms remembered between requests (the renderer's memo of raw values)", () => {
  // Twelve tool lists, more than the memo holds: pairs of the same length
  // that differ in one byte, and re-spellings (key order, spaces) of the same tools.
  const fn = (name: string, extra = "") => `{"type":"function","function":{"name":"${name}","parameters":{"type":"object"${extra}}}}`;
  const respelled = (name: string) => `{ "function":{"parameters":{"type":"object"},"name":"${name}"},"type":"function" }`;
  const pool: string[] = [];
  for (const name of ["aa", "ab", "ba", "bb"]) pool.push(`[${fn(name)}]`, `[${respelled(name)}]`, `[${fn(name, ',"x":1')}]`);
  it("a request renders and hashes like the reference whatever the memo holds from earlier requests", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { minLength: 1, maxLength: 30 }), (order) => {
        for (const i of order) {
          const body = `{"model":"m","tools":${pool[i]},"messages":[{"role":"user","content":"hello"}]}`;
          const got: string = u.hashBodyHex(enc.encode(body), CHAT, "", 16, 100000, true);
          expect(got).toBe(referenceHashes("chat", body, { blockSize: 16, maxBlocks: 100000, hashTrailingBlock: true }).join(" "));
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe("conversations resumed from the memo (incremental hashing of repeated leading messages)", () => {
  // Sequences of requests as clients send them: a conversation growing turn
  // by turn, forks of it (an earlier turn edited or regenerated), other
  // conversations in between (more than the memo's 8), another model, other
  // tools. Every request's hashes must equal the reference's, whatever the
  // memo holds from the requests before it.
  const step = fc.record({
    conv: fc.integer({ min: 0, max: 11 }),
    op: fc.constantFrom("grow", "grow", "grow", "fork", "retools", "remodel"),
    msg: message,
  });
  it("interleaved conversations (as many as the memo holds) resume all their messages but the new one", () => {
    // Eight conversations of five messages sharing tools and a system prompt, each sent with three
    // different last messages, round after round: from the second round on every request renders one message.
    const system = { role: "system", content: "You are a helpful assistant. ".repeat(20) };
    const body = (conv: number, variant: number) =>
      chat(
        [
          system,
          { role: "user", content: `conversation ${conv} `.repeat(30) },
          { role: "assistant", content: "ok ".repeat(40) },
          { role: "user", content: `turn ${conv}` },
          { role: "user", content: `variant ${variant}` },
        ],
        [{ type: "function", function: { name: "f", description: "a tool" } }],
      );
    for (let v = 0; v < 3; v++) {
      const before = Number(u.conversationResumedMessages());
      for (let conv = 0; conv < 8; conv++) {
        const b = body(conv, v);
        expect(u.hashBodyHex(enc.encode(b), CHAT, "", 16, 100000, true)).toBe(
          referenceHashes("chat", b, { blockSize: 16, maxBlocks: 100000, hashTrailingBlock: true }).join(" "),
        );
      }
      const resumed = Number(u.conversationResumedMessages()) - before;
      if (v > 0) expect(resumed).toBe(8 * 4);
    }
  });

  it("every request hashes like the reference", () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), tools, fc.constantFrom(4, 16, 64), fc.constantFrom(100000, 3, 12), (steps, t, S, cap) => {
        const convs: Array<{ msgs: unknown[]; tools: unknown; model: string }> = Array.from({ length: 12 }, () => ({ msgs: [], tools: t, model: "m" }));
        for (const { conv, op, msg } of steps) {
          const c = convs[conv];
          if (op === "fork" && c.msgs.length > 0) c.msgs = [...c.msgs.slice(0, c.msgs.length - 1), msg];
          else if (op === "retools") c.tools = c.tools === undefined ? [{ type: "function", function: { name: "x" } }] : undefined;
          else if (op === "remodel") c.model = c.model === "m" ? "m2" : "m";
          else c.msgs = [...c.msgs, msg];
          if (c.msgs.length === 0) continue;
          const body = chat(c.msgs, c.tools, undefined, c.model);
          const got: string = u.hashBodyHex(enc.encode(body), CHAT, "", S, cap, true);
          expect(got).toBe(referenceHashes("chat", body, { blockSize: S, maxBlocks: cap, hashTrailingBlock: true }).join(" "));
        }
      }),
      { numRuns: 80 },
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
      const body = chat(turns.slice(0, n), undefined, undefined, "test-model1");
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
