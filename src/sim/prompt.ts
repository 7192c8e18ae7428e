// OpenAI-style request bodies → prompt token ids, as vLLM would compute them.
//
// - /v1/chat/completions: messages (+ tools) rendered with the Llama 3.1
//   template (template.ts), tokenized without adding BOS (the template has it).
// - /v1/responses: `instructions` becomes a system message, `input` (a string
//   or a list of message / function_call / function_call_output items) becomes
//   messages, then as chat.
// - /v1/completions: BOS + the prompt's tokens (add_special_tokens=True), or
//   the token ids given.
//
// Parsing is memoised by a digest of (path, body): the `precise` benchmark
// policy asks every server for the cached prefix of each request and then one
// of them serves it, so the same body arrives up to N+1 times.
//
// Not modelled: images and other non-text content parts (dropped), n > 1,
// `echo`, `continue_final_message`, chat_template_kwargs.

import { createHash } from "node:crypto";
import { chainHashes, rootDigest, type ChainResult } from "./kvcache.js";
import { ChatRenderError, renderLlama31, type ChatMessage, type ChatTool, type ToolCall } from "./template.js";
import { BOS_ID, encodePieces, encodeText, TokenLimitExceeded, withTokenLimit } from "./tokenizer.js";

export type Api = "chat" | "completions" | "responses";

/** A client error: the server answers with `status` and an OpenAI-style error body. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = status === 404 ? "NotFoundError" : "BadRequestError",
  ) {
    super(message);
    this.name = "RequestError";
  }
}

export interface ParsedRequest {
  api: Api;
  model: string | null;
  stream: boolean;
  includeUsage: boolean;
  /** max_tokens / max_completion_tokens / max_output_tokens, or null when absent. */
  maxTokens: number | null;
  /** vLLM's cache_salt: requests with different salts never share cache. */
  cacheSalt: string | null;
  tokens: Uint32Array;
  /** Digest of the prompt tokens: seeds this request's random draws, so a conversation gets the
   *  same reply whatever the API, the streaming flag or the JSON formatting of its body. */
  contentKey: string;
  /** Block hashes per (root, blockSize), computed on demand. */
  chains: Map<string, ChainResult>;
}

export function apiForPath(path: string): Api | null {
  const bare = path.split("?")[0];
  if (bare === "/v1/chat/completions") return "chat";
  if (bare === "/v1/completions") return "completions";
  if (bare === "/v1/responses") return "responses";
  return null;
}

/** Guesses the API of a bare body (for /sim/prefix without a path). */
export function apiForBody(body: Record<string, unknown>): Api {
  if (Array.isArray(body.messages)) return "chat";
  if (body.input !== undefined) return "responses";
  return "completions";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function optionalInt(body: Record<string, unknown>, field: string): number | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new RequestError(400, `${field} must be a positive integer`);
  }
  return value;
}

/** vLLM joins the text parts of list content with "\n" for templates whose content format is "string". */
function contentText(content: unknown, where: string): string {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) throw new RequestError(400, `${where}.content must be a string or an array of parts`);
  const texts: string[] = [];
  for (const part of content) {
    if (typeof part === "string") texts.push(part);
    else if (isObject(part) && typeof part.text === "string") texts.push(part.text);
    else if (isObject(part) && typeof part.refusal === "string") texts.push(part.refusal);
  }
  return texts.join("\n");
}

