// Envoy's Maglev table, rebuilt in the filter so a replica can tell whether
// it owns a session key before forwarding it (docs/fleet.md "Skipping the
// hop"). It mirrors Envoy 1.40's construction for equal host weights
// (source/extensions/load_balancing_policies/maglev): hosts sorted by their
// "ip:port" string; offset = XXH64(address, seed 0) mod M, skip =
// XXH64(address, seed 1) mod (M − 1) + 1; hosts take turns claiming the next
// free slot of their permutation until the M slots are full. A request's
// hash with a header hash_policy is XXH64(header value, seed 0), and its
// host is table[hash mod M]. The Envoy tier checks that both agree; if they
// ever did not, a session would be served by two replicas (a lower hit
// rate), never lost.
import { xxh64 } from "../hashing/xxhash64";

/** Envoy's default Maglev table size (a prime); the replicas cluster must keep it. */
export const MAGLEV_TABLE_SIZE: i32 = 65537;

function hashString(s: string, seed: u64): u64 {
  const b = String.UTF8.encode(s);
  return xxh64(changetype<usize>(b), <usize>b.byteLength, seed);
}

export class MaglevTable {
  readonly hosts: Array<string>;
  private slots: Uint16Array;

  /** `addresses`: the hosts Envoy balances over (healthy members), at most 65535. */
  constructor(addresses: Array<string>, size: i32 = MAGLEV_TABLE_SIZE) {
    const hosts = addresses.slice(0, 65535);
    hosts.sort((a: string, b: string): i32 => (a < b ? -1 : a > b ? 1 : 0));
    this.hosts = hosts;
    this.slots = new Uint16Array(hosts.length > 0 ? size : 0);
    if (hosts.length > 0) this.fill(size);
  }

  private fill(size: i32): void {
    const hosts = this.hosts;
    const m = <u64>size;
    const n = hosts.length;
    const offset = new StaticArray<u64>(n);
    const skip = new StaticArray<u64>(n);
    const next = new StaticArray<u64>(n);
    for (let i = 0; i < n; i++) {
      const h = unchecked(hosts[i]);
      unchecked((offset[i] = hashString(h, 0) % m));
      unchecked((skip[i] = (hashString(h, 1) % (m - 1)) + 1));
    }
    // 0 = free, else host index + 1.
    let filled: i32 = 0;
    while (filled < size) {
      for (let i = 0; i < n && filled < size; i++) {
        let c = <i32>((unchecked(offset[i]) + unchecked(skip[i]) * unchecked(next[i])) % m);
        while (unchecked(this.slots[c]) != 0) {
          unchecked((next[i] = unchecked(next[i]) + 1));
          c = <i32>((unchecked(offset[i]) + unchecked(skip[i]) * unchecked(next[i])) % m);
        }
        unchecked((this.slots[c] = <u16>(i + 1)));
        unchecked((next[i] = unchecked(next[i]) + 1));
        filled++;
      }
    }
  }

  /** The host Envoy's Maglev picks for a header value ("" when there are no hosts). */
  ownerOf(headerValue: string): string {
    if (this.hosts.length == 0) return "";
    const slot = <i32>(hashString(headerValue, 0) % <u64>this.slots.length);
    const i = <i32>unchecked(this.slots[slot]) - 1;
    return i >= 0 && i < this.hosts.length ? unchecked(this.hosts[i]) : "";
  }
}
