/**
 * Responses that continue a stored one, in a real Envoy with the release
 * filter, in front of three simulated vLLM servers that each keep the
 * responses they answered in their own memory (src/sim/stored-responses.ts:
 * a previous_response_id another server answered is 404 there, as in vLLM).
 * Driven by the official OpenAI SDK: a conversation of turns chained by
 * previous_response_id, streamed and not, all succeed, each on the server
 * holding its history (whose cache then serves most of its prompt), and a
 * GET of a stored response finds it. Without the filter's rule each
 * continuation would land on the holder one time in three.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startSimPool, type SimPool } from "../../src/sim/server.js";
import { ENVOY_YAML, FILTER_WASM, SKIP_FILTER, useEnvoy } from "./harness.js";

const MODEL = "meta-llama/Llama-3.1-8B-Instruct";
const TURNS = 6;

describe.skipIf(SKIP_FILTER)("stored responses through Envoy: previous_response_id goes where the response is stored", () => {
  let pool: SimPool;
  beforeAll(async () => {
    pool = await startSimPool(3, { timeScale: 0.01, seed: 3 });
  });
  afterAll(async () => {
    await pool?.close();
  });
  const envoy = useEnvoy(() => ({
    config: ENVOY_YAML,
    substitutions: {
      wasmPath: FILTER_WASM,
      endpoints: pool.servers.map((s) => `127.0.0.1:${s.port}`),
      pluginConfig: {
        endpoints: pool.servers.map((s) => ({ address: `127.0.0.1:${s.port}` })),
        metrics: { cluster: "model_servers_metrics", intervalMs: 100 },
      },
    },
  }));
  const client = () => new OpenAI({ baseURL: `${envoy().listenerUrl}/v1`, apiKey: "unused", maxRetries: 0, timeout: 20_000 });
  const counter = async (name: string) => (await envoy().stats(`llm_picker\\.responses\\.${name}`))[`wasmcustom.llm_picker.responses.${name}`] ?? 0;

  test(`${TURNS} turns chained by previous_response_id, not streamed: all answered by the first turn's server, from its cache`, async () => {
    const before = await counter("followed");
    const first = await client().responses.create({
      model: MODEL,
      instructions: "You answer questions about bicycles. ".repeat(30),
      input: "How do I adjust the rear derailleur?",
      max_output_tokens: 16,
    });
    // Only the server that answered a turn can answer its continuation (any other says 404).
    let previous = first.id;
    let lastCached = 0;
    for (let turn = 1; turn <= TURNS; turn++) {
      // A request with new text between turns, so load alone would not keep them together.
      await client().responses.create({ model: MODEL, input: `Unrelated question ${turn} about tyres.`, max_output_tokens: 4 });
      const next = await client().responses.create({ model: MODEL, input: `Turn ${turn}: and then?`, previous_response_id: previous, max_output_tokens: 16 });
      expect(next.id).not.toBe(previous);
      lastCached = next.usage?.input_tokens_details.cached_tokens ?? 0;
      expect(lastCached).toBeGreaterThan(0);
      previous = next.id;
    }
    // The last turn's prompt holds every earlier turn: most of it was cached where it went.
    expect(lastCached).toBeGreaterThan(300);
    expect((await counter("followed")) - before).toBe(TURNS);
    const retrieved = await client().responses.retrieve(previous);
    expect(retrieved.id).toBe(previous);
    expect((await counter("followed")) - before).toBe(TURNS + 1);
  }, 60_000);

  test("streamed turns: the id read from the response.created event is followed", async () => {
    const before = await counter("followed");
    let previous: string | undefined;
    for (let turn = 0; turn < 3; turn++) {
      const stream = await client().responses.create({
        model: MODEL,
        input: `Streamed turn ${turn}: tell me about brakes.`,
        max_output_tokens: 8,
        stream: true,
        ...(previous !== undefined ? { previous_response_id: previous } : {}),
      });
      let id: string | undefined;
      let completed = false;
      for await (const event of stream) {
        if (event.type === "response.created") id = event.response.id;
        if (event.type === "response.completed") completed = true;
      }
      expect(completed).toBe(true);
      previous = id;
    }
    expect((await counter("followed")) - before).toBe(2);
  }, 60_000);

  test("a previous_response_id this Envoy never saw answered is routed as any other: the server's 404 reaches the client", async () => {
    const before = await counter("unknown");
    const err = await client()
      .responses.create({ model: MODEL, input: "x", previous_response_id: "resp_never_answered" })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.APIError>).message).toContain("Response with id 'resp_never_answered' not found.");
    expect((await counter("unknown")) - before).toBe(1);
  });
});
