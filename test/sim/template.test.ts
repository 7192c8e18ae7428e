import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseRequest } from "../../src/sim/prompt.js";
import { pythonJson, renderLlama31, type ChatMessage } from "../../src/sim/template.js";
import { BOS_ID, encodePieces, encodeWholeText, piecesToText } from "../../src/sim/tokenizer.js";

const H = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;
const SYSTEM_PREAMBLE = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";

describe("Llama 3.1 chat template", () => {
  it("renders a multi-turn chat with a system prompt", () => {
    const messages: ChatMessage[] = [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: "What is 2+2?" },
      { role: "assistant", content: "4" },
      { role: "user", content: "  And 3+3?\n" },
    ];
    expect(piecesToText(renderLlama31(messages))).toBe(
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
        "You are a helpful assistant.<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>" + // content is trimmed
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    );
  });

  it("always emits the system turn, even without a system message", () => {
    const text = piecesToText(renderLlama31([{ role: "user", content: "Hi" }], { addGenerationPrompt: false }));
    expect(text).toBe("<|begin_of_text|>" + H("system") + SYSTEM_PREAMBLE + "<|eot_id|>" + H("user") + "Hi<|eot_id|>");
  });

  it("puts tools in the first user message and renders tool calls and tool results", () => {
    const tools = [
      {
        type: "function",
        function: { name: "get_weather", description: "Get weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
      },
    ];
    const messages: ChatMessage[] = [
      { role: "user", content: "Weather in Paris?" },
      { role: "assistant", content: "", toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }] },
      { role: "tool", content: "22C" },
    ];
    expect(piecesToText(renderLlama31(messages, { tools }))).toBe(
      "<|begin_of_text|>" +
        H("system") +
        "Environment: ipython\n" +
        SYSTEM_PREAMBLE +
        "<|eot_id|>" +
        H("user") +
        "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\n" +
        'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.Do not use variables.\n\n' +
        "{\n" +
        '    "type": "function",\n' +
        '    "function": {\n' +
        '        "name": "get_weather",\n' +
        '        "description": "Get weather",\n' +
        '        "parameters": {\n' +
        '            "type": "object",\n' +
        '            "properties": {\n' +
        '                "city": {\n' +
        '                    "type": "string"\n' +
        "                }\n" +
        "            }\n" +
        "        }\n" +
        "    }\n" +
        "}\n\n" +
        "Weather in Paris?<|eot_id|>" +
        H("assistant") +
        '{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>' +
        H("ipython") +
        '"22C"<|eot_id|>' + // a string is "iterable" in Jinja, so tojson quotes it
        H("assistant"),
    );
  });

  it("rejects more than one tool call per message, as the template raises", () => {
    const two = {
      role: "assistant",
      content: "",
      toolCalls: [
        { name: "a", arguments: {} },
        { name: "b", arguments: {} },
      ],
    };
    expect(() => renderLlama31([{ role: "user", content: "x" }, two])).toThrow(/single tool-calls/);
  });

  it("pythonJson matches Python json.dumps spacing", () => {
    expect(pythonJson({ a: [1, 2], b: {}, c: "é\n", d: null, e: true })).toBe('{"a": [1, 2], "b": {}, "c": "é\\n", "d": null, "e": true}');
    expect(pythonJson({ a: [1], b: [] }, 4)).toBe('{\n    "a": [\n        1\n    ],\n    "b": []\n}');
  });
});

describe("tokenization", () => {
  it("known token ids of the system preamble (real Llama 3 vocabulary)", () => {
    const ids = encodePieces(renderLlama31([{ role: "user", content: "Hi" }]));
    // <|begin_of_text|> <|start_header_id|> system <|end_header_id|> \n\n Cut ting  Knowledge Date : December ...
    expect(ids.slice(0, 10)).toEqual([128000, 128006, 9125, 128007, 271, 38766, 1303, 33025, 2696, 25]);
    expect(ids.at(-1)).toBe(271); // "\n\n" after the assistant header
    expect(ids.at(-2)).toBe(128007);
  });

  it("memoised per-section tokenization equals tokenizing the whole rendered text", () => {
    const fragment = fc.constantFrom("Hello", " world", "\n", "\n\n", "  ", "é", "日本語", "12345", "<|eot_id|>", '{"a": 1}', "don't", "\t", "🙂", "x");
    const content = fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join(""));
    const message = fc.record({ role: fc.constantFrom("system", "user", "assistant", "tool"), content });
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 6 }), (messages) => {
        const pieces = renderLlama31(messages);
        expect(encodePieces(pieces)).toEqual(encodeWholeText(piecesToText(pieces)));
      }),
      { numRuns: 60 },
    );
  });

  it("completions: BOS + the prompt's tokens", () => {
    const parsed = parseRequest("completions", JSON.stringify({ prompt: "Hello world" }));
    expect([...parsed.tokens]).toEqual([BOS_ID, ...encodeWholeText("Hello world")]);
  });

  it("a chat request and a responses request with the same conversation have the same prompt", () => {
    const chat = parseRequest(
      "chat",
      JSON.stringify({
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: [{ type: "text", text: "Hi" }] },
        ],
      }),
    );
    const responses = parseRequest(
      "responses",
      JSON.stringify({ instructions: "Be brief.", input: [{ role: "user", content: [{ type: "input_text", text: "Hi" }] }] }),
    );
    expect([...responses.tokens]).toEqual([...chat.tokens]);
  });

  it("list content parts are joined with a newline (vLLM's string content format)", () => {
    const parts = parseRequest(
      "chat",
      JSON.stringify({
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "a" },
              { type: "text", text: "b" },
            ],
          },
        ],
      }),
    );
    const plain = parseRequest("chat", JSON.stringify({ messages: [{ role: "user", content: "a\nb" }] }));
    expect([...parts.tokens]).toEqual([...plain.tokens]);
  });

  it("tool-call arguments given as a JSON string render like an object", () => {
    const body = (args: unknown) =>
      JSON.stringify({
        messages: [
          { role: "user", content: "x" },
          { role: "assistant", content: null, tool_calls: [{ id: "1", type: "function", function: { name: "f", arguments: args } }] },
        ],
      });
    expect([...parseRequest("chat", body('{"q": 1}')).tokens]).toEqual([...parseRequest("chat", body({ q: 1 })).tokens]);
  });
});
