// A small best-effort map in a KeyValueStore (proxy-wasm shared data): a
// 64-bit key to an endpoint id and a 32-bit value, most recent first.
// Shared data has no delete and no expiry, so nothing is keyed per entry:
// `buckets` keys of at most `entries` 16-byte entries (key, id, value),
// and a full bucket drops its oldest. A value that is not a whole number
// of entries (another layout, a torn write) reads as empty.
import { KeyValueStore, STORE_CAS_MISMATCH, STORE_OK } from "./store";

const ENTRY_BYTES: i32 = 16;
const CAS_RETRIES: i32 = 4;

/** What a key maps to. */
export class KeyedEntry {
  constructor(
    public endpointId: u32,
    public value: u32,
  ) {}
}

export class KeyedBuckets {
  /** Each bucket's shared-data key, named on its first use (a large map costs a VM nothing until it is used). */
  private keys: Array<string | null>;

  constructor(
    private store: KeyValueStore,
    private prefix: string,
    private buckets: i32,
    private entries: i32,
  ) {
    this.keys = new Array<string | null>(buckets);
  }

  private keyOf(key: u64): string {
    const bucket = <i32>((key >> 32) % <u64>this.buckets);
    const known = unchecked(this.keys[bucket]);
    if (known !== null) return known;
    const name = this.prefix + bucket.toString();
    unchecked((this.keys[bucket] = name));
    return name;
  }

  /** What `key` last mapped to, or null when it was never written (or was dropped). */
  lookup(key: u64): KeyedEntry | null {
    const v = this.store.get(this.keyOf(key));
    if (!v.found) return null;
    const n = this.entriesIn(v.bytes);
    for (let i = 0; i < n; i++) {
      const at = v.bytes.dataStart + <usize>(i * ENTRY_BYTES);
      if (load<u64>(at) == key) return new KeyedEntry(load<u32>(at, 8), load<u32>(at, 12));
    }
    return null;
  }

  /**
   * Maps `key` to (`endpointId`, `value`). Best effort: after CAS_RETRIES
   * lost races the entry is dropped. Returns whether it was written.
   */
  record(key: u64, endpointId: u32, value: u32): bool {
    const name = this.keyOf(key);
    for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
      const v = this.store.get(name);
      const old = v.found ? v.bytes : new Uint8Array(0);
      const n = this.entriesIn(old);
      if (n > 0 && load<u64>(old.dataStart) == key && load<u32>(old.dataStart, 8) == endpointId && load<u32>(old.dataStart, 12) == value) return true;
      const status = this.store.set(name, this.withFirst(old, n, key, endpointId, value), v.found ? v.cas : 0);
      if (status == STORE_OK) return true;
      if (status != STORE_CAS_MISMATCH) return false;
    }
    return false;
  }

  private entriesIn(v: Uint8Array): i32 {
    if (v.length % ENTRY_BYTES != 0) return 0;
    const n = v.length / ENTRY_BYTES;
    return n < this.entries ? n : this.entries;
  }

  /** The bucket with this key's entry first, its older entry (if any) removed, the oldest dropped when full. */
  private withFirst(old: Uint8Array, n: i32, key: u64, endpointId: u32, value: u32): Uint8Array {
    let kept = 0;
    const out = new Uint8Array(min(n + 1, this.entries) * ENTRY_BYTES);
    store<u64>(out.dataStart, key);
    store<u32>(out.dataStart, endpointId, 8);
    store<u32>(out.dataStart, value, 12);
    for (let i = 0; i < n && kept + 1 < this.entries; i++) {
      const from = old.dataStart + <usize>(i * ENTRY_BYTES);
      if (load<u64>(from) == key) continue;
      memory.copy(out.dataStart + <usize>((kept + 1) * ENTRY_BYTES), from, <usize>ENTRY_BYTES);
      kept++;
    }
    return kept + 1 == out.length / ENTRY_BYTES ? out : out.slice(0, (kept + 1) * ENTRY_BYTES);
  }
}
