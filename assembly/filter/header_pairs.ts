// A request's or response's header map as the host serialises it (one
// proxy_get_header_map_pairs call), read in place: the filter looks up the
// few headers it needs there instead of one host call per header, and
// removes a header a client must not send only when it is there (a remove
// is a host call even when the header is absent). Names are lower-case in
// Envoy; a name that occurs more than once yields its first value, as
// proxy_get_header_map_value does. The bytes are the host's scratch buffer
// (host.ts getHeaderPairsBytes): a HeaderPairs lives within the callback
// that read it, and every value it hands out is a decoded copy.
import { encName, getHeaderPairsBytes, MapType } from "./host";

export class HeaderPairs {
  /** Offsets of each pair's name and value in `bytes`, and their lengths (only the pairs fully inside the buffer). */
  private readonly at: StaticArray<i32>;
  readonly count: i32;

  constructor(private readonly bytes: Uint8Array) {
    let count = bytes.length >= 4 ? <i32>load<u32>(bytes.dataStart) : 0;
    if (count < 0 || count > 4096 || 4 + count * 8 > bytes.length) count = 0;
    const at = new StaticArray<i32>(count * 4);
    let p = 4 + count * 8;
    let n = 0;
    for (let i = 0; i < count; i++) {
      const kl = <i32>load<u32>(bytes.dataStart + <usize>(4 + i * 8));
      const vl = <i32>load<u32>(bytes.dataStart + <usize>(8 + i * 8));
      if (kl < 0 || vl < 0 || p + kl + 1 + vl + 1 > bytes.length) break;
      unchecked((at[n * 4] = p));
      unchecked((at[n * 4 + 1] = kl));
      unchecked((at[n * 4 + 2] = p + kl + 1));
      unchecked((at[n * 4 + 3] = vl));
      p += kl + 1 + vl + 1;
      n++;
    }
    this.at = at;
    this.count = n;
  }

  /** The map's pairs, or null when the host could not read it. */
  static read(map: MapType): HeaderPairs | null {
    const b = getHeaderPairsBytes(map);
    return b != null ? new HeaderPairs(b!) : null;
  }

  /** Index of the first pair named `name`, or -1. */
  indexOf(name: string): i32 {
    const k = encName(name);
    const kl = k.byteLength;
    for (let i = 0; i < this.count; i++) {
      if (unchecked(this.at[i * 4 + 1]) != kl) continue;
      if (memory.compare(this.bytes.dataStart + <usize>unchecked(this.at[i * 4]), changetype<usize>(k), <usize>kl) == 0) return i;
    }
    return -1;
  }

  has(name: string): bool {
    return this.indexOf(name) >= 0;
  }

  /** The first value of `name`, or null when absent. */
  first(name: string): string | null {
    const i = this.indexOf(name);
    return i >= 0 ? this.valueAt(i) : null;
  }

  /** True when pair i is named `name`. */
  nameIs(i: i32, name: string): bool {
    const k = encName(name);
    if (unchecked(this.at[i * 4 + 1]) != k.byteLength) return false;
    return memory.compare(this.bytes.dataStart + <usize>unchecked(this.at[i * 4]), changetype<usize>(k), <usize>k.byteLength) == 0;
  }

  valueAt(i: i32): string {
    return String.UTF8.decodeUnsafe(this.bytes.dataStart + <usize>unchecked(this.at[i * 4 + 2]), <usize>unchecked(this.at[i * 4 + 3]));
  }
}
