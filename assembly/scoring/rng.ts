// Seedable PRNG for the picker's tie-break (uniformly random among equal
// totals, reproducible in tests). PCG32 (XSH-RR variant), after
// M. O'Neill, "PCG: A Family of Simple Fast Space-Efficient Statistically Good
// Algorithms for Random Number Generation" (pcg-random.org). The upstream
// max-score picker also uses a PCG (Go math/rand/v2) seeded from the clock;
// pure code here never reads a clock or Math.random: the caller passes the seed.

const MULTIPLIER: u64 = 6364136223846793005;

export class Pcg32 {
  private state: u64 = 0;
  private inc: u64;

  constructor(seed: u64, stream: u64 = 0xda3e39cb94b95bdb) {
    this.inc = (stream << 1) | 1;
    this.nextU32();
    this.state += seed;
    this.nextU32();
  }

  nextU32(): u32 {
    const old = this.state;
    this.state = old * MULTIPLIER + this.inc;
    const xorshifted = <u32>(((old >> 18) ^ old) >> 27);
    const rot = <u32>(old >> 59);
    return rotr<u32>(xorshifted, rot);
  }

  /** Uniform integer in [0, bound); 0 when bound is 0. Rejection removes modulo bias. */
  below(bound: u32): u32 {
    if (bound <= 1) return 0;
    // 2^32 mod bound, computed in 32 bits: (-bound) % bound.
    const threshold: u32 = (<u32>0 - bound) % bound;
    while (true) {
      const r = this.nextU32();
      if (r >= threshold) return r % bound;
    }
    return 0;
  }
}
