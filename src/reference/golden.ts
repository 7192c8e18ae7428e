/**
 * Golden vectors of the request rendering and block chain (docs/hashing.md).
 *
 *   npx tsx src/reference/golden.ts            check the committed files (exit 1 on a difference)
 *   npx tsx src/reference/golden.ts --update   rewrite test/fixtures/golden/*.json
 *
 * Only --update writes; `npx vitest run test/unit/hashing.golden.test.ts`
 * checks both this reference and the AssemblyScript build against the files.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Api, type ChainConfig, hashBody, render } from "./render.ts";

export interface GoldenCase extends ChainConfig {
  name: string;
  api: Api;
  /** The request body exactly as sent. */
  body: string;
  /** The rendering, hex. */
  rendered: string;
  /** Block hashes, 16 hex digits each. */
  hashes: string[];
}

type CaseInput = Omit<GoldenCase, "rendered" | "hashes">;

const DIR = resolve(import.meta.dirname, "..", "..", "test", "fixtures", "golden");
const cfg = (blockSize: number, hashTrailingBlock = true, maxBlocks = 256) => ({ blockSize, maxBlocks, hashTrailingBlock });

const alphabet200 = Array.from({ length: 200 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");
/** A shared document (doc-qa, 156 bytes): several 16-byte blocks of the rendering come from it. */
export const DOCUMENT = "The Tale of Two Blocks. " + "A block of text that two questions share. ".repeat(3) + "End.\n\n";

export const INPUTS: Record<Api, CaseInput[]> = {
  completions: [
    { name: "seed: aaaabbbbcccc, S=4, PR algorithm", api: "completions", body: '{"model":"test-model1","prompt":"aaaabbbbcccc"}', ...cfg(4, false) },
    { name: "seed: cache_salt abc", api: "completions", body: '{"model":"test-model1","prompt":"aaaabbbbcccc","cache_salt":"abc"}', ...cfg(4, false) },
    { name: "seed: trailing block hashed", api: "completions", body: '{"model":"test-model1","prompt":"aaaabbbbcc"}', ...cfg(4, true) },
    {
      name: "seed: Llama 200 chars, S=64",
      api: "completions",
      body: JSON.stringify({ model: "meta-llama/Llama-3.1-8B-Instruct", prompt: alphabet200 }),
      ...cfg(64, false),
    },
    { name: "string array joined with one space", api: "completions", body: '{"model":"m","prompt":["Hello there","general Kenobi"]}', ...cfg(8) },
    {
      name: "token ids, 4-byte LE, 16 per 64-byte block",
      api: "completions",
      body: JSON.stringify({ model: "m", prompt: Array.from({ length: 40 }, (_, i) => i * 1000 + 1) }),
      ...cfg(64),
    },
    { name: "token-id lists separated by FFFFFFFF", api: "completions", body: '{"model":"m","prompt":[[1,2,3],[4,5]]}', ...cfg(8) },
    {
      name: "unicode prompt, maxBlocks cap",
      api: "completions",
      body: '{"model":"m","prompt":"h\\u00e9llo w\\u00f6rld, \\u4f60\\u597d \\ud83d\\ude00 and more text"}',
      ...cfg(8, true, 3),
    },
  ],
  chat: [
    {
      name: "seed chat messages, S=4",
      api: "chat",
      body: '{"model":"test-model1","messages":[{"role":"user","content":"hello world"},{"role":"assistant","content":"hi there"}]}',
      ...cfg(4, false),
    },
    {
      name: "tools, documents, template, kwargs, then messages",
      api: "chat",
      body: JSON.stringify({
        model: "qwen",
        tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
        documents: [{ title: "a", text: "b" }],
        chat_template: "{% for m in messages %}{{ m.content }}{% endfor %}",
        chat_template_kwargs: { enable_thinking: false },
        add_generation_prompt: true,
        messages: [
          { role: "system", content: "You are terse." },
          { role: "user", content: "Weather in Paris?" },
        ],
      }),
      ...cfg(16),
    },
    {
      name: "same, keys reordered and spaced: identical rendering",
      api: "chat",
      body:
        '{ "messages" : [ {"content":"You are terse.","role":"system"}, {"content":"Weather in Paris?","role":"user"} ],\n' +
        '  "chat_template_kwargs": {"enable_thinking":false}, "chat_template":"{% for m in messages %}{{ m.content }}{% endfor %}",\n' +
        '  "documents":[{"text":"b","title":"a"}], "add_generation_prompt": false,\n' +
        '  "tools":[{"function":{"parameters":{"properties":{"city":{"type":"string"}},"type":"object"},"name":"get_weather"},"type":"function"}], "model":"qwen" }',
      ...cfg(16),
    },
    {
      name: "multimodal parts: text as text, others as placeholders",
      api: "chat",
      body: JSON.stringify({
        model: "llava",
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "What is in this image?" },
              { type: "image_url", image_url: { url: "https://example.com/cat.png", detail: "low" } },
              { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } },
            ],
          },
        ],
      }),
      ...cfg(16),
    },
    {
      name: "tool calls, tool results, names",
      api: "chat",
      body: JSON.stringify({
        model: "m",
        messages: [
          { role: "user", content: "Weather?", name: "alice" },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
          },
          { role: "tool", tool_call_id: "call_1", content: "18C" },
        ],
      }),
      ...cfg(16),
    },
    {
      name: "cache_salt in the seed",
      api: "chat",
      body: '{"model":"m","cache_salt":"tenant-42","messages":[{"role":"user","content":"same words, other tenant"}]}',
      ...cfg(16),
    },
    {
      name: "doc-qa: a document, then question A",
      api: "chat",
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: DOCUMENT + "Q: Who wrote it?" }] }),
      ...cfg(16),
    },
    {
      name: "doc-qa: the same document, then question B (shares the document's blocks)",
      api: "chat",
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: DOCUMENT + "Q: When was it written, and where?" }] }),
      ...cfg(16),
    },
    {
      name: "reserved bytes in text: NUL, NUL NUL, U+00FF are escaped",
      api: "chat",
      body: '{"model":"m","messages":[{"role":"user","content":"a\\u0000b\\u0000\\u0000c\\u00ff"},{"role":"user","content":"d"}]}',
      ...cfg(8),
    },
    {
      name: "boundaries: one message ab",
      api: "chat",
      body: '{"model":"m","messages":[{"role":"user","content":"ab"}]}',
      ...cfg(8),
    },
    {
      name: "boundaries: two messages a, b",
      api: "chat",
      body: '{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}',
      ...cfg(8),
    },
  ],
  responses: [
    {
      name: "instructions, tools, string input",
      api: "responses",
      body: JSON.stringify({ model: "gpt", instructions: "Be brief.", tools: [{ type: "web_search" }], input: "Tell me a joke" }),
      ...cfg(16),
    },
    {
      name: "input items",
      api: "responses",
      body: JSON.stringify({
        model: "gpt",
        input: [
          { role: "user", content: "Hi" },
          { type: "message", role: "assistant", content: [{ type: "output_text", text: "Hello!" }] },
          { role: "user", content: "And now?" },
        ],
      }),
      ...cfg(16),
    },
  ],
};

