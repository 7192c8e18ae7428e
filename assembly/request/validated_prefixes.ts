// The starts of bodies that parsed, remembered by hash, so that a body that
// starts with the same bytes has its long strings checked only past them.
//
// Why: a conversation resends every earlier turn with each new one, and on
// a long body the check of every string's UTF-8, escapes and control bytes
// is a large part of the filter's own work (docs/benchmarks.md "Overhead",
// seventh pass). Bytes that equal the start of a body that parsed tokenize
// the same way and were checked then, so there the scanner only looks for
// the closing quotes and the escapes' parity (JsonScanner.trustedEnd).
//
// How: a body is cut into CHUNK_BYTES pieces from its start; checkpoint k is
// a chained hash of its first k pieces (XXH64 of piece k seeded with
// checkpoint k − 1, the first seeded with a per-VM secret), so it stands for
// exactly those k × CHUNK_BYTES bytes. A body that parsed adds its
// checkpoints to a table of SLOTS hashes in buckets of WAYS (a newer one
// may overwrite an older one in a full bucket); the next body trusts the pieces up
// to its last checkpoint in a row that the table holds. Only a body whose
// first piece was seen before adds them all (see `remember`). No copies of bodies
// are kept, so it serves as many interleaved conversations as the table
// holds checkpoints (SLOTS × CHUNK_BYTES = 128 MiB of distinct body starts).
//
// A false match needs two different body starts with the same 64-bit hash
// under a seed the client does not know. Its worst outcome is that bytes a
// full check would refuse go unchecked (the rest of the filter treats any
// bytes without trapping: the string decoder and the canonical renderer
// check for themselves), not a wrong parse of a valid body.

import { xxh64 } from "../hashing/xxhash64";

/** Bytes per checkpoint. */
const CHUNK_BYTES: i32 = 4096;
/** Checkpoints remembered (a power of two): 256 KiB per VM. */
const SLOTS: i32 = 1 << 15;
/**
 * Checkpoints per bucket: a checkpoint may sit in any of the WAYS slots of
 * its bucket, so two that share a bucket both stay. Direct-mapped, two
 * checkpoints of the same conversation landed in one slot often enough
 * (a 55-piece body has ~5% odds) that 3 of bench:overhead's 8 conversations
 * kept only 16–43 of their 54 shared pieces.
 */
const WAYS: i32 = 4;
const BUCKET_MASK: u64 = <u64>(SLOTS / WAYS - 1);

export class ValidatedPrefixes {
  private table: StaticArray<u64> = new StaticArray<u64>(SLOTS);
  /** Where the last `trustedPrefix` stopped: pieces matched, and the hash of those pieces. */
  private matched: i32 = 0;
  private chain: u64;
  /** The checkpoint `trustedPrefix` did not find (piece `matched`), so `remember` need not hash it again. */
  private missed: u64 = 0;

  constructor(private readonly seed: u64) {
    this.chain = seed;
  }

  /** How many first bytes of `body` are the start of a body that parsed (a multiple of CHUNK_BYTES). */
  trustedPrefix(body: Uint8Array): i32 {
    const pieces = body.length / CHUNK_BYTES;
    let h = this.seed;
    let k = 0;
    while (k < pieces) {
      const next = xxh64(body.dataStart + <usize>(k * CHUNK_BYTES), <usize>CHUNK_BYTES, h);
      if (!this.holds(next)) {
        this.missed = next;
        break;
      }
      h = next;
      k++;
    }
    this.matched = k;
    this.chain = h;
    return k * CHUNK_BYTES;
  }

  /**
   * `body`, the one `trustedPrefix` saw last, parsed: remember its
   * checkpoints past those it matched. A body whose first piece is new
   * leaves only that piece's checkpoint (already hashed): a one-off long
   * prompt costs no more hashing, and a conversation is remembered whole
   * from its second turn on, when its first piece comes back.
   */
  remember(body: Uint8Array): void {
    const pieces = body.length / CHUNK_BYTES;
    if (this.matched == 0) {
      // The first piece was the one not found.
      if (pieces > 0) this.add(this.missed);
      return;
    }
    let h = this.chain;
    for (let k = this.matched; k < pieces; k++) {
      h = k == this.matched ? this.missed : xxh64(body.dataStart + <usize>(k * CHUNK_BYTES), <usize>CHUNK_BYTES, h);
      this.add(h);
    }
    this.matched = pieces;
    this.chain = h;
  }

  // A checkpoint is stored with its low bit set, so an empty slot (0) never matches.

  private holds(h: u64): bool {
    const at = <i32>(h & BUCKET_MASK) * WAYS;
    const v = h | 1;
    const t = this.table;
    return unchecked(t[at]) == v || unchecked(t[at + 1]) == v || unchecked(t[at + 2]) == v || unchecked(t[at + 3]) == v;
  }

  /** Into an empty slot of its bucket, else over the one its high bits pick. */
  private add(h: u64): void {
    if (this.holds(h)) return;
    const at = <i32>(h & BUCKET_MASK) * WAYS;
    const t = this.table;
    let way = <i32>(h >> 60) & (WAYS - 1);
    for (let i = 0; i < WAYS; i++) {
      if (unchecked(t[at + i]) == 0) {
        way = i;
        break;
      }
    }
    unchecked((t[at + way] = h | 1));
  }
}
