/**
 * Envoy 1.40's Maglev load balancer as seen from outside: the table for a
 * set of equal-weight hosts, the host a header value maps to, and the hosts
 * a retry draws when a retry host predicate (previous_hosts) rejects the
 * first pick. The filter has its own mirror of the table
 * (assembly/fleet/maglev.ts, which decides whether a replica owns a session);
 * this model adds the retry re-picks, for the Envoy tier and the kill
 * diagnostic (`npm run bench:fleet:kill`), which ask which session keys a
 * retry cannot move off a dead replica (docs/fleet.md "When a replica dies").
 *
 * Envoy's construction: hosts sorted by their "ip:port" string; offset =
 * XXH64(address, seed 0) mod M, skip = XXH64(address, seed 1) mod (M − 1) + 1;
 * hosts take turns claiming the next free slot of their permutation until the
 * M slots are full. A header value's hash is XXH64(value, seed 0).
 *
 * Host selection with a retry predicate (ThreadAwareLoadBalancerBase): the
 * same hash is tried for attempt i = 0 … host_selection_retry_max_attempts,
 * attempt i > 0 XORing it with ~(i − 1) (Envoy: `hash ^= ~0ULL - attempt + 1`),
 * and the first host the predicate accepts is used; when none is accepted the
 * last pick is used anyway. So the re-picks of one key are the same on every
 * retry, and they read consecutive slots (¬hash XOR 0, 1, 2, …): a host that
 * holds a run of consecutive slots there gets the retry again.
 */
import xxhash from "xxhash-wasm";

/** Envoy's default Maglev table size (a prime). */
export const MAGLEV_TABLE_SIZE = 65537;

const hasher = await xxhash();
const encoder = new TextEncoder();
const MASK64 = (1n << 64n) - 1n;

function xxh64(text: string, seed: bigint): bigint {
  return hasher.h64Raw(encoder.encode(text), seed);
}

export class MaglevModel {
  /** The hosts, sorted as Envoy sorts them. */
  readonly hosts: string[];
  private readonly slots: Int32Array;

  constructor(addresses: string[], size = MAGLEV_TABLE_SIZE) {
    this.hosts = [...addresses].sort();
    this.slots = new Int32Array(size).fill(-1);
    const m = BigInt(size);
    const offset = this.hosts.map((h) => Number(xxh64(h, 0n) % m));
    const skip = this.hosts.map((h) => Number(xxh64(h, 1n) % (m - 1n)) + 1);
    const next = this.hosts.map(() => 0);
    const slotOf = (i: number) => Number((BigInt(offset[i]) + BigInt(skip[i]) * BigInt(next[i])) % m);
    let filled = 0;
    while (filled < size && this.hosts.length > 0) {
      for (let i = 0; i < this.hosts.length && filled < size; i++) {
        let c = slotOf(i);
        while (this.slots[c] >= 0) {
          next[i]++;
          c = slotOf(i);
        }
        this.slots[c] = i;
        next[i]++;
        filled++;
      }
    }
  }

  /** The host of selection attempt `attempt` (0: the owner) for a header value. */
  pick(headerValue: string, attempt = 0): string {
    let hash = xxh64(headerValue, 0n);
    if (attempt > 0) hash ^= (MASK64 - BigInt(attempt) + 1n) & MASK64;
    return this.hosts[this.slots[Number(hash % BigInt(this.slots.length))]];
  }

  /** The owner of a header value (selection attempt 0). */
  ownerOf(headerValue: string): string {
    return this.pick(headerValue, 0);
  }

  /**
   * The host a retry goes to when the hosts in `excluded` are rejected (the
   * previous_hosts predicate after they failed) and Envoy re-picks up to
   * `maxAttempts` times (host_selection_retry_max_attempts): the first
   * accepted pick, else the last pick.
   */
  retryHost(headerValue: string, excluded: ReadonlySet<string>, maxAttempts: number): string {
    let host = "";
    for (let attempt = 0; attempt <= maxAttempts; attempt++) {
      host = this.pick(headerValue, attempt);
      if (!excluded.has(host)) return host;
    }
    return host;
  }
}
