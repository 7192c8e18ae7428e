// The top-level body fields the parser interprets, by id, and which of them
// matter for each API. Keys match exactly (case-sensitive), as OpenAI and
// vLLM do.
import { JsonScanner } from "../json/scanner";
import { asciiEquals } from "../json/strings";

// Top-level fields the parser interprets.
export const F_MODEL = 0;
export const F_STREAM = 1;
export const F_PROMPT = 2;
export const F_MESSAGES = 3;
export const F_TOOLS = 4;
export const F_DOCUMENTS = 5;
export const F_CHAT_TEMPLATE = 6;
export const F_KWARGS = 7;
export const F_RATM = 8;
export const F_CFM = 9;
export const F_AGP = 10;
export const F_CACHE_SALT = 11;
export const F_INPUT = 12;
export const F_INSTRUCTIONS = 13;
export const F_PREV_ID = 14;
export const F_MAX_TOKENS = 15;
export const F_MAX_COMPLETION_TOKENS = 16;
export const F_MAX_OUTPUT_TOKENS = 17;
export const F_COUNT = 18;

// Which fields matter for each API (bit i = field i).
export const COMMON: u32 = (1 << F_MODEL) | (1 << F_STREAM) | (1 << F_CACHE_SALT);
export const RELEVANT_COMPLETIONS: u32 = COMMON | (1 << F_PROMPT) | (1 << F_MAX_TOKENS);
export const RELEVANT_CHAT: u32 =
  COMMON | (1 << F_MESSAGES) | (1 << F_TOOLS) | (1 << F_DOCUMENTS) | (1 << F_CHAT_TEMPLATE) |
  (1 << F_KWARGS) | (1 << F_RATM) | (1 << F_CFM) | (1 << F_AGP) | (1 << F_MAX_TOKENS) | (1 << F_MAX_COMPLETION_TOKENS);
export const RELEVANT_RESPONSES: u32 =
  COMMON | (1 << F_INPUT) | (1 << F_INSTRUCTIONS) | (1 << F_TOOLS) | (1 << F_PREV_ID) | (1 << F_MAX_OUTPUT_TOKENS);

/** The field id of the scanner's current key, or -1 (compared in place, no allocation). */
export function fieldId(sc: JsonScanner): i32 {
  switch (sc.keyRawLength) {
    case 5:
      if (sc.keyIs("model")) return F_MODEL;
      if (sc.keyIs("input")) return F_INPUT;
      if (sc.keyIs("tools")) return F_TOOLS;
      break;
    case 6:
      if (sc.keyIs("stream")) return F_STREAM;
      if (sc.keyIs("prompt")) return F_PROMPT;
      break;
    case 8:
      if (sc.keyIs("messages")) return F_MESSAGES;
      break;
    case 9:
      if (sc.keyIs("documents")) return F_DOCUMENTS;
      break;
    case 10:
      if (sc.keyIs("cache_salt")) return F_CACHE_SALT;
      if (sc.keyIs("max_tokens")) return F_MAX_TOKENS;
      break;
    case 12:
      if (sc.keyIs("instructions")) return F_INSTRUCTIONS;
      break;
    case 13:
      if (sc.keyIs("chat_template")) return F_CHAT_TEMPLATE;
      break;
    case 17:
      if (sc.keyIs("max_output_tokens")) return F_MAX_OUTPUT_TOKENS;
      break;
    case 20:
      if (sc.keyIs("chat_template_kwargs")) return F_KWARGS;
      if (sc.keyIs("previous_response_id")) return F_PREV_ID;
      break;
    case 21:
      if (sc.keyIs("add_generation_prompt")) return F_AGP;
      if (sc.keyIs("max_completion_tokens")) return F_MAX_COMPLETION_TOKENS;
      break;
    case 22:
      if (sc.keyIs("continue_final_message")) return F_CFM;
      break;
    case 28:
      if (sc.keyIs("return_assistant_tokens_mask")) return F_RATM;
      break;
  }
  // A key with escapes (e.g. "\u006dodel") is longer raw: decode and compare.
  if (sc.keyHasEscapes) return fieldIdDecoded(sc.key);
  return -1;
}

function fieldIdDecoded(k: Uint8Array): i32 {
  for (let id = 0; id < F_COUNT; id++) {
    if (asciiEquals(k, fieldName(id))) return id;
  }
  return -1;
}

export function fieldName(id: i32): string {
  switch (id) {
    case F_MODEL: return "model";
    case F_STREAM: return "stream";
    case F_PROMPT: return "prompt";
    case F_MESSAGES: return "messages";
    case F_TOOLS: return "tools";
    case F_DOCUMENTS: return "documents";
    case F_CHAT_TEMPLATE: return "chat_template";
    case F_KWARGS: return "chat_template_kwargs";
    case F_RATM: return "return_assistant_tokens_mask";
    case F_CFM: return "continue_final_message";
    case F_AGP: return "add_generation_prompt";
    case F_CACHE_SALT: return "cache_salt";
    case F_INPUT: return "input";
    case F_INSTRUCTIONS: return "instructions";
    case F_PREV_ID: return "previous_response_id";
    case F_MAX_TOKENS: return "max_tokens";
    case F_MAX_COMPLETION_TOKENS: return "max_completion_tokens";
    case F_MAX_OUTPUT_TOKENS: return "max_output_tokens";
  }
  return "";
}
