// The responses a simulated server stored, as vLLM keeps them: in the
// server's own memory, so a /v1/responses request whose
// `previous_response_id` another server answered gets 404 here ("Response
// with id '…' not found."), and one this server answered continues its
// conversation: the stored input items and the answer's text come before the
// new input (the prompt, and so the prefix cache, see the whole history).
// `store: false` answers are not kept. GET /v1/responses/{id} returns one.

import { RequestError } from "./prompt.js";

/** Answers kept per server; the oldest goes first (vLLM keeps all until restart: a bound keeps a long benchmark's memory flat). */
export const STORED_RESPONSES_MAX = 20_000;

type Item = Record<string, unknown>;

/** A stored answer: the input items its prompt was made of (the continued history included) and its output text. */
export interface StoredResponse {
  id: string;
  model: string;
  items: Item[];
  text: string;
}

/** A /v1/responses body with its continued history in `input`, ready to be served. */
export interface ResponsesTurn {
  /** The body to render and serve (`previous_response_id` replaced by the stored items). */
  bodyText: string;
  /** Its input items, to store with the answer. */
  items: Item[];
  /** Whether the answer is to be stored (`store` is not false). */
  store: boolean;
}

function isObject(value: unknown): value is Item {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function notFound(id: string): RequestError {
  return new RequestError(404, `Response with id '${id}' not found.`);
}

export class StoredResponses {
  private byId = new Map<string, StoredResponse>();

  constructor(private readonly max = STORED_RESPONSES_MAX) {}

  /** The request as this server serves it: with what its `previous_response_id` stored before its input. Throws 404 when that is not stored here. */
  turn(bodyText: string): ResponsesTurn {
    let body: unknown;
    try {
      body = JSON.parse(bodyText);
    } catch {
      return { bodyText, items: [], store: false }; // the parser answers the 400
    }
    if (!isObject(body)) return { bodyText, items: [], store: false };
    const store = body.store !== false;
    const input = body.input;
    const own: Item[] = typeof input === "string" ? [{ role: "user", content: input }] : Array.isArray(input) ? input.filter(isObject) : [];
    // Its instructions are its first message, stored with the rest (vLLM's message store keeps the system message).
    const system: Item[] = typeof body.instructions === "string" ? [{ role: "system", content: body.instructions }] : [];
    const previous = body.previous_response_id;
    if (previous === undefined || previous === null) return { bodyText, items: [...system, ...own], store };
    if (typeof previous !== "string") throw new RequestError(400, "previous_response_id must be a string");
    const stored = this.byId.get(previous);
    if (stored === undefined) throw notFound(previous);
    // New instructions come first, then the stored conversation (its own system message included) and its answer.
    const items = [...system, ...stored.items, { type: "message", role: "assistant", content: stored.text }, ...own];
    const { previous_response_id: _, instructions: __, ...rest } = body;
    return { bodyText: JSON.stringify({ ...rest, input: items }), items, store };
  }

  remember(answer: StoredResponse): void {
    this.byId.delete(answer.id);
    this.byId.set(answer.id, answer);
    while (this.byId.size > this.max) {
      const oldest = this.byId.keys().next().value as string;
      this.byId.delete(oldest);
    }
  }

  /** The stored answer `id`; throws 404 when this server holds none. */
  get(id: string): StoredResponse {
    const stored = this.byId.get(id);
    if (stored === undefined) throw notFound(id);
    return stored;
  }

  get size(): number {
    return this.byId.size;
  }

  clear(): void {
    this.byId.clear();
  }
}
