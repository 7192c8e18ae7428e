/**
 * Trace format of the routing benchmark: JSON Lines, one
 * request per line,
 *   {"t": <ms from the start of the trace>, "session": "<id>", "path": "/v1/chat/completions", "body": {...}}
 * and optionally `"warmup": true`: a request the replayer sends like any
 * other but leaves out of every figure (it brings the pool to the state the
 * measured requests find in steady state; traces/common.ts fromSessions).
 * `t` is in model milliseconds: the replayer sends each request at t × the
 * simulated servers' timeScale (so with timeScale 1 the trace's own timing is
 * kept exactly). The routers never see `session`; the replayer uses it for the
 * closed loop (routing-sessions.ts): a turn carries the replies the servers
 * streamed for its session's earlier turns and is sent at max(t, completion
 * of the session's previous request), unless --open-loop.
 */
import { readFileSync, writeFileSync } from "node:fs";

export interface TraceRequest {
  t: number;
  session: string;
  path: string;
  body: Record<string, unknown>;
  /** Sent, but left out of the figures. */
  warmup?: boolean;
}

export const INFERENCE_PATHS = ["/v1/chat/completions", "/v1/completions", "/v1/responses"];

/** Checks one parsed line; returns an error message or null. */
function checkEntry(entry: unknown): string | null {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return "not a JSON object";
  const e = entry as Record<string, unknown>;
  if (typeof e.t !== "number" || !Number.isFinite(e.t) || e.t < 0) return `"t" must be a number >= 0 (ms from the start)`;
  if (typeof e.session !== "string" && typeof e.session !== "number") return `"session" must be a string`;
  if (typeof e.path !== "string" || !INFERENCE_PATHS.includes(e.path)) return `"path" must be one of ${INFERENCE_PATHS.join(", ")}`;
  if (typeof e.body !== "object" || e.body === null || Array.isArray(e.body)) return `"body" must be a JSON object`;
  if (e.warmup !== undefined && typeof e.warmup !== "boolean") return `"warmup" must be true or false`;
  return null;
}

/** Parses JSON Lines text (blank lines skipped); throws with the line number on a bad line. Sorted by t (stable). */
export function parseTrace(text: string, source = "trace"): TraceRequest[] {
  const out: TraceRequest[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch (err) {
      throw new Error(`${source}:${i + 1}: not JSON: ${(err as Error).message}`);
    }
    const problem = checkEntry(entry);
    if (problem) throw new Error(`${source}:${i + 1}: ${problem}`);
    const e = entry as TraceRequest;
    out.push({ t: e.t, session: String(e.session), path: e.path, body: e.body, ...(e.warmup === true ? { warmup: true } : {}) });
  }
  if (out.length === 0) throw new Error(`${source}: no requests`);
  return sortByTime(out);
}

/** Requests sorted by t, ties in their order (a new array). */
export function sortByTime(requests: readonly TraceRequest[]): TraceRequest[] {
  return requests
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.t - b.r.t || a.i - b.i)
    .map((x) => x.r);
}

export function readTrace(path: string): TraceRequest[] {
  return parseTrace(readFileSync(path, "utf8"), path);
}

export function formatTrace(trace: TraceRequest[]): string {
  return (
    trace
      .map((r) =>
        JSON.stringify({ t: Math.round(r.t * 1000) / 1000, session: r.session, path: r.path, body: r.body, ...(r.warmup === true ? { warmup: true } : {}) }),
      )
      .join("\n") + "\n"
  );
}

export function writeTrace(path: string, trace: TraceRequest[]): void {
  writeFileSync(path, formatTrace(trace));
}