/** vLLM parses tool-call arguments from JSON strings into objects before rendering. */
function parseArguments(raw: unknown): unknown {
  if (typeof raw !== "string") return raw ?? {};
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function chatToolCalls(raw: unknown, where: string): ToolCall[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw new RequestError(400, `${where}.tool_calls must be an array`);
  return raw.map((call, i) => {
    const fn = isObject(call) ? call.function : undefined;
    if (!isObject(fn) || typeof fn.name !== "string") {
      throw new RequestError(400, `${where}.tool_calls[${i}].function.name must be a string`);
    }
    return { name: fn.name, arguments: parseArguments(fn.arguments) };
  });
}

function chatMessages(raw: unknown): ChatMessage[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new RequestError(400, "messages must be a non-empty array");
  return raw.map((m, i) => {
    const where = `messages[${i}]`;
    if (!isObject(m) || typeof m.role !== "string") throw new RequestError(400, `${where}.role must be a string`);
    const message: ChatMessage = { role: m.role, content: contentText(m.content, where) };
    const toolCalls = chatToolCalls(m.tool_calls, where);
    if (toolCalls !== undefined) message.toolCalls = toolCalls;
    return message;
  });
}

/** The tool as vLLM hands it to the template: model_dump() of its pydantic model, so absent fields are null. */
function chatTool(name: unknown, description: unknown, parameters: unknown, where: string): ChatTool {
  if (typeof name !== "string") throw new RequestError(400, `${where}.name must be a string`);
  return {
    type: "function",
    function: {
      name,
      description: typeof description === "string" ? description : null,
      parameters: parameters ?? null,
    },
  };
}

function chatTools(raw: unknown): ChatTool[] | null {
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw)) throw new RequestError(400, "tools must be an array");
  return raw.map((t, i) => {
    const fn = isObject(t) ? t.function : undefined;
    if (!isObject(fn)) throw new RequestError(400, `tools[${i}].function must be an object`);
    return chatTool(fn.name, fn.description, fn.parameters, `tools[${i}].function`);
  });
}

function responsesTools(raw: unknown): ChatTool[] | null {
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw)) throw new RequestError(400, "tools must be an array");
  const tools: ChatTool[] = [];
  raw.forEach((t, i) => {
    if (isObject(t) && t.type === "function") tools.push(chatTool(t.name, t.description, t.parameters, `tools[${i}]`));
  });
  return tools.length > 0 ? tools : null;
}

function responsesMessages(body: Record<string, unknown>): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (typeof body.instructions === "string") messages.push({ role: "system", content: body.instructions });
  const input = body.input;
  if (typeof input === "string") {
    messages.push({ role: "user", content: input });
  } else if (Array.isArray(input)) {
    input.forEach((item, i) => {
      const where = `input[${i}]`;
      if (!isObject(item)) throw new RequestError(400, `${where} must be an object`);
      if (item.type === "function_call") {
        if (typeof item.name !== "string") throw new RequestError(400, `${where}.name must be a string`);
        messages.push({ role: "assistant", content: "", toolCalls: [{ name: item.name, arguments: parseArguments(item.arguments) }] });
      } else if (item.type === "function_call_output") {
        messages.push({ role: "tool", content: typeof item.output === "string" ? item.output : JSON.stringify(item.output ?? "") });
      } else if (typeof item.role === "string") {
        messages.push({ role: item.role, content: contentText(item.content, where) });
      }
      // reasoning and other item types carry no prompt text for this template
    });
  } else {
    throw new RequestError(400, "input must be a string or an array");
  }
  if (messages.length === 0) throw new RequestError(400, "input is empty");
  return messages;
}

function completionTokens(prompt: unknown): number[] {
  let value = prompt;
  if (Array.isArray(value) && value.length === 1 && (typeof value[0] === "string" || Array.isArray(value[0]))) value = value[0];
  if (typeof value === "string") {
    const ids = [BOS_ID];
    const text = encodeText(value);
    for (let i = 0; i < text.length; i++) ids.push(text[i]);
    return ids;
  }
  if (Array.isArray(value) && value.length > 0 && value.every((t) => typeof t === "number" && Number.isInteger(t) && t >= 0)) {
    return value as number[];
  }
  throw new RequestError(400, "prompt must be a string or an array of token ids (one prompt per request)");
}

function renderChat(messages: ChatMessage[], tools: ChatTool[] | null, addGenerationPrompt: boolean): number[] {
  try {
    return encodePieces(renderLlama31(messages, { tools, addGenerationPrompt }));
  } catch (err) {
    if (err instanceof ChatRenderError) throw new RequestError(400, err.message);
    throw err;
  }
}

