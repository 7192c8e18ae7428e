/**
 * Envoy's log as a deploy tails it: the lines about a refused update, written
 * after the deploy started.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";

/** The log's size now (where new lines will start), or null without a readable log. */
export function logSize(file: string | undefined): number | null {
  if (!file) return null;
  try {
    return statSync(file).size;
  } catch {
    return null;
  }
}

/**
 * Envoy may write (and flush) its log a moment after the counters move: wait
 * for the first lines, then up to 300 ms more for the "config update
 * rejected" line (Envoy's file log is flushed at once for critical lines only,
 * so that warning can stay buffered), 2 s at most.
 */
export async function awaitEnvoyLogLines(file: string | undefined, from: number | null, since: number): Promise<string[]> {
  if (!file) return [];
  const start = Date.now();
  let firstSeen: number | null = null;
  let lines = envoyLogLines(file, from, since);
  while (!lines.some((l) => /rejected/i.test(l))) {
    const now = Date.now();
    if (lines.length > 0) firstSeen ??= now;
    if (now - start > 2000 || (firstSeen !== null && now - firstSeen > 300)) break;
    await new Promise((r) => setTimeout(r, 50));
    lines = envoyLogLines(file, from, since);
  }
  return lines;
}

/**
 * Envoy's log lines about the refused update (wasm/config warnings and worse)
 * written after byte `from`, dropping lines stamped before `sinceMs` (a line
 * of an earlier update can be flushed late). Envoy stamps local time; a line
 * is dropped only when it is older under both the local and the UTC reading
 * (a container's time zone may differ from ours).
 */
export function envoyLogLines(file: string | undefined, from: number | null, sinceMs = 0): string[] {
  if (!file) return [];
  let text: string;
  try {
    const fd = openSync(file, "r");
    try {
      const size = statSync(file).size;
      const start = from !== null && from <= size ? from : 0;
      const buffer = Buffer.alloc(Math.min(size - start, 4 * 1024 * 1024));
      readSync(fd, buffer, 0, buffer.length, start);
      text = buffer.toString("utf8");
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split("\n")) {
    // [2026-01-01 00:00:00.000][123][critical][wasm] [source/...:626] Plugin llm-picker failed to load
    const m = /^\[([^\]]*)\]\[\d+\]\[(warning|error|critical)\]\[(wasm|config)\] \[[^\]]*\] (.*)$/.exec(line);
    if (m && !stampedBefore(m[1], sinceMs)) out.push(`[${m[2]}][${m[3]}] ${m[4]}`);
  }
  return [...new Set(out)];
}

/** "2026-01-01 00:00:00.000" is before `ms` whether read as local time or as UTC. */
function stampedBefore(stamp: string, ms: number): boolean {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3})/.exec(stamp);
  if (!m) return false;
  const [y, mo, d, h, mi, sec, milli] = m.slice(1).map(Number);
  const local = new Date(y, mo - 1, d, h, mi, sec, milli).getTime();
  const utc = Date.UTC(y, mo - 1, d, h, mi, sec, milli);
  return local < ms && utc < ms;
}

/**
 * Envoy lines that read as something they are not. "Plugin configured to
 * fail closed failed to load" is logged by Envoy 1.40 for every module that
 * does not load, whatever `failure_policy` says: it tests the deprecated
 * `fail_open` flag, which FAIL_OPEN does not set. On an update the policy
 * does not come into play: the module never served, Envoy refuses the
 * update and the running filter keeps serving.
 */
export function notesOn(lines: string[]): string[] {
  if (!lines.some((l) => l.includes("fail closed failed to load"))) return [];
  return [
    'note: "Plugin configured to fail closed failed to load" is Envoy\'s wording for any module that does not load; ' +
      "it reads the deprecated fail_open flag, not failure_policy (FAIL_OPEN here). Nothing failed closed: " +
      "the update was refused before the module served a request, and the running filter keeps serving.",
  ];
}
