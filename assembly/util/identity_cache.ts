// A direct-mapped cache keyed by a string's identity (its address), in
// front of a Map keyed by its content. The strings that recur on every
// request (header names, shared-data keys, endpoint addresses) are the same
// objects each time (constants, memoised keys, the configuration's
// addresses), so one multiply and one comparison find their value where a
// Map<string, V> hashes every character and compares the strings.
//
// Why identity is safe here: a slot holds a reference to its string, so the
// GC cannot free it while it is cached, and no other string can be given
// its address. A string that is equal but not identical misses and falls
// back to the caller's content-keyed path.

const SLOTS: i32 = 64;

export class IdentityCache<V> {
  private readonly keys: StaticArray<string | null> = new StaticArray<string | null>(SLOTS);
  private readonly values: StaticArray<V> = new StaticArray<V>(SLOTS);

  // @ts-ignore: decorator
  @inline
  private slot(key: string): i32 {
    // Fibonacci hashing of the address; objects are 16-byte aligned, so the low bits carry nothing.
    return <i32>((<u32>changetype<usize>(key) * 0x9e3779b1) >>> 26);
  }

  /** True when `key` itself (not just an equal string) is cached. */
  has(key: string): bool {
    const k = unchecked(this.keys[this.slot(key)]);
    return k !== null && changetype<usize>(k) == changetype<usize>(key);
  }

  /** The value cached for `key`; only after `has(key)` returned true. */
  // @ts-ignore: decorator
  @inline
  get(key: string): V {
    return unchecked(this.values[this.slot(key)]);
  }

  /** Caches `value` for `key`, replacing whatever shared its slot. */
  set(key: string, value: V): void {
    const i = this.slot(key);
    unchecked((this.keys[i] = key));
    unchecked((this.values[i] = value));
  }
}
