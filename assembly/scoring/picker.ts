// Pickers turn the weighted totals into one candidate. A picker sees the
// candidates too, so one that also weighs load (a bounded-load picker, say)
// needs no other input.
import { Pcg32 } from "./rng";
import { Candidates, ScoringRequest } from "./scorer";

/** Why a picker left a candidate out (Picker.leftOut): the bound that did. */
export const enum LeftOut {
  Kept = 0,
  /** Its occupancy above the load bound's capacity. */
  Load = 1,
  /** Its batch full while another had a place. */
  Batch = 2,
  /** The request's predicted wait there too far above its best. */
  Wait = 3,
}

/** The name a LeftOut reason has in the decision's rendering. */
export function leftOutName(why: u8): string {
  return why == LeftOut.Load ? "load" : why == LeftOut.Batch ? "batch" : why == LeftOut.Wait ? "wait" : "";
}

/** How many candidates `why` (Picker.leftOut) has left out for one of the reasons `a` or `b`. */
export function countLeftOut(why: Uint8Array | null, a: LeftOut, b: LeftOut = a): i32 {
  if (why == null) return 0;
  let n = 0;
  for (let i = 0; i < why.length; i++) if (unchecked(why[i]) == a || unchecked(why[i]) == b) n++;
  return n;
}

/** Totals closer than this are a tie (sums of a few doubles carry rounding noise). */
export const TIE_EPSILON: f64 = 1e-9;

export abstract class Picker {
  /** Why the last pick left out each candidate (LeftOut, same order as the candidates); null for pickers that leave none out. */
  leftOut: Uint8Array | null = null;

  constructor(
    /** Name for logs and the configuration. */
    public readonly name: string,
  ) {}

  /**
   * Index into the candidates (and `totals`, same order) of the chosen one;
   * -1 only when there are no candidates. `rng` breaks ties. `req` is the
   * request being decided (a picker may bound on what it predicts for it).
   */
  abstract pick(totals: Float64Array, c: Candidates, req: ScoringRequest, rng: Pcg32): i32;
}

/** The best total; ties broken uniformly at random. */
export class MaxScorePicker extends Picker {
  constructor() {
    super("max-score");
  }

  pick(totals: Float64Array, c: Candidates, req: ScoringRequest, rng: Pcg32): i32 {
    return pickMaxScore(totals, rng);
  }
}

/**
 * Max-score picker: the index of the best total; among totals within
 * TIE_EPSILON of the best, one chosen uniformly at random. -1 when empty.
 */
export function pickMaxScore(totals: Float64Array, rng: Pcg32): i32 {
  const n = totals.length;
  if (n == 0) return -1;
  const best = maxOf(totals);
  const tied = countTied(totals);
  let k = <i32>rng.below(<u32>tied);
  for (let i = 0; i < n; i++) {
    if (best - unchecked(totals[i]) <= TIE_EPSILON) {
      if (k == 0) return i;
      k--;
    }
  }
  return 0; // not reached: k < tied
}

function maxOf(totals: Float64Array): f64 {
  let best = -Infinity;
  for (let i = 0; i < totals.length; i++) if (unchecked(totals[i]) > best) best = unchecked(totals[i]);
  return best;
}

/** How many totals are within TIE_EPSILON of the best (0 when empty). */
export function countTied(totals: Float64Array): i32 {
  const best = maxOf(totals);
  let tied = 0;
  for (let i = 0; i < totals.length; i++) if (best - unchecked(totals[i]) <= TIE_EPSILON) tied++;
  return tied;
}
