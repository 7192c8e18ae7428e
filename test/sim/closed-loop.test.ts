/**
 * A follow-up turn that sends back the reply the server generated hits the
 * reply's KV blocks, as in vLLM (which caches the blocks it computed while
 * decoding): the chat template renders the assistant turn as
 * `<|start_header_id|>assistant<|end_header_id|>\n\n` + text + `<|eot_id|>`,
 * and re-tokenizing the streamed text must give back the generated token ids
 * so the chained block hashes line up. Used by the routing benchmark's
 * closed-loop replay (src/bench/routing-sessions.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startSimServer, type SimServer } from "../../src/sim/server.js";

const BLOCK = 16;

async function chat(
  server: SimServer,
  messages: unknown[],
  maxTokens: number,
  stream: boolean,
): Promise<{ text: string; promptTokens: number; completionTokens: number; cachedTokens: number }> {
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "m", messages, max_tokens: maxTokens, stream, stream_options: { include_usage: true } }),
  });
  expect(res.status).toBe(200);
  const raw = await res.text();
  if (!stream) {
    const body = JSON.parse(raw);
    const u = body.usage;
    return {
      text: body.choices[0].message.content,
      promptTokens: u.prompt_tokens,
      completionTokens: u.completion_tokens,
      cachedTokens: u.prompt_tokens_details.cached_tokens,
    };
  }
  let text = "";
  let usage: any = null;
  for (const event of raw.split("\n\n")) {
    const data = event.replace(/^data: /, "");
    if (data === "" || data === "[DONE]") continue;
    const chunk = JSON.parse(data);
    if (chunk.usage) usage = chunk.usage;
    const piece = chunk.choices?.[0]?.delta?.content;
    if (typeof piece === "string") text += piece;
  }
  return { text, promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, cachedTokens: usage.prompt_tokens_details.cached_tokens };
}

describe("closed loop: a follow-up with the server's own reply hits the reply's blocks", () => {
  let server: SimServer;
  beforeAll(async () => {
    server = await startSimServer({ timeScale: 0.01, outputTokensMode: "maxTokens" }, { port: 0 });
  });
  afterAll(async () => {
    await server.close();
  });

  const system = { role: "system", content: "You answer briefly. " + "Context words here. ".repeat(30) };

  // Output lengths around block boundaries, streamed and not.
  test.each([
    [24, true],
    [33, true],
    [40, false],
    [100, true],
    [177, false],
  ])("max_tokens %i, stream %s", async (maxTokens, stream) => {
    server.reset();
    const first = [system, { role: "user", content: `Question number ${maxTokens}?` }];
    const a = await chat(server, first, maxTokens, stream);
    expect(a.completionTokens).toBe(maxTokens);
    // Every full block of prompt + reply is cached when the request ends.
    const heldAfterFirst = Math.floor((a.promptTokens + a.completionTokens) / BLOCK) * BLOCK;

    const verbatim = await chat(server, [...first, { role: "assistant", content: a.text }, { role: "user", content: "And then?" }], 4, false);
    expect(verbatim.promptTokens).toBeGreaterThan(a.promptTokens + a.completionTokens);
    expect(verbatim.cachedTokens).toBe(heldAfterFirst);

    // Another text in the assistant turn (a trace's own reply): only the prompt's blocks.
    server.reset();
    await chat(server, first, maxTokens, stream);
    const other = await chat(server, [...first, { role: "assistant", content: "Something else entirely." }, { role: "user", content: "And then?" }], 4, false);
    expect(other.cachedTokens).toBe(Math.floor(a.promptTokens / BLOCK) * BLOCK);
  });

  test("a third turn hits the second turn's prompt and reply too (the conversation stays cached)", async () => {
    server.reset();
    const m1 = [system, { role: "user", content: "First?" }];
    const r1 = await chat(server, m1, 50, true);
    const m2 = [...m1, { role: "assistant", content: r1.text }, { role: "user", content: "Second?" }];
    const r2 = await chat(server, m2, 70, true);
    const m3 = [...m2, { role: "assistant", content: r2.text }, { role: "user", content: "Third?" }];
    const r3 = await chat(server, m3, 4, true);
    expect(r3.cachedTokens).toBe(Math.floor((r2.promptTokens + r2.completionTokens) / BLOCK) * BLOCK);
  });
});
