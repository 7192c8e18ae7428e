/**
 * The warm-up of the routing benchmark's traces (traces/common.ts
 * fromSessions, warmupRequests): which earlier requests a trace sends before
 * its measured ones, and that no measured request then carries a history no
 * server was sent. Pure: no Envoy.
 */
import { describe, expect, test } from "vitest";
import { ALL_TRACE_NAMES, generateTrace } from "../../src/bench/traces/generators.js";
import { warmupRequests } from "../../src/bench/traces/common.js";
import { formatTrace, parseTrace, type TraceRequest } from "../../src/bench/traces/trace.js";

const at = (t: number, session: string): TraceRequest => ({ t, session, path: "/v1/chat/completions", body: { turn: `${session}@${t}` } });
const label = (r: TraceRequest) => `${r.session}@${r.t}`;

describe("warmupRequests", () => {
  test.each([
    {
      name: "each continued session's latest earlier turn, and every request in the window the median of those spans",
      // Latest turns before 0: a at -300, b at -100, c at -1,000: median age 300, so the window is [-300, 0).
      before: [at(-900, "a"), at(-300, "a"), at(-2000, "b"), at(-100, "b"), at(-1000, "c"), at(-250, "ended"), at(-400, "ended")],
      measured: [at(10, "a"), at(20, "b"), at(30, "c"), at(40, "new")],
      expected: ["c@-1000", "a@-300", "ended@-250", "b@-100"],
    },
    {
      name: "nothing when no measured session began before the trace",
      before: [at(-50, "gone")],
      measured: [at(0, "x")],
      expected: [],
    },
    {
      name: "one continued session: its latest turn sets the window; every later earlier turn is in it",
      before: [at(-700, "a"), at(-500, "a"), at(-600, "z"), at(-450, "z")],
      measured: [at(5, "a")],
      expected: ["a@-500", "z@-450"],
    },
  ])("$name", ({ before, measured, expected }) => {
    expect(warmupRequests(before, measured).map(label)).toEqual(expected);
  });
});

/** Whether a request carries an earlier answer: a chat's assistant message, or a responses item the model produced. */
function answeredBefore(r: TraceRequest): boolean {
  const history = (r.body.messages ?? r.body.input) as Array<{ role?: string; type?: string }> | string;
  return Array.isArray(history) && history.some((m) => m.role === "assistant" || m.type === "function_call");
}

describe("built-in traces open in steady state", () => {
  test.each(ALL_TRACE_NAMES)("%s: the measured requests are the cold-start trace's, after a warm-up that leaves no history unsent", (name) => {
    const warm = generateTrace(name, { seed: 5, requests: 120 });
    const cold = generateTrace(name, { seed: 5, requests: 120, coldStart: true });
    const measured = warm.filter((r) => r.warmup !== true);
    const warmup = warm.filter((r) => r.warmup === true);
    // The warm-up comes first and the trace starts at 0.
    expect(warm.slice(0, warmup.length).every((r) => r.warmup === true)).toBe(true);
    expect(warm[0].t).toBe(0);
    expect(cold.some((r) => r.warmup === true)).toBe(false);
    // The same requests, shifted by the warm-up's length.
    expect(measured.map((r) => r.body)).toEqual(cold.map((r) => r.body));
    const shift = measured[0].t - cold[0].t;
    for (let i = 0; i < cold.length; i++) expect(measured[i].t - cold[i].t).toBeCloseTo(shift, 2);
    // A measured request with history (an earlier assistant turn) follows a request of its session in the trace.
    const seen = new Set<string>();
    let continued = 0;
    for (const r of warm) {
      if (r.warmup !== true && answeredBefore(r)) {
        expect(seen.has(r.session), `${name}: ${r.session} at ${r.t}`).toBe(true);
        continued++;
      }
      seen.add(r.session);
    }
    if (warmup.length > 0) expect(continued).toBeGreaterThan(0);
    // The format keeps the flag.
    expect(parseTrace(formatTrace(warm))).toEqual(warm);
  });

  test("the chat traces whose sessions run long get a warm-up of about one request per session under way", () => {
    const trace = generateTrace("multi-turn", { seed: 1 });
    const warmup = trace.filter((r) => r.warmup === true);
    const firstMeasured = new Map<string, TraceRequest>();
    for (const r of trace) if (r.warmup !== true && !firstMeasured.has(r.session)) firstMeasured.set(r.session, r);
    const underWay = [...firstMeasured.values()].filter((r) => (r.body.messages as Array<{ role: string }>).some((m) => m.role === "assistant"));
    expect(new Set(warmup.map((r) => r.session)).size).toBeGreaterThanOrEqual(underWay.length);
    expect(warmup.length).toBeLessThan(2 * underWay.length + 50);
  });

  test("a trace line's warmup must be a boolean", () => {
    const line = (warmup: unknown) => JSON.stringify({ t: 0, session: "a", path: "/v1/completions", body: {}, warmup });
    expect(parseTrace(line(true))[0].warmup).toBe(true);
    expect(parseTrace(line(false))[0].warmup).toBeUndefined();
    expect(() => parseTrace(line("yes"))).toThrow(/trace:1: "warmup" must be true or false/);
  });
});
