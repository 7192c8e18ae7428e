// How far one of this Envoy's wrapping block clocks advances per token a
// server's counter adds, learned over windows: the written-blocks clock
// against the tokens the server writes into its KV cache (EndpointState
// blocksPerToken, docs/hashing.md "Evictions"), and the prompt-blocks clock
// against the prompt tokens it looks up in its prefix cache (UnexpectedPrefill,
// docs/routing.md "Prefill the server did not expect"). The clock is this
// Envoy's, the counter the server's, so the ratio holds whatever the
// server's tokenizer and whatever share of its traffic this Envoy sends.

/** Tokens the server's counter adds in one learning window. */
export const LEARN_WINDOW_TOKENS: f64 = 16384;
/** Weight of the windows before the one that closes: the sums remember about eight windows. */
export const LEARN_DECAY: f64 = 0.875;
/** A window above this (a 64-byte block per token) is not a rate but a reset clock. */
export const MAX_BLOCKS_PER_TOKEN: f64 = 1;

export class ClockPerToken {
  /**
   * The clock's advance and the counter's over the windows closed so far,
   * each older window weighted LEARN_DECAY less. Both 0 until a window has
   * closed.
   */
  clockSum: f64 = 0;
  tokensSum: f64 = 0;
  /** Where the open window started: the counter and the clock then. */
  tokensMark: f64 = 0;
  clockMark: u32 = 0;
  hasMark: bool = false;

  /**
   * Clock blocks per counter token: the ratio of the sums rather than an
   * average of ratios, so a window that caught a few long prompts on one
   * side of the lag between routing and the server's count weighs only as
   * much as its tokens.
   */
  get ratio(): f64 {
    return this.tokensSum > 0 ? this.clockSum / this.tokensSum : 0;
  }

  /** Whether the ratio is learned (a window has closed). */
  get learned(): bool {
    return this.tokensSum > 0;
  }

  /**
   * One step of learning from the counter (`tokens`) and the clock
   * (`clock`, wrapping). A window closes once the counter has added
   * LEARN_WINDOW_TOKENS since it opened, and adds its blocks and tokens to
   * the sums. A counter that went back (the server restarted) or a clock
   * that moved by more than a block per token (this Envoy's in-flight value
   * was reset) opens a new window without adding anything.
   */
  learn(tokens: f64, clock: u32): void {
    if (!this.wantsClock(tokens)) return;
    if (!this.hasMark || tokens < this.tokensMark) {
      this.mark(tokens, clock);
      return;
    }
    const dTokens = tokens - this.tokensMark;
    const dClock = <f64>(clock - this.clockMark);
    this.mark(tokens, clock);
    if (dClock > MAX_BLOCKS_PER_TOKEN * dTokens) return;
    this.clockSum = this.clockSum * LEARN_DECAY + dClock;
    this.tokensSum = this.tokensSum * LEARN_DECAY + dTokens;
  }

  /** Whether learn(tokens, clock) uses the clock: to open the first window, after a counter reset, or to close a window. */
  private wantsClock(tokens: f64): bool {
    if (!isFinite(tokens) || tokens < 0) return false;
    return !this.hasMark || tokens < this.tokensMark || tokens - this.tokensMark >= LEARN_WINDOW_TOKENS;
  }

  private mark(tokens: f64, clock: u32): void {
    this.tokensMark = tokens;
    this.clockMark = clock;
    this.hasMark = true;
  }
}

/** Sums as ClockPerToken.learn leaves them: at least a token (a window has thousands), blocks at most one per token. */
export function validSums(clock: f64, tokens: f64): bool {
  return isFinite(tokens) && tokens >= 1 && isFinite(clock) && clock >= 0 && clock <= MAX_BLOCKS_PER_TOKEN * tokens;
}