export function compute(c: CaseInput): GoldenCase {
  const body = JSON.parse(c.body);
  return {
    ...c,
    rendered: Buffer.from(render(c.api, body)).toString("hex"),
    hashes: hashBody(c.api, c.body, c),
  };
}

export function goldenPath(apiName: Api): string {
  return resolve(DIR, `${apiName}.json`);
}

export function loadGolden(apiName: Api): GoldenCase[] {
  return JSON.parse(readFileSync(goldenPath(apiName), "utf8")).cases;
}

function fileText(apiName: Api, cases: GoldenCase[]): string {
  const doc = {
    description: `Golden vectors for the ${apiName} rendering and block chain (docs/hashing.md). Generated by src/reference/golden.ts --update; do not edit.`,
    renderVersion: 2,
    cases,
  };
  return JSON.stringify(doc, null, 2) + "\n";
}

if (process.argv[1] && import.meta.filename === resolve(process.argv[1])) {
  const update = process.argv.includes("--update");
  let bad = 0;
  for (const apiName of Object.keys(INPUTS) as Api[]) {
    const text = fileText(apiName, INPUTS[apiName].map(compute));
    if (update) {
      writeFileSync(goldenPath(apiName), text);
      console.log(`wrote ${goldenPath(apiName)}`);
    } else {
      let current = "";
      try {
        current = readFileSync(goldenPath(apiName), "utf8");
      } catch {}
      if (current !== text) {
        console.error(`${goldenPath(apiName)} differs from the reference (run with --update if the change is intended)`);
        bad++;
      }
    }
  }
  process.exit(bad ? 1 : 0);
}
