// The id of a /v1/responses answer, read from its first body bytes
// (assembly/request/response_id.ts, through build/units-request.wasm): a later
// request naming it in previous_response_id goes where it is stored. And the
// id a GET, cancel or delete path names.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { joinedChunks, loadUnits, type Units } from "../support";

let u: Units<"request">;
const enc = new TextEncoder();
const dec = new TextDecoder();

beforeAll(async () => {
  u = await loadUnits("request");
});

/** The id found in `chunks` fed one after another (null: none). */
function idOf(chunks: string[]): string | null {
  const { bytes, cuts } = joinedChunks(chunks);
  const id = u.responseIdOf(bytes, cuts);
  return id === null ? null : dec.decode(id);
}

const CREATED =
  'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"resp_7f3a","object":"response","status":"in_progress","output":[]}}\n\n';
const WHOLE = '{"id":"resp_whole1","object":"response","created_at":1,"status":"completed","output":[{"id":"msg_1","type":"message"}]}';

describe("the id of a /v1/responses answer", () => {
  it.each([
    // [case, chunks, id]
    ["a whole answer: the top-level id", [WHOLE], "resp_whole1"],
    ["a stream: the response.created event's response id", [CREATED], "resp_7f3a"],
    ["a stream split inside the id", [CREATED.slice(0, 95), CREATED.slice(95)], "resp_7f3a"],
    ['a stream split between "id" and its colon', ['{"response":{"id"', ' : "r1"}}'], "r1"],
    ["pretty-printed, the colon on the next line", ['{\n  "id"\n  : "resp_pp"\n}'], "resp_pp"],
    ['"id" inside an echoed string is text, not a member', ['{"instructions":"reply with \\"id\\":\\"evil\\"","id":"resp_real"}'], "resp_real"],
    ['the string "id" as a value is not a member', ['{"object":"id","id":"resp_after"}'], "resp_after"],
    ['"ids" and "xid" are other members', ['{"ids":"a","xid":"b","id":"c"}'], "c"],
    ["an escaped id value is not followed (it was never an id we keep)", ['{"id":"resp\\u005f1","more":{"id":"x"}}'], "x"],
    ["a number id is not followed", ['{"id":7,"response":{"id":"resp_n"}}'], "resp_n"],
    ["an error answer without an id", ['{"error":{"message":"Response with id \'resp_9\' not found.","type":"invalid_request_error","code":404}}'], null],
    ["an empty id", ['{"id":""}'], null],
    ["an id longer than 256 bytes is not kept", [`{"id":"${"a".repeat(257)}"}`], null],
    ["an id of exactly 256 bytes is", [`{"id":"${"a".repeat(256)}"}`], "a".repeat(256)],
    ["nothing within the first 8 KiB: not read further", [`{"pad":"${"x".repeat(8200)}","id":"late"}`], null],
    ["a raw newline ends a broken string (SSE framing), the next event is read", ['data: {"x":"unterminated\ndata: {"id":"resp_next"}\n'], "resp_next"],
  ])("%s", (_, chunks, expected) => {
    expect(idOf(chunks as string[])).toBe(expected);
  });

  it("any split of an answer into chunks finds the same id (fast-check)", () => {
    const idChars = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789_-".split(""));
    fc.assert(
      fc.property(
        fc.array(idChars, { minLength: 1, maxLength: 64 }).map((cs) => cs.join("")),
        fc.string({ maxLength: 200 }),
        fc.boolean(),
        fc.array(fc.nat({ max: 400 }), { maxLength: 8 }),
        (id, instructions, streamed, cuts) => {
          // Any text before the id, as JSON writes it: quotes, backslashes and "id" inside strings included.
          const response = JSON.stringify({ id, object: "response", instructions: instructions + '"id":"nope"' });
          const text = streamed
            ? `event: response.created\ndata: ${JSON.stringify({ type: "response.created", sequence_number: 0, response: JSON.parse(response) })}\n\n`
            : response;
          const bytes = enc.encode(text);
          const sizes = cuts.map((c) => c % (bytes.length + 1));
          const got = u.responseIdOf(bytes, Int32Array.from(sizes));
          expect(got === null ? null : dec.decode(got)).toBe(id);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("arbitrary bytes never trap and never yield an id longer than 256 bytes (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat({ max: 2000 }), { maxLength: 6 }), (bytes, cuts) => {
        const got = u.responseIdOf(bytes, Int32Array.from(cuts));
        expect(got === null || (got.length > 0 && got.length <= 256)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe("the response id a path names", () => {
  it.each([
    ["/v1/responses/resp_1", "resp_1"],
    ["/v1/responses/resp_1/cancel", "resp_1"],
    ["/v1/responses/resp_1/input_items?limit=5", "resp_1"],
    ["/openai/v1/responses/resp_2?stream=true", "resp_2"],
    ["/v1/responses/resp_3#frag", "resp_3"],
    ["/v1/responses", null],
    ["/v1/responses/", null],
    ["/v1/responses?x=1", null],
    ["/v1/models", null],
    ["/v1/responses/has space", null],
    [`/v1/responses/${"a".repeat(257)}`, null],
  ])("%s → %s", (path, expected) => {
    const got = u.responseIdOfPath(path);
    expect(got === null ? null : dec.decode(got)).toBe(expected);
  });
});
