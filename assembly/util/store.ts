// The key-value store behind cross-worker state (prefix index, endpoint
// metrics, in-flight counts). In Envoy this is proxy-wasm shared data
// (assembly/filter/host.ts); in unit tests an in-memory map with the same
// rules (MemoryStore). Rules, as proxy-wasm-cpp-host implements shared data
// (src/shared_data.cc in that project):
//  - get copies the value and returns its CAS;
//  - set with cas = 0 writes unconditionally; set on an existing key with a
//    stale non-zero cas returns CAS_MISMATCH and writes nothing; setting a
//    missing key always succeeds;
//  - there is no delete, no listing, no expiry: key spaces must be bounded.

export const STORE_OK: i32 = 0;
export const STORE_NOT_FOUND: i32 = 1;
export const STORE_CAS_MISMATCH: i32 = 8;

export class StoreValue {
  constructor(public status: i32, public bytes: Uint8Array, public cas: u32) {}
  get found(): bool {
    return this.status == STORE_OK;
  }
}

export abstract class KeyValueStore {
  abstract get(key: string): StoreValue;
  /** Returns STORE_OK, STORE_CAS_MISMATCH or another host status. */
  abstract set(key: string, value: Uint8Array, cas: u32): i32;
}

class Entry {
  constructor(public bytes: Uint8Array, public cas: u32) {}
}

/** In-memory store with shared-data semantics, for unit tests and tools. */
export class MemoryStore extends KeyValueStore {
  private map: Map<string, Entry> = new Map<string, Entry>();
  private nextCas: u32 = 1;
  /** Counters, so tests and benchmarks can count host calls. */
  reads: i32 = 0;
  writes: i32 = 0;

  get(key: string): StoreValue {
    this.reads++;
    if (!this.map.has(key)) return new StoreValue(STORE_NOT_FOUND, new Uint8Array(0), 0);
    const e = this.map.get(key);
    return new StoreValue(STORE_OK, e.bytes.slice(0), e.cas);
  }

  set(key: string, value: Uint8Array, cas: u32): i32 {
    this.writes++;
    if (cas != 0 && this.map.has(key) && this.map.get(key).cas != cas) return STORE_CAS_MISMATCH;
    const c = this.nextCas++;
    if (this.nextCas == 0) this.nextCas = 1;
    this.map.set(key, new Entry(value.slice(0), c));
    return STORE_OK;
  }

  /** Total bytes of all values (for memory-bound tests). */
  totalBytes(): i32 {
    const vals = this.map.values();
    let n = 0;
    for (let i = 0; i < vals.length; i++) n += vals[i].bytes.length;
    return n;
  }

  keyCount(): i32 {
    return this.map.size;
  }
}
