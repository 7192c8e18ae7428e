/**
 * Independent TypeScript reference of the request rendering and block chain
 * specified in docs/hashing.md (the AssemblyScript implementation is
 * assembly/hashing/render.ts + blocks.ts). Used only to generate and check
 * the golden vectors in test/fixtures/golden/; the simulator never uses it.
 * It shares no code with assembly/: JSON.parse instead of the byte scanner,
 * xxhash-wasm instead of our XXH64.
 */
import xxhash from "xxhash-wasm";

export type Api = "completions" | "chat" | "responses";

export interface ChainConfig {
  blockSize: number;
  maxBlocks: number;
  hashTrailingBlock: boolean;
}

const api = await xxhash();
const enc = new TextEncoder();

export function xxh64(bytes: Uint8Array, seed = 0n): bigint {
  return api.h64Raw(bytes, seed);
}

/** Canonical JSON: keys sorted by UTF-8 bytes, no whitespace, JSON.stringify's string escaping. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return "[" + value.map(canonicalJson).join(",") + "]";
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value as object).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJson((value as any)[k])).join(",") + "}";
  }
  return JSON.stringify(value);
}

/**
 * Render version 2 field value: every 0x00 byte of the value followed by an
 * 0xFF, then the two bytes 00 00 (docs/hashing.md §2 "Framing").
 */
export function escapeAndEnd(value: Uint8Array): Uint8Array {
  const out: number[] = [];
  value.forEach((b) => {
    out.push(b);
    if (b === 0x00) out.push(0xff);
  });
  out.push(0x00, 0x00);
  return Uint8Array.from(out);
}

