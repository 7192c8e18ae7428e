// When a streamed answer's first token has come back (assembly/request/first_token.ts,
// through build/units-request.wasm): the filter keeps a request's prompt blocks
// queued at its endpoint until then. A /v1/responses stream opens with
// lifecycle events sent before the prefill; chat and completions streams send
// nothing before the first token.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { joinedChunks, loadUnits, type Units } from "../support";

const COMPLETIONS = 0;
const CHAT = 1;
const RESPONSES = 2;
const LIFECYCLE = new Set(["created", "in_progress", "queued"]);

let u: Units<"request">;

beforeAll(async () => {
  u = await loadUnits("request");
});

/** The chunk index at which the scanner sees the first token (-1: never). */
function seenAt(api: number, chunks: string[]): number {
  const { bytes, cuts } = joinedChunks(chunks);
  return u.firstTokenChunk(api, bytes, cuts);
}

/** Reference: where the first complete "response.<name>" that is not a lifecycle event ends (its terminator), or -1. */
function firstOutputNameEnd(whole: string): number {
  for (const m of whole.matchAll(/response\.([a-z0-9_.]*)/g)) {
    const stop = (m.index ?? 0) + m[0].length;
    if (stop < whole.length && m[1].length > 0 && !LIFECYCLE.has(m[1])) return stop;
  }
  return -1;
}

const event = (name: string, data = `{"type":"response.${name}"}`) => `event: response.${name}\ndata: ${data}\n\n`;
const CREATED = event(
  "created",
  '{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[]}}',
);

describe("first token of a stream", () => {
  it.each([
    // [case, api, chunks, chunk at which the first token is seen]
    ["responses: lifecycle events only", RESPONSES, [CREATED, event("in_progress")], -1],
    ["responses: created, in_progress and the first output item in one chunk", RESPONSES, [CREATED + event("in_progress") + event("output_item.added")], 0],
    ["responses: one event per chunk", RESPONSES, [CREATED, event("in_progress"), event("output_text.delta")], 2],
    ["responses: queued before in_progress", RESPONSES, [event("queued"), event("in_progress"), event("content_part.added")], 2],
    ["responses: an output event's name split across chunks", RESPONSES, [CREATED + "event: response.outp", "ut_item.added\ndata: {}\n\n"], 1],
    ['responses: split inside "response."', RESPONSES, [CREATED + "event: resp", "onse.output_text.delta\n"], 1],
    ["responses: a lifecycle name split across chunks", RESPONSES, ["event: response.cre", "ated\ndata: {}\n\n", event("completed")], 2],
    ["responses: a name that ends with its chunk waits for the next byte", RESPONSES, ["event: response.output_item.added", "\n"], 1],
    [
      "responses: data lines without event lines",
      RESPONSES,
      ['data: {"type":"response.created"}\n\n', 'data: {"type":"response.reasoning_text.delta"}\n\n'],
      1,
    ],
    ["responses: the end before any output (failed)", RESPONSES, [CREATED, event("failed")], 1],
    ['responses: "object":"response" is not an event', RESPONSES, ['data: {"object":"response","status":"queued"}\n\n'], -1],
    ["responses: an empty chunk is nothing", RESPONSES, ["", event("output_text.delta")], 1],
    ["chat: the first byte", CHAT, ['data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'], 0],
    ["chat: an empty chunk first", CHAT, ["", "data: {}\n\n"], 1],
    ["completions: the first byte, whatever it says", COMPLETIONS, ["event: response.created\n"], 0],
  ])("%s", (_name, api, chunks, expected) => {
    expect(seenAt(api, chunks)).toBe(expected);
  });

  it("property: any cut of a responses stream gives the chunk that holds the end of its first non-lifecycle event name", () => {
    const names = fc.constantFrom(
      "created",
      "in_progress",
      "queued",
      "output_item.added",
      "content_part.added",
      "output_text.delta",
      "reasoning_text.delta",
      "completed",
    );
    const text = fc.stringMatching(/^[a-z ]{0,30}$/);
    const ev = fc.tuple(names, text, fc.boolean()).map(([name, t, withEventLine]) => {
      const data = `data: {"type":"response.${name}","delta":"${t}"}\n\n`;
      return withEventLine ? `event: response.${name}\n${data}` : data;
    });
    fc.assert(
      fc.property(fc.array(ev, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (events, rawCuts) => {
        const whole = events.join("");
        const cuts = [...new Set(rawCuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let prev = 0;
        for (const c of [...cuts, whole.length]) {
          chunks.push(whole.slice(prev, c));
          prev = c;
        }
        const end = firstOutputNameEnd(whole);
        let expected = -1;
        if (end >= 0) {
          let start = 0;
          expected = chunks.findIndex((c) => {
            const holds = end >= start && end < start + c.length;
            start += c.length;
            return holds;
          });
        }
        expect(seenAt(RESPONSES, chunks)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it("property: arbitrary bytes from an upstream, cut anywhere, never trap and agree with the reference", () => {
    // Bytes in latin1 so that one character is one byte; fragments of event names make matches likely.
    const piece = fc.oneof(
      fc.uint8Array({ maxLength: 24 }).map((b) => String.fromCharCode(...b)),
      fc.constantFrom(
        "response.",
        "response.created",
        "response.in_progress",
        "response.queued",
        "response.output_text.delta",
        "resp",
        "onse.",
        "\n",
        '"',
        "_",
        ".",
      ),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 10 }), (pieces, rawCuts) => {
        const whole = pieces.join("");
        const bytes = Uint8Array.from(whole, (c) => c.charCodeAt(0));
        const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const lengths = cuts.map((c, i) => c - (i === 0 ? 0 : cuts[i - 1]));
        const end = firstOutputNameEnd(whole);
        let expected = -1;
        if (end >= 0) {
          expected = cuts.findIndex((c) => end < c);
          if (expected === -1) expected = cuts.length;
        }
        expect(u.firstTokenChunk(RESPONSES, bytes, Int32Array.from(lengths))).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });
});
