// A small best-effort map in a KeyValueStore (proxy-wasm shared data): a
// 64-bit key to an endpoint id and a 32-bit value (and, in maps made with
// `withExtra`, a second 32-bit value), most recent first. Shared data has
// no delete and no expiry, so nothing is keyed per entry: `buckets` keys of
// at most `entries` entries of 16 bytes (key, id, value) or 20 (and the
// extra value), and a full bucket drops its oldest. A value that is not a
// whole number of entries (another layout, a torn write) reads as empty.
import { KeyValueStore, STORE_CAS_MISMATCH, STORE_OK } from "./store";

const ENTRY_BYTES: i32 = 16;
const EXTRA_BYTES: i32 = 4;
const CAS_RETRIES: i32 = 4;

/** What a key maps to. */
export class KeyedEntry {
  constructor(
    public endpointId: u32,
    public value: u32,
    /** The second value of a map made with `withExtra`; 0 in the others. */
    public extra: u32 = 0,
  ) {}
}

export class KeyedBuckets {
  /** Each bucket's shared-data key, named on its first use (a large map costs a VM nothing until it is used). */
  private keys: Array<string | null>;
  private readonly entryBytes: i32;

  constructor(
    private store: KeyValueStore,
    private prefix: string,
    private buckets: i32,
    private entries: i32,
    /** Entries carry a second value (KeyedEntry.extra). */
    withExtra: bool = false,
  ) {
    this.keys = new Array<string | null>(buckets);
    this.entryBytes = withExtra ? ENTRY_BYTES + EXTRA_BYTES : ENTRY_BYTES;
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
    const extra = this.entryBytes > ENTRY_BYTES;
    for (let i = 0; i < n; i++) {
      const at = v.bytes.dataStart + <usize>(i * this.entryBytes);
      if (load<u64>(at) == key) return new KeyedEntry(load<u32>(at, 8), load<u32>(at, 12), extra ? load<u32>(at, ENTRY_BYTES) : 0);
    }
    return null;
  }

  /**
   * Maps `key` to (`endpointId`, `value`, and in a map made with
   * `withExtra` `extra`). Best effort: after CAS_RETRIES lost races the
   * entry is dropped. Returns whether it was written.
   */
  record(key: u64, endpointId: u32, value: u32, extra: u32 = 0): bool {
    const name = this.keyOf(key);
    for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
      const v = this.store.get(name);
      const old = v.found ? v.bytes : new Uint8Array(0);
      const n = this.entriesIn(old);
      if (n > 0 && this.firstIs(old, key, endpointId, value, extra)) return true;
      const status = this.store.set(name, this.withFirst(old, n, key, endpointId, value, extra), v.found ? v.cas : 0);
      if (status == STORE_OK) return true;
      if (status != STORE_CAS_MISMATCH) return false;
    }
    return false;
  }

  private entriesIn(v: Uint8Array): i32 {
    if (v.length % this.entryBytes != 0) return 0;
    const n = v.length / this.entryBytes;
    return n < this.entries ? n : this.entries;
  }

  /** Whether the bucket's first entry already says this. */
  private firstIs(old: Uint8Array, key: u64, endpointId: u32, value: u32, extra: u32): bool {
    const at = old.dataStart;
    if (load<u64>(at) != key || load<u32>(at, 8) != endpointId || load<u32>(at, 12) != value) return false;
    return this.entryBytes == ENTRY_BYTES || load<u32>(at, ENTRY_BYTES) == extra;
  }

  /** The bucket with this key's entry first, its older entry (if any) removed, the oldest dropped when full. */
  private withFirst(old: Uint8Array, n: i32, key: u64, endpointId: u32, value: u32, extra: u32): Uint8Array {
    const size = this.entryBytes;
    let kept = 0;
    const out = new Uint8Array(min(n + 1, this.entries) * size);
    store<u64>(out.dataStart, key);
    store<u32>(out.dataStart, endpointId, 8);
    store<u32>(out.dataStart, value, 12);
    if (size > ENTRY_BYTES) store<u32>(out.dataStart, extra, ENTRY_BYTES);
    for (let i = 0; i < n && kept + 1 < this.entries; i++) {
      const from = old.dataStart + <usize>(i * size);
      if (load<u64>(from) == key) continue;
      memory.copy(out.dataStart + <usize>((kept + 1) * size), from, <usize>size);
      kept++;
    }
    return kept + 1 == out.length / size ? out : out.slice(0, (kept + 1) * size);
  }
}
