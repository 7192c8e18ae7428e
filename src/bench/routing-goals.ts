/**
 * The routing goals, checked on bench:routing results (a run's, or --json
 * files': routing-summary.ts): per trace, default against round robin
 * (p90/p99 no worse, p50 3× lower on the session and popular-prompt traces,
 * p50 no worse on the shared-prompt ones), against precise (≥ 90% of its
 * hit rate) and against the oracle (within 1.25× at p50 and p99).
 */
/** The figures of one trace × policy the goals read (RoutingResult has them all). */
export interface GoalResult {
  trace: string;
  policy: string;
  errors: number;
  hitRate: number;
  ttftP50Ms: number;
  ttftP90Ms: number;
  ttftP99Ms: number;
  /** The tails without the run's cold start (RoutingResult.warmTtftP90Ms): reported beside the goals, not one of them. */
  warmTtftP90Ms?: number;
  warmTtftP99Ms?: number;
}

export const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
export const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(v >= 100 ? 0 : 1) : "–");

/** Traces where default must beat round robin's median TTFT by 3× (prefix reuse within sessions or popular prompts). */
export const SPEEDUP_TRACES = ["multi-turn", "pareto-prompts", "held-out-pareto"];
/** Traces where default's median TTFT must be no worse than round robin's (one prompt shared by all). */
export const NO_WORSE_P50_TRACES = ["shared-prompt", "held-out-shared"];

/** One goal check: the figure, the goal and whether it is met. */
export interface GoalCheck {
  trace: string;
  goal: string;
  value: string;
  met: boolean;
}

/** The routing goals, checked on the runs that exist (results only: works on --json files too). */
export function goalChecks(results: GoalResult[]): GoalCheck[] {
  const out: GoalCheck[] = [];
  const get = (trace: string, policy: string) => results.find((r) => r.trace === trace && r.policy === policy);
  const traces = [...new Set(results.map((r) => r.trace))];
  for (const trace of traces) {
    const def = get(trace, "default");
    if (!def) continue;
    const add = (goal: string, value: string, met: boolean) => out.push({ trace, goal, value, met });
    add("0 failed requests", String(def.errors), def.errors === 0);
    const rr = get(trace, "round-robin");
    if (rr) {
      add("p90 ≤ round robin", `${ms(def.ttftP90Ms)} vs ${ms(rr.ttftP90Ms)} ms`, def.ttftP90Ms <= rr.ttftP90Ms);
      add("p99 ≤ round robin", `${ms(def.ttftP99Ms)} vs ${ms(rr.ttftP99Ms)} ms`, def.ttftP99Ms <= rr.ttftP99Ms);
      for (const [name, d, r] of [
        ["p90", def.warmTtftP90Ms, rr.warmTtftP90Ms],
        ["p99", def.warmTtftP99Ms, rr.warmTtftP99Ms],
      ] as const) {
        if (d !== undefined && r !== undefined) add(`(after the cold start) ${name} ≤ round robin`, `${ms(d)} vs ${ms(r)} ms`, d <= r);
      }
      if (SPEEDUP_TRACES.includes(trace)) {
        const speedup = rr.ttftP50Ms / def.ttftP50Ms;
        add("p50 ≥ 3× lower than round robin", `${speedup.toFixed(2)}×`, speedup >= 3);
      }
      if (NO_WORSE_P50_TRACES.includes(trace)) add("p50 ≤ round robin", `${ms(def.ttftP50Ms)} vs ${ms(rr.ttftP50Ms)} ms`, def.ttftP50Ms <= rr.ttftP50Ms);
    }
    const precise = get(trace, "precise");
    if (precise && precise.hitRate > 0) {
      const share = def.hitRate / precise.hitRate;
      add("hit rate ≥ 90% of precise", pct(share), share >= 0.9);
    }
    const oracle = get(trace, "oracle");
    if (oracle) {
      const r50 = def.ttftP50Ms / oracle.ttftP50Ms;
      const r99 = def.ttftP99Ms / oracle.ttftP99Ms;
      add("p50 ≤ 1.25× oracle", `${r50.toFixed(2)}×`, r50 <= 1.25);
      add("p99 ≤ 1.25× oracle", `${r99.toFixed(2)}×`, r99 <= 1.25);
    }
  }
  return out;
}

export function goalLines(results: GoalResult[]): string[] {
  return goalChecks(results).map((g) => `${g.trace}: ${g.goal}: ${g.value} ${g.met ? "✔" : "✘"}`);
}
