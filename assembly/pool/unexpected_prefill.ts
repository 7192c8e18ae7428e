// Prefill a server did that this Envoy did not expect. A prefix the index
// took as cached there, which the server had pushed out of its KV cache (a
// false hit), costs a prefill nobody counted, and every request sent there
// meanwhile waits behind it. The server's prefix-cache counters tell: the
// prompt tokens it looked up and did not find (queries − hits) grow by more
// than the blocks this Envoy expected it to prefill (its written-blocks
// clock). Learned per scrape by the scraping VM and published with the
// endpoint's state; what is found is also added to that clock, since it
// was written into the cache like the rest. docs/routing.md "Prefill the
// server did not expect".
import { ClockPerToken } from "./clock_per_token";
import { MAX_CLOCK_ADVANCE } from "./in_flight";

/** What one scrape reads of this Envoy's in-flight entry for the endpoint (pool/in_flight.ts). */
export class RoutedClocks {
  constructor(
    /** The written-blocks clock: the blocks routed there that the index took as not cached. */
    public written: u32 = 0,
    /** The prompt-blocks clock: every prompt block routed there. */
    public prompt: u32 = 0,
    /** Blocks routed there whose first byte has not come back. */
    public pending: i32 = 0,
    /** Its measured prefill pace, blocks per ms (0: not measured). */
    public pace: f64 = 0,
  ) {}
}

export class UnexpectedPrefill {
  /** Prompt blocks this Envoy routes there per prompt token the server looks up: the server's tokens in the index's blocks. */
  promptBlocks: ClockPerToken = new ClockPerToken();
  /** The server's missed-tokens counter (queries − hits) and the written-blocks clock at the last scrape. */
  missesSeen: f64 = 0;
  writtenSeen: u32 = 0;
  hasSeen: bool = false;
  /**
   * Blocks this Envoy expected the server to prefill that its counters have
   * not shown yet: requests routed there and not yet admitted (the server
   * counts a prompt when it admits it). At most the pending blocks: more
   * than that is not a lag but prefixes that were cached after all.
   */
  owed: f64 = 0;
  /** The unexpected prefill the last scrape that found some left there, in blocks, and that scrape's time (ms). */
  blocks: f64 = 0;
  atMs: i64 = 0;
  /** What the last scrape found, in blocks (0: none; not published: the scraper reads it at once). */
  found: f64 = 0;

  /** What one scrape found is read at once: cleared before the next, which may not observe (a failed scrape). */
  clearFound(): void {
    this.found = 0;
  }

  /**
   * What the last scrape found, in whole blocks: what the stats count, and
   * what the scraper adds to the endpoint's written-blocks clock, since
   * that prefill wrote into the server's cache as much as the prefill this
   * Envoy expected, and pushed out as much (docs/hashing.md "Evictions").
   * The next scrape takes the clock's advance past it as what was expected.
   */
  foundBlocks(): u32 {
    return <u32>Math.min(Math.floor(this.found + 0.5), MAX_CLOCK_ADVANCE);
  }

  /**
   * One scrape: `queries` and `hits` are the server's prefix-cache
   * counters (tokens since it started), `clocks` this Envoy's in-flight
   * entry for it, read after the page. Finds nothing until the prompt
   * blocks per token are learned, or across a counter or clock reset.
   */
  observe(queries: f64, hits: f64, clocks: RoutedClocks, nowMs: i64): void {
    this.clearFound();
    if (!isFinite(queries) || !isFinite(hits) || queries < 0 || hits < 0) return;
    this.promptBlocks.learn(queries, clocks.prompt);
    const misses = queries > hits ? queries - hits : 0;
    const had = this.hasSeen && misses >= this.missesSeen;
    const missed = misses - this.missesSeen;
    const written = <f64>(clocks.written - this.writtenSeen); // wrapping clock
    this.missesSeen = misses;
    this.writtenSeen = clocks.written;
    this.hasSeen = true;
    if (!had || written > MAX_CLOCK_ADVANCE || !this.promptBlocks.learned) {
      this.owed = 0;
      return;
    }
    const beyond = missed * this.promptBlocks.ratio - written - this.owed;
    if (beyond > 0) {
      this.blocks = this.remaining(nowMs, clocks.pace) + beyond;
      this.atMs = nowMs;
      this.owed = 0;
      this.found = beyond;
      this.writtenSeen = clocks.written + this.foundBlocks(); // wrapping clock
      return;
    }
    const short = 0 - beyond; // >= 0 here (0 - x, not -x: no negative zero)
    const pending = <f64>max(0, clocks.pending);
    this.owed = short < pending ? short : pending;
  }

  /**
   * What is left at `nowMs` of the unexpected prefill, prefilled at
   * `blocksPerMs` from the scrape that found it: taken as all still to run
   * then, since the server admitted it within the last scrape interval.
   * 0 without a pace: nothing says when it ends.
   */
  remaining(nowMs: i64, blocksPerMs: f64): f64 {
    if (this.blocks <= 0 || !(blocksPerMs > 0)) return 0;
    const since = nowMs > this.atMs ? <f64>(nowMs - this.atMs) : 0;
    const left = this.blocks - blocksPerMs * since;
    return left > 0 ? left : 0;
  }
}
