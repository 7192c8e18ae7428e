// Stored responses in the simulated servers, as vLLM keeps them
// (src/sim/stored-responses.ts): in each server's own memory. A
// previous_response_id continues the conversation on the server that
// answered it (its history is in the prompt, and cached there) and is 404
// on any other; store: false keeps nothing; GET /v1/responses/{id} reads one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimPool, type SimPool } from "../../src/sim/server.js";
import { StoredResponses } from "../../src/sim/stored-responses.js";

const FAST = { timeScale: 0.01, overheadMs: 50, prefillMsPerToken: 1, decodeMsPerToken: 10, blockSize: 16 };

async function respond(url: string, body: Record<string, unknown>): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/v1/responses`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "sim-model", max_output_tokens: 8, ...body }),
  });
  return { status: res.status, json: await res.json() };
}

describe("stored responses, one server's own", () => {
  let pool: SimPool;
  beforeAll(async () => {
    pool = await startSimPool(2, FAST);
  });
  afterAll(async () => {
    await pool.close();
  });

  it("a continuation on the answering server sees the history (longer prompt, cached); on another it is 404 with vLLM's message", async () => {
    const [a, b] = pool.urls;
    const question = "Describe the gearbox of a touring bicycle in detail. ".repeat(20);
    const first = await respond(a, { instructions: "Be brief.", input: question });
    expect(first.status).toBe(200);
    const id: string = first.json.id;
    expect(id).toMatch(/^resp_sim[0-9a-f]{8}-\d+$/);
    const next = await respond(a, { input: "And the chain?", previous_response_id: id });
    expect(next.status).toBe(200);
    expect(next.json.id).not.toBe(id);
    const firstIn = first.json.usage.input_tokens;
    expect(next.json.usage.input_tokens).toBeGreaterThan(firstIn);
    // The first prompt's whole blocks are cached on this server (16-token blocks).
    expect(next.json.usage.input_tokens_details.cached_tokens).toBeGreaterThanOrEqual(Math.floor((firstIn - 16) / 16) * 16);
    const elsewhere = await respond(b, { input: "And the chain?", previous_response_id: id });
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.json.error.message).toBe(`Response with id '${id}' not found.`);
  });

  it("ids differ between servers of a pool; store: false keeps nothing; GET reads a stored answer on its server only", async () => {
    const [a, b] = pool.urls;
    const onA = await respond(a, { input: "hello" });
    const onB = await respond(b, { input: "hello" });
    expect(onA.json.id).not.toBe(onB.json.id);
    const unstored = await respond(a, { input: "forget me", store: false });
    expect((await respond(a, { input: "x", previous_response_id: unstored.json.id })).status).toBe(404);
    const got = await fetch(`${a}/v1/responses/${onA.json.id}`);
    expect(got.status).toBe(200);
    const read = await got.json();
    expect(read.id).toBe(onA.json.id);
    expect(read.output[0].content[0].text).toBe(onA.json.output[0].content[0].text);
    expect((await fetch(`${b}/v1/responses/${onA.json.id}`)).status).toBe(404);
  });

  it("reset forgets every stored answer", async () => {
    const [a] = pool.urls;
    const r = await respond(a, { input: "remember" });
    pool.reset();
    expect((await respond(a, { input: "x", previous_response_id: r.json.id })).status).toBe(404);
  });
});

describe("StoredResponses", () => {
  it("keeps the newest answers up to its bound", () => {
    const s = new StoredResponses(2);
    for (const id of ["r1", "r2", "r3"]) s.remember({ id, model: "m", items: [], text: id });
    expect(s.size).toBe(2);
    expect(() => s.get("r1")).toThrow("Response with id 'r1' not found.");
    expect(s.get("r3").text).toBe("r3");
  });

  it("a continuation's body: its new instructions, the stored messages, the answer as an assistant message, then its own input", () => {
    const s = new StoredResponses();
    const first = s.turn(JSON.stringify({ model: "m", instructions: "sys1", input: "q1" }));
    expect(first.items).toEqual([
      { role: "system", content: "sys1" },
      { role: "user", content: "q1" },
    ]);
    s.remember({ id: "r1", model: "m", items: first.items, text: "a1" });
    const turn = s.turn(JSON.stringify({ model: "m", instructions: "sys2", input: [{ role: "user", content: "q2" }], previous_response_id: "r1" }));
    expect(JSON.parse(turn.bodyText)).toEqual({
      model: "m",
      input: [
        { role: "system", content: "sys2" },
        { role: "system", content: "sys1" },
        { role: "user", content: "q1" },
        { type: "message", role: "assistant", content: "a1" },
        { role: "user", content: "q2" },
      ],
    });
    expect(turn.store).toBe(true);
    expect(() => s.turn(JSON.stringify({ input: "x", previous_response_id: 5 }))).toThrow("previous_response_id must be a string");
  });
});