function promptTokens(api: Api, body: Record<string, unknown>): number[] {
  if (api === "chat") {
    const addGenerationPrompt = body.add_generation_prompt === undefined ? true : body.add_generation_prompt === true;
    return renderChat(chatMessages(body.messages), chatTools(body.tools), addGenerationPrompt);
  }
  if (api === "responses") return renderChat(responsesMessages(body), responsesTools(body.tools), true);
  return completionTokens(body.prompt);
}

function parseBody(api: Api, body: Record<string, unknown>): ParsedRequest {
  const maxTokens =
    api === "responses" ? optionalInt(body, "max_output_tokens") : (optionalInt(body, "max_completion_tokens") ?? optionalInt(body, "max_tokens"));
  const streamOptions = body.stream_options;
  const tokens = Uint32Array.from(promptTokens(api, body));
  return {
    api,
    model: typeof body.model === "string" ? body.model : null,
    stream: body.stream === true,
    includeUsage: isObject(streamOptions) && streamOptions.include_usage === true,
    maxTokens,
    cacheSalt: typeof body.cache_salt === "string" ? body.cache_salt : null,
    tokens,
    contentKey: createHash("sha1")
      .update(new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength))
      .digest("base64"),
    chains: new Map(),
  };
}

/** LRU of parsed requests bounded by their total prompt tokens. */
class ParsedMemo {
  private entries = new Map<string, ParsedRequest>();
  private tokens = 0;
  constructor(private readonly maxTokens: number) {}
  get(key: string): ParsedRequest | undefined {
    const found = this.entries.get(key);
    if (found !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, found);
    }
    return found;
  }
  set(key: string, value: ParsedRequest): void {
    this.entries.set(key, value);
    this.tokens += value.tokens.length;
    while (this.tokens > this.maxTokens && this.entries.size > 1) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, ParsedRequest];
      this.entries.delete(oldestKey);
      this.tokens -= oldest.tokens.length;
    }
  }
  clear(): void {
    this.entries.clear();
    this.tokens = 0;
  }
}

const parsedMemo = new ParsedMemo(8 * 1024 * 1024);

function digestOf(api: Api, bodyText: string): string {
  return createHash("sha1").update(api).update("\0").update(bodyText).digest("base64");
}

/**
 * Parses a request body for `api` (memoised on the exact body text). Throws
 * RequestError on a bad body, and on a prompt of more than `maxPromptTokens`
 * tokens (the context), found without tokenizing all of it, as vLLM refuses
 * an over-long prompt rather than spending minutes on it.
 */
export function parseRequest(api: Api, bodyText: string, maxPromptTokens = Infinity): ParsedRequest {
  const key = digestOf(api, bodyText);
  const found = parsedMemo.get(key);
  if (found !== undefined) return found;
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    throw new RequestError(400, "request body is not valid JSON");
  }
  if (!isObject(body)) throw new RequestError(400, "request body must be a JSON object");
  let parsed: ParsedRequest;
  try {
    parsed = withTokenLimit(maxPromptTokens, () => parseBody(api, body as Record<string, unknown>));
  } catch (err) {
    if (!(err instanceof TokenLimitExceeded)) throw err;
    throw new RequestError(
      400,
      `This model's maximum context length is ${maxPromptTokens} tokens. However, your prompt has more than ${maxPromptTokens} tokens.`,
    );
  }
  parsedMemo.set(key, parsed);
  return parsed;
}

/** Block hashes of a parsed prompt for a cache root (LoRA adapter / salt) and block size. Memoised on the request. */
export function promptChain(parsed: ParsedRequest, root: string, blockSize: number): ChainResult {
  const key = `${blockSize}\0${root}`;
  let chain = parsed.chains.get(key);
  if (chain === undefined) {
    chain = chainHashes(parsed.tokens, 0, parsed.tokens.length, blockSize, rootDigest(root));
    parsed.chains.set(key, chain);
  }
  return chain;
}

export function clearParsedMemo(): void {
  parsedMemo.clear();
}
