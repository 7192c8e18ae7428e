// OpenAI response bodies of a simulated vLLM server: the full JSON answer and
// the server-sent events of a streamed one, for chat completions, completions
// and responses.

import type { ServerResponse } from "node:http";
import type { Job } from "./engine.js";
import type { Api, ParsedRequest } from "./prompt.js";

/** One server-sent event. */
function sse(res: ServerResponse, value: unknown, event?: string): void {
  if (res.writableEnded || res.destroyed) return;
  res.write((event ? `event: ${event}\n` : "") + `data: ${JSON.stringify(value)}\n\n`);
}

/** One response being generated: what the request asked for and the text it gets. */
export interface Generation {
  api: Api;
  parsed: ParsedRequest;
  model: string;
  id: string;
  created: number;
  pieces: string[];
  finishReason: "length" | "stop";
  promptTokens: number;
}

function usageOf(gen: Generation, job: Job) {
  const completion = gen.pieces.length;
  if (gen.api === "responses") {
    return {
      input_tokens: gen.promptTokens,
      input_tokens_details: { cached_tokens: job.cachedTokens },
      output_tokens: completion,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: gen.promptTokens + completion,
    };
  }
  return {
    prompt_tokens: gen.promptTokens,
    total_tokens: gen.promptTokens + completion,
    completion_tokens: completion,
    prompt_tokens_details: { cached_tokens: job.cachedTokens },
  };
}

function responseObject(gen: Generation, job: Job | null, text: string) {
  const done = job !== null;
  return {
    id: gen.id,
    object: "response",
    created_at: gen.created,
    model: gen.model,
    status: done ? "completed" : "in_progress",
    output: done
      ? [
          {
            id: `msg_${gen.id}`,
            type: "message",
            role: "assistant",
            status: "completed",
            content: [{ type: "output_text", text, annotations: [] }],
          },
        ]
      : [],
    usage: done ? usageOf(gen, job) : null,
  };
}

export function fullResponse(gen: Generation, job: Job) {
  const text = gen.pieces.join("");
  if (gen.api === "responses") return responseObject(gen, job, text);
  const usage = usageOf(gen, job);
  if (gen.api === "completions") {
    return {
      id: gen.id,
      object: "text_completion",
      created: gen.created,
      model: gen.model,
      choices: [{ index: 0, text, logprobs: null, finish_reason: gen.finishReason, stop_reason: null }],
      usage,
    };
  }
  return {
    id: gen.id,
    object: "chat.completion",
    created: gen.created,
    model: gen.model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: text, tool_calls: [] },
        logprobs: null,
        finish_reason: gen.finishReason,
        stop_reason: null,
      },
    ],
    usage,
  };
}

function chunk(gen: Generation, choices: unknown[], extra: Record<string, unknown> = {}) {
  const object = gen.api === "chat" ? "chat.completion.chunk" : "text_completion";
  return { id: gen.id, object, created: gen.created, model: gen.model, choices, ...extra };
}

export function responsesStreamStart(res: ServerResponse, gen: Generation): void {
  let seq = 0;
  const response = responseObject(gen, null, "");
  sse(res, { type: "response.created", sequence_number: seq++, response }, "response.created");
  sse(res, { type: "response.in_progress", sequence_number: seq++, response }, "response.in_progress");
}

/** Events of output token `index` (0-based). */
export function streamToken(res: ServerResponse, gen: Generation, index: number): void {
  const piece = gen.pieces[index];
  if (gen.api === "chat") {
    if (index === 0) sse(res, chunk(gen, [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]));
    sse(res, chunk(gen, [{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }]));
  } else if (gen.api === "completions") {
    sse(res, chunk(gen, [{ index: 0, text: piece, logprobs: null, finish_reason: null, stop_reason: null }]));
  } else {
    const itemId = `msg_${gen.id}`;
    const base = 2; // response.created, response.in_progress
    if (index === 0) {
      sse(
        res,
        {
          type: "response.output_item.added",
          sequence_number: base,
          output_index: 0,
          item: { id: itemId, type: "message", role: "assistant", status: "in_progress", content: [] },
        },
        "response.output_item.added",
      );
      sse(
        res,
        {
          type: "response.content_part.added",
          sequence_number: base + 1,
          item_id: itemId,
          output_index: 0,
          content_index: 0,
          part: { type: "output_text", text: "", annotations: [] },
        },
        "response.content_part.added",
      );
    }
    sse(
      res,
      { type: "response.output_text.delta", sequence_number: base + 2 + index, item_id: itemId, output_index: 0, content_index: 0, delta: piece },
      "response.output_text.delta",
    );
  }
}

export function streamEnd(res: ServerResponse, gen: Generation, job: Job): void {
  if (res.writableEnded || res.destroyed) return;
  const text = gen.pieces.join("");
  if (gen.api === "responses") {
    const itemId = `msg_${gen.id}`;
    let seq = 2 + 2 + gen.pieces.length;
    const part = { type: "output_text", text, annotations: [] };
    sse(
      res,
      { type: "response.output_text.done", sequence_number: seq++, item_id: itemId, output_index: 0, content_index: 0, text },
      "response.output_text.done",
    );
    sse(
      res,
      { type: "response.content_part.done", sequence_number: seq++, item_id: itemId, output_index: 0, content_index: 0, part },
      "response.content_part.done",
    );
    const final = responseObject(gen, job, text);
    sse(res, { type: "response.output_item.done", sequence_number: seq++, output_index: 0, item: final.output[0] }, "response.output_item.done");
    sse(res, { type: "response.completed", sequence_number: seq++, response: final }, "response.completed");
    res.end();
    return;
  }
  if (gen.api === "chat") {
    sse(res, chunk(gen, [{ index: 0, delta: {}, logprobs: null, finish_reason: gen.finishReason, stop_reason: null }]));
  } else {
    sse(res, chunk(gen, [{ index: 0, text: "", logprobs: null, finish_reason: gen.finishReason, stop_reason: null }]));
  }
  if (gen.parsed.includeUsage) sse(res, chunk(gen, [], { usage: usageOf(gen, job) }));
  res.write("data: [DONE]\n\n");
  res.end();
}
