/**
 * Closed-loop replay of sessions (docs/benchmarks.md "Routing").
 *
 * A real chat client sends back, in its next turn, the reply the server
 * actually generated; vLLM holds the KV blocks of that reply (it computed them
 * while decoding), so a follow-up routed to the same server hits them. A trace
 * carries the assistant text *as the trace's author wrote it*, which no
 * simulated server generated: replayed as is ("open loop"), no server can hold
 * the previous reply and every turn re-prefills it.
 *
 * Closed loop (the default): for a request with a `session`, an assistant
 * message is the reply to an earlier turn of the same session when the
 * messages before it are exactly that earlier turn's messages (as the trace
 * wrote them). Its content is replaced by the text the server streamed back
 * for that turn. Assistant messages carrying tool calls keep the trace's
 * content (the simulators answer with text, never with a tool call), and so
 * do replies to turns that are not in the trace (sessions already under way
 * when the trace starts) or that failed.
 *
 * Timing: a turn is sent at max(t, completion of the previous request of the
 * same session); it needs that reply. Everything else keeps the trace's clock.
 */
import { createHash } from "node:crypto";
import type { TraceRequest } from "./traces/trace.js";

/** Where one request's conversation lives in its body, for the APIs whose history carries assistant turns. */
function historyOf(path: string, body: Record<string, unknown>): unknown[] | null {
  if (path === "/v1/chat/completions" && Array.isArray(body.messages)) return body.messages;
  if (path === "/v1/responses" && Array.isArray(body.input)) return body.input;
  return null;
}

/** An assistant message whose text the server's reply can stand for (not a tool call, not another item type). */
function isTextReply(message: unknown): boolean {
  if (typeof message !== "object" || message === null || Array.isArray(message)) return false;
  const m = message as Record<string, unknown>;
  if (m.role !== "assistant") return false;
  if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) return false;
  if (m.type !== undefined && m.type !== "message") return false;
  return true;
}

/** prefix[n] identifies messages[0..n) (a chained digest of each message's JSON). */
function prefixDigests(messages: unknown[]): string[] {
  const out: string[] = [""];
  let last = Buffer.alloc(0);
  for (const message of messages) {
    last = createHash("sha1")
      .update(last)
      .update(JSON.stringify(message) ?? "null")
      .digest();
    out.push(last.toString("base64"));
  }
  return out;
}

export interface Substitution {
  /** Index of the message in the request's history. */
  message: number;
  /** Index (in the trace) of the earlier request whose reply this message is. */
  source: number;
}

export interface SessionPlan {
  /** Per request: index of the previous request of the same session, or -1. */
  previous: number[];
  /** Per request: the assistant messages to replace with an earlier turn's reply. */
  substitutions: Substitution[][];
}

/** Plans the closed loop over a trace sorted by t (traces/trace.ts sorts on read). Pure. */
export function planSessions(requests: readonly TraceRequest[]): SessionPlan {
  const previous: number[] = [];
  const substitutions: Substitution[][] = [];
  const lastOfSession = new Map<string, number>();
  /** Per session: digest of a request's whole history → that request's index (the latest one wins). */
  const turnsBySession = new Map<string, Map<string, number>>();
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i];
    previous.push(lastOfSession.get(r.session) ?? -1);
    lastOfSession.set(r.session, i);
    let turns = turnsBySession.get(r.session);
    if (turns === undefined) {
      turns = new Map();
      turnsBySession.set(r.session, turns);
    }
    const history = historyOf(r.path, r.body);
    const subs: Substitution[] = [];
    if (history !== null) {
      const digests = prefixDigests(history);
      for (let n = 0; n < history.length; n++) {
        if (!isTextReply(history[n])) continue;
        const source = turns.get(digests[n]);
        if (source !== undefined) subs.push({ message: n, source });
      }
      turns.set(digests[history.length], i);
    }
    substitutions.push(subs);
  }
  return { previous, substitutions };
}

/**
 * The body to send: the trace's body with the planned assistant messages'
 * content replaced by the replies received (`replies[source]`; undefined =
 * not received, keep the trace's text), asking for streaming.
 */
export function closedLoopBody(
  request: TraceRequest,
  substitutions: readonly Substitution[],
  replies: readonly (string | undefined)[],
): Record<string, unknown> {
  const body: Record<string, unknown> = { ...request.body, stream: true };
  const history = historyOf(request.path, request.body);
  if (history === null || substitutions.length === 0) return body;
  const copy = history.slice();
  let changed = false;
  for (const { message, source } of substitutions) {
    const reply = replies[source];
    if (reply === undefined || message >= copy.length) continue;
    copy[message] = { ...(copy[message] as Record<string, unknown>), content: reply };
    changed = true;
  }
  if (!changed) return body;
  if (request.path === "/v1/responses") body.input = copy;
  else body.messages = copy;
  return body;
}
