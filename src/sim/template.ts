// Llama 3.1 Instruct chat template, written out in TypeScript.
//
// It produces the same text as the Jinja chat template that ships with
// meta-llama/Llama-3.1-8B-Instruct (tokenizer_config.json) when rendered by
// vLLM with add_generation_prompt, no `builtin_tools`, the default
// `tools_in_user_message = true` and the default date_string "26 Jul 2024".
// Rendering in code rather than Jinja is ~100x cheaper and yields the prompt
// as pieces (special tokens / text), which lets tokenization be memoised per
// message (see tokenizer.ts).
//
// What the template does (and so what we do):
// - BOS, then always a system turn: "Cutting Knowledge Date: December 2023\n
//   Today Date: 26 Jul 2024\n\n" + the first message's content if it is a system
//   message (trimmed). With tools, "Environment: ipython\n" comes first.
// - With tools, the tools (JSON, indent 4) and an instruction are put in the
//   first non-system message, whatever its role.
// - Assistant messages with tool_calls render as {"name": ..., "parameters": ...}
//   (one call only; more is an error, as the template raises).
// - Tool messages render under the "ipython" role with their content as a JSON
//   string (a string is "iterable" in Jinja, so `tojson` applies).
// - Other messages: header with their role, trimmed content, <|eot_id|>.
//
// vLLM turns list-of-parts content into a string joining the text parts with
// "\n" (the template's content format is "string"), and parses tool-call
// arguments from a JSON string into an object before rendering; so do we.

import type { Piece } from "./tokenizer.js";

export const BOS = "<|begin_of_text|>";
export const START_HEADER = "<|start_header_id|>";
export const END_HEADER = "<|end_header_id|>";
export const EOT = "<|eot_id|>";
export const DEFAULT_DATE_STRING = "26 Jul 2024";

export class ChatRenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChatRenderError";
  }
}

export interface ToolCall {
  name: string;
  /** Parsed arguments (object) or, if they were not valid JSON, the raw string. */
  arguments: unknown;
}

/** A chat message after vLLM's normalisation. */
export interface ChatMessage {
  role: string;
  content: string;
  toolCalls?: ToolCall[];
}

/** A tool as vLLM passes it to the template (pydantic model_dump of the request's tool). */
export interface ChatTool {
  type: string;
  function: { name: string; description: string | null; parameters: unknown };
}

/** Python's json.dumps with Jinja/transformers `tojson` defaults (ensure_ascii=False). */
export function pythonJson(value: unknown, indent?: number): string {
  return dumpValue(value, indent, 0);
}

function dumpValue(value: unknown, indent: number | undefined, depth: number): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : value > 0 ? "Infinity" : value < 0 ? "-Infinity" : "NaN";
  if (typeof value === "string") return JSON.stringify(value);
  const items: string[] = [];
  const isArray = Array.isArray(value);
  if (isArray) {
    for (const item of value as unknown[]) items.push(dumpValue(item, indent, depth + 1));
  } else {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      items.push(JSON.stringify(k) + ": " + dumpValue(v, indent, depth + 1));
    }
  }
  const [open, close] = isArray ? ["[", "]"] : ["{", "}"];
  if (items.length === 0) return open + close;
  if (indent === undefined) return open + items.join(", ") + close;
  const inner = "\n" + " ".repeat(indent * (depth + 1));
  const outer = "\n" + " ".repeat(indent * depth);
  return open + inner + items.join("," + inner) + outer + close;
}

function header(pieces: Piece[], role: string): void {
  pieces.push({ special: START_HEADER }, { text: role }, { special: END_HEADER }, { text: "\n\n" });
}

const TOOLS_INSTRUCTION =
  "Given the following functions, please respond with a JSON for a function call " +
  "with its proper arguments that best answers the given prompt.\n\n" +
  'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' +
  "Do not use variables.\n\n";

export interface RenderOptions {
  tools?: ChatTool[] | null;
  addGenerationPrompt?: boolean;
  dateString?: string;
}

/** Renders a conversation the way vLLM renders it for Llama 3.1 Instruct. */
export function renderLlama31(messages: readonly ChatMessage[], options: RenderOptions = {}): Piece[] {
  const tools = options.tools && options.tools.length > 0 ? options.tools : null;
  const addGenerationPrompt = options.addGenerationPrompt ?? true;
  const dateString = options.dateString ?? DEFAULT_DATE_STRING;

  let rest = messages.slice();
  let systemMessage = "";
  if (rest.length > 0 && rest[0].role === "system") {
    systemMessage = rest[0].content.trim();
    rest = rest.slice(1);
  }

  const pieces: Piece[] = [{ special: BOS }];
  header(pieces, "system");
  if (tools !== null) pieces.push({ text: "Environment: ipython\n" });
  pieces.push({ text: "Cutting Knowledge Date: December 2023\n" + "Today Date: " + dateString + "\n\n" });
  pieces.push({ text: systemMessage }, { special: EOT });

  if (tools !== null) {
    if (rest.length === 0) {
      throw new ChatRenderError("Cannot put tools in the first user message when there's no first user message!");
    }
    const firstUserMessage = rest[0].content.trim();
    rest = rest.slice(1);
    header(pieces, "user");
    pieces.push({ text: TOOLS_INSTRUCTION });
    for (const tool of tools) pieces.push({ text: pythonJson(tool, 4) + "\n\n" });
    pieces.push({ text: firstUserMessage }, { special: EOT });
  }

  for (const message of rest) {
    if (message.toolCalls !== undefined && message.toolCalls.length > 0) {
      if (message.toolCalls.length !== 1) {
        throw new ChatRenderError("This model only supports single tool-calls at once!");
      }
      const call = message.toolCalls[0];
      header(pieces, "assistant");
      pieces.push({ text: '{"name": "' + call.name + '", ' + '"parameters": ' + pythonJson(call.arguments) + "}" });
      pieces.push({ special: EOT });
    } else if (message.role === "tool" || message.role === "ipython") {
      header(pieces, "ipython");
      pieces.push({ text: pythonJson(message.content) }, { special: EOT });
    } else {
      header(pieces, message.role);
      pieces.push({ text: message.content.trim() }, { special: EOT });
    }
  }
  if (addGenerationPrompt) header(pieces, "assistant");
  return pieces;
}