class Out {
  parts: Uint8Array[] = [];
  bytes(b: Uint8Array) {
    this.parts.push(b);
  }
  byte(v: number) {
    this.parts.push(Uint8Array.of(v));
  }
  u32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    this.parts.push(b);
  }
  u64(v: bigint) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    this.parts.push(b);
  }
  /** tag ‖ escaped(bytes) ‖ 00 00 */
  field(tag: string, value: Uint8Array) {
    this.byte(tag.charCodeAt(0));
    this.bytes(escapeAndEnd(value));
  }
  text(tag: string, value: unknown) {
    if (typeof value === "string") this.field(tag, enc.encode(value));
  }
  json(tag: string, value: unknown) {
    if (value !== undefined && value !== null) this.field(tag, enc.encode(canonicalJson(value)));
  }
  concat(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

function renderCompletions(body: any, out: Out) {
  const p = body.prompt;
  if (typeof p === "string") return out.bytes(enc.encode(p));
  if (!Array.isArray(p) || p.length === 0) return;
  if (typeof p[0] === "string") return out.bytes(enc.encode(p.join(" ")));
  const lists: number[][] = typeof p[0] === "number" ? [p] : p;
  lists.forEach((list, i) => {
    if (i > 0) out.u32(0xffffffff);
    for (const t of list) out.u32(t);
  });
}

function renderChat(body: any, out: Out) {
  out.json("T", body.tools);
  out.json("D", body.documents);
  out.text("C", body.chat_template);
  out.json("K", body.chat_template_kwargs);
  for (const m of body.messages ?? []) {
    out.byte("M".charCodeAt(0));
    out.text("r", m.role);
    if (typeof m.content === "string") out.text("s", m.content);
    else if (Array.isArray(m.content)) {
      for (const part of m.content) {
        if (part.type === "text") out.text("s", part.text ?? "");
        else {
          // 'p' ‖ escaped(type) ‖ 00 00 ‖ LE64(XXH64(canonical JSON of the part))
          out.field("p", enc.encode(String(part.type ?? "")));
          out.u64(xxh64(enc.encode(canonicalJson(part))));
        }
      }
    }
    out.json("c", m.tool_calls);
    out.text("i", m.tool_call_id);
    out.text("n", m.name);
  }
}

function renderResponses(body: any, out: Out) {
  out.text("I", body.instructions);
  out.json("T", body.tools);
  if (typeof body.input === "string") return out.text("s", body.input);
  for (const item of body.input ?? []) out.json("x", item);
}

/** The rendered bytes of a request body (already JSON.parse'd). */
export function render(apiName: Api, body: any): Uint8Array {
  const out = new Out();
  if (apiName === "completions") renderCompletions(body, out);
  else if (apiName === "chat") renderChat(body, out);
  else renderResponses(body, out);
  return out.concat();
}

/**
 * A chat's previous reply in whole blocks, [start, end): the last assistant
 * message that another message follows and that starts before the hashing
 * stops (`maxBlocks`), as the rendering's whole blocks before it and
 * through it, capped at `maxBlocks` ([0, 0] when there is none). What the
 * filter credits as cached where the previous turn went.
 */
export function replyBlocks(body: any, blockSize: number, maxBlocks: number): [number, number] {
  const messages: any[] = body.messages ?? [];
  const whole = (n: number) => Math.min(maxBlocks, Math.floor(render("chat", { ...body, messages: messages.slice(0, n) }).length / blockSize));
  let out: [number, number] = [0, 0];
  for (let i = 0; i + 1 < messages.length; i++) {
    if (messages[i]?.role !== "assistant") continue;
    const start = whole(i);
    if (start >= maxBlocks) break;
    out = [start, whole(i + 1)];
  }
  return out;
}

/**
 * Whether the model produced a /v1/responses input item: role "assistant",
 * type "reasoning", or a type ending in "_call" (their results end in
 * "_call_output").
 */
export function isOutputItem(item: any): boolean {
  if (item === null || typeof item !== "object") return false;
  const type = typeof item.type === "string" ? item.type : "";
  return item.role === "assistant" || type === "reasoning" || type.endsWith("_call");
}

/**
 * A /v1/responses request's previous reply in whole blocks, [start, end):
 * the last run of output items (isOutputItem) that another item follows
 * and that starts before the hashing stops, as the rendering's whole blocks
 * before the run and through it, capped at `maxBlocks` ([0, 0] when there
 * is none, or the input is a string).
 */
export function responsesReplyBlocks(body: any, blockSize: number, maxBlocks: number): [number, number] {
  const items: any[] = Array.isArray(body.input) ? body.input : [];
  const whole = (n: number) => Math.min(maxBlocks, Math.floor(render("responses", { ...body, input: items.slice(0, n) }).length / blockSize));
  let out: [number, number] = [0, 0];
  for (let i = 0; i + 1 < items.length; i++) {
    if (!isOutputItem(items[i]) || isOutputItem(items[i + 1])) continue;
    let runStart = i;
    while (runStart > 0 && isOutputItem(items[runStart - 1])) runStart--;
    const start = whole(runStart);
    if (start >= maxBlocks) break;
    out = [start, whole(i + 1)];
  }
  return out;
}

/** seed = XXH64(model ‖ salt); h_i = XXH64(block_i ‖ LE64(h_{i-1})). */
export function chain(model: string, salt: string | null, bytes: Uint8Array, cfg: ChainConfig): bigint[] {
  let prev = xxh64(enc.encode(model + (salt ?? "")));
  const S = cfg.blockSize;
  const capped = bytes.subarray(0, Math.min(bytes.length, S * cfg.maxBlocks));
  const count = cfg.hashTrailingBlock ? Math.ceil(capped.length / S) : Math.floor(capped.length / S);
  const out: bigint[] = [];
  for (let i = 0; i < count; i++) {
    const block = capped.subarray(i * S, Math.min(capped.length, (i + 1) * S));
    const buf = new Uint8Array(block.length + 8);
    buf.set(block);
    new DataView(buf.buffer).setBigUint64(block.length, prev, true);
    prev = xxh64(buf);
    out.push(prev);
  }
  return out;
}

export const hex = (v: bigint) => v.toString(16).padStart(16, "0");

/** Hashes of a body text for `apiName`, model from the body. */
export function hashBody(apiName: Api, bodyText: string, cfg: ChainConfig): string[] {
  const body = JSON.parse(bodyText);
  const salt = typeof body.cache_salt === "string" ? body.cache_salt : null;
  return chain(body.model, salt, render(apiName, body), cfg).map(hex);
}
