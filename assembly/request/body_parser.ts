// The state of one body parse, shared by the per-API readers
// (completions.ts, chat.ts, responses.ts) and the dispatcher (parse.ts),
// with the readers for optional scalar fields. Field readers return false
// with `pending` set on a type error; the dispatcher records it and goes on.
import { JsonKind } from "../json/kinds";
import { JsonScanner } from "../json/scanner";
import { FieldError, fieldPath, typeError } from "./errors";
import { F_COUNT } from "./fields";
import { ChatCompletionsBody, CompletionsBody, OptBool, ParsedBody, RawJson, RequestError, ResponsesBody } from "./types";

/** optBool's result when the value is neither a boolean nor null (error set). */
export const OPT_BOOL_ERROR: OptBool = <OptBool>-2;

export class BodyParser {
  /** Structured elements allocated so far (bounded by MAX_ELEMENTS). */
  elements: i32 = 0;
  sc: JsonScanner;
  pending: RequestError | null = null;
  seen: StaticArray<bool> = new StaticArray<bool>(F_COUNT);
  errs: StaticArray<FieldError | null> = new StaticArray<FieldError | null>(F_COUNT);
  out: ParsedBody = new ParsedBody();
  // The three API bodies are created on first use: a request fills one of them.
  private compBody: CompletionsBody | null = null;
  private chatBody: ChatCompletionsBody | null = null;
  private respBody: ResponsesBody | null = null;
  modelSeen: bool = false;
  promptEmpty: bool = false;
  messagesEmpty: bool = false;
  inputEmpty: bool = false;
  cacheSalt: Uint8Array | null = null;
  tools: RawJson | null = null;
  // Scratch for optional values.
  str: Uint8Array | null = null;
  raw: RawJson | null = null;
  tokens: Array<u32> = [];
  /** max_tokens, max_completion_tokens and max_output_tokens as read (0: absent or not a positive integer). */
  maxTokens: i32 = 0;
  maxCompletionTokens: i32 = 0;
  maxOutputTokens: i32 = 0;

  constructor(body: Uint8Array) {
    this.sc = new JsonScanner(body);
  }

  get comp(): CompletionsBody {
    let b = this.compBody;
    if (b === null) this.compBody = b = new CompletionsBody();
    return b;
  }

  get chat(): ChatCompletionsBody {
    let b = this.chatBody;
    if (b === null) this.chatBody = b = new ChatCompletionsBody();
    return b;
  }

  /** A fresh completions body (a repeated `prompt` replaces the earlier one). */
  set comp(c: CompletionsBody) {
    this.compBody = c;
  }

  get resp(): ResponsesBody {
    let b = this.respBody;
    if (b === null) this.respBody = b = new ResponsesBody();
    return b;
  }

  fail(e: RequestError): bool {
    this.pending = e;
    return false;
  }

  /** String or null → this.str. `msg` >= 0: a field of messages[msg] (path built only on error). */
  optString(name: string, msg: i32 = -1): bool {
    const sc = this.sc;
    const k = sc.peek();
    if (k == JsonKind.Null) {
      this.str = null;
      return sc.readNull();
    }
    if (k != JsonKind.String) return this.fail(typeError(fieldPath(name, msg), "a string", k));
    this.str = sc.readString();
    return this.str != null;
  }

  /** Boolean or null; -2 on error (OptBool values otherwise). */
  optBool(path: string): OptBool {
    const sc = this.sc;
    const k = sc.peek();
    if (k == JsonKind.Null) return sc.readNull() ? OptBool.Absent : OPT_BOOL_ERROR;
    if (k != JsonKind.True && k != JsonKind.False) {
      this.fail(typeError(path, "a boolean", k));
      return OPT_BOOL_ERROR;
    }
    const b = sc.readBool();
    if (b < 0) return OPT_BOOL_ERROR;
    return b == 1 ? OptBool.True : OptBool.False;
  }

  /** `want` (array or object) kept as raw JSON, or null → this.raw. */
  optRaw(name: string, want: JsonKind, msg: i32 = -1): bool {
    const sc = this.sc;
    const k = sc.peek();
    if (k == JsonKind.Null) {
      this.raw = null;
      return sc.readNull();
    }
    if (k != want) return this.fail(typeError(fieldPath(name, msg), want == JsonKind.Array ? "an array" : "an object", k));
    if (!sc.skipValue()) return false;
    this.raw = new RawJson(sc.valueBytes());
    return true;
  }
}
