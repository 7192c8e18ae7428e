// The chained block hashes of the prefix-cache scorer, as the upstream GIE
// picker computes them (its PRs #1646 and #2823; docs/hashing.md):
//
//   seed = XXH64(model ‖ cache_salt)            (one streaming digest)
//   h_i  = XXH64(block_i ‖ LE64(h_{i-1}))       with h_{-1} = seed
//
// Blocks are `blockSize` bytes of the rendered request (render.ts); at most
// `maxBlocks` hashes (the input is truncated to blockSize·maxBlocks bytes);
// a trailing partial block is hashed when `hashTrailingBlock` (the later
// algorithm, #2823: it stops short prompts from all landing on one server)
// and dropped otherwise (the original upstream algorithm). The seed is not emitted.
//
// `ChainHasher` is a sink: the renderer writes bytes into it as it produces
// them, and each block is hashed as its bytes arrive, so the rendering never
// needs to exist as one contiguous copy. Once `maxBlocks` hashes exist the
// sink reports `done` and ignores further bytes, so a 1 MB body costs no more
// than its first blockSize·maxBlocks rendered bytes.
import { xxh64, Xxh64 } from "./xxhash64";

/**
 * Blocks up to this size are gathered in a buffer of blockSize + 8 bytes and
 * hashed with one-shot XXH64 when complete (block ‖ LE64(prev) is contiguous
 * there): the renderer writes in small pieces (tags, lengths, texts), and
 * buffering them is much cheaper than the streaming digest per piece.
 * Larger blocks (a configuration that effectively turns hashing off) are
 * streamed instead, so no request allocates a block-sized buffer.
 */
const MAX_BUFFERED_BLOCK: i32 = 4096;

/** Configuration of the chain (`prefix.*` in the plugin configuration). */
export class BlockConfig {
  /** Bytes per block; must be > 0 (the config parser rejects ≤ 0). Default 64 = 16 tokens × 4 bytes. */
  blockSize: i32 = 64;
  /** Cap on the number of hashes (256 × 64 B ≈ 4K tokens). */
  maxBlocks: i32 = 256;
  /** Hash a trailing partial block (upstream's later algorithm, GIE #2823). */
  hashTrailingBlock: bool = true;

  static of(blockSize: i32, maxBlocks: i32, hashTrailingBlock: bool): BlockConfig {
    const c = new BlockConfig();
    c.blockSize = blockSize;
    c.maxBlocks = maxBlocks;
    c.hashTrailingBlock = hashTrailingBlock;
    return c;
  }
}

/** Seed of the chain: XXH64(model ‖ cache_salt), salt absent = empty. */
export function chainSeed(model: Uint8Array, salt: Uint8Array | null): u64 {
  const s = new Xxh64(0);
  s.updateBytes(model);
  if (salt !== null) s.updateBytes(salt);
  return s.digest();
}

/** Where a rendering goes: the chain (hashing) or a buffer (tests, inspect). */
export abstract class ByteSink {
  abstract write(ptr: usize, len: i32): void;
  /** True when further bytes would be ignored, so the renderer can stop. */
  abstract get done(): bool;
  /** Whole blocks written so far (0 for sinks that do not cut blocks). */
  fullBlocks(): i32 {
    return 0;
  }
}

export class ChainHasher extends ByteSink {
  private state: Xxh64 = new Xxh64(0);
  private prev: u64 = 0;
  private inBlock: i32 = 0;
  private count: i32 = 0;
  private blockSize: i32;
  private maxBlocks: i32;
  private trailing: bool;
  private out: StaticArray<u64>;
  /** The current block's bytes, then 8 bytes for LE64(prev); null when streaming (large blocks). */
  private blk: StaticArray<u8> | null = null;
  /** Bytes accepted so far (rendered bytes up to the cap). */
  accepted: i64 = 0;

  constructor(config: BlockConfig) {
    super();
    // A block size ≤ 0 is refused by the configuration parser; guard anyway
    // so a bad value can never loop forever (as it does upstream).
    const maxBlocks = config.maxBlocks > 0 ? config.maxBlocks : 0;
    this.out = new StaticArray<u64>(maxBlocks);
    this.blockSize = config.blockSize > 0 ? config.blockSize : 64;
    this.maxBlocks = maxBlocks;
    this.trailing = config.hashTrailingBlock;
    if (this.blockSize <= MAX_BUFFERED_BLOCK) this.blk = new StaticArray<u8>(this.blockSize + 8);
  }

  /** Starts a chain for `model` and optional `salt`. */
  begin(model: Uint8Array, salt: Uint8Array | null): void {
    // chainSeed's digest, on this chain's own state (no Xxh64 per request).
    const s = this.state;
    s.reset(0);
    s.updateBytes(model);
    if (salt !== null) s.updateBytes(salt);
    this.beginWithSeed(s.digest());
  }

  beginWithSeed(seed: u64): void {
    this.prev = seed;
    this.inBlock = 0;
    this.count = 0;
    this.accepted = 0;
    this.state.reset(0);
  }

  /** True once `maxBlocks` hashes exist: further bytes are ignored. */
  get done(): bool {
    return this.count >= this.maxBlocks;
  }

  fullBlocks(): i32 {
    return this.count;
  }

  /** Feeds `len` bytes at `ptr`. */
  write(ptr: usize, len: i32): void {
    let p = ptr;
    let left = len;
    const blk = this.blk;
    while (left > 0 && this.count < this.maxBlocks) {
      const room = this.blockSize - this.inBlock;
      const n = left < room ? left : room;
      if (blk !== null) memory.copy(changetype<usize>(blk) + <usize>this.inBlock, p, <usize>n);
      else this.state.update(p, <usize>n);
      this.inBlock += n;
      this.accepted += n;
      p += <usize>n;
      left -= n;
      if (this.inBlock == this.blockSize) this.closeBlock();
    }
  }

  writeBytes(b: Uint8Array): void {
    this.write(b.dataStart, b.length);
  }

  writeByte(v: u8): void {
    const tmp = memory.data(1);
    store<u8>(tmp, v);
    this.write(tmp, 1);
  }

  writeU32(v: u32): void {
    const tmp = memory.data(4);
    store<u32>(tmp, v);
    this.write(tmp, 4);
  }

  writeU64(v: u64): void {
    const tmp = memory.data(8);
    store<u64>(tmp, v);
    this.write(tmp, 8);
  }

  private closeBlock(): void {
    const blk = this.blk;
    let h: u64;
    if (blk !== null) {
      // XXH64(block ‖ LE64(prev)), seed 0: the same bytes the streaming state would see.
      const at = changetype<usize>(blk);
      store<u64>(at + <usize>this.inBlock, this.prev);
      h = xxh64(at, <usize>(this.inBlock + 8), 0);
    } else {
      this.state.updateU64(this.prev);
      h = this.state.digest();
    }
    unchecked((this.out[this.count] = h));
    this.count++;
    this.prev = h;
    this.inBlock = 0;
    if (blk === null) this.state.reset(0); // the buffered path never touches the streaming state
  }

  // ---- the chain's position, for ConversationMemo (render.ts) ----

  /** The last block's hash (the seed before the first block). */
  get lastHash(): u64 {
    return this.prev;
  }

  /** Bytes of the block being filled. */
  get partialLength(): i32 {
    return this.inBlock;
  }

  /** Address of the block being filled; null address (0) when blocks are streamed (large blocks: no position to save). */
  get partialPtr(): usize {
    const blk = this.blk;
    return blk !== null ? changetype<usize>(blk) : 0;
  }

  /** Address of the hashes so far (fullBlocks() of them). */
  get hashesPtr(): usize {
    return changetype<usize>(this.out);
  }

  /**
   * Puts the chain where an earlier rendering of the same bytes left it:
   * `count` hashes from `hashes`, the last of them (or the seed) `prev`,
   * `partialLen` bytes of an unfinished block from `partial`. Only with
   * buffered blocks (partialPtr != 0); false (nothing changed) otherwise.
   */
  restore(count: i32, hashes: usize, prev: u64, partial: usize, partialLen: i32, accepted: i64): bool {
    const blk = this.blk;
    if (blk === null || count < 0 || count > this.maxBlocks || partialLen < 0 || partialLen >= this.blockSize) return false;
    memory.copy(changetype<usize>(this.out), hashes, <usize>count << 3);
    memory.copy(changetype<usize>(blk), partial, <usize>partialLen);
    this.count = count;
    this.prev = prev;
    this.inBlock = partialLen;
    this.accepted = accepted;
    return true;
  }

  /** Ends the chain; returns the hashes (a fresh array of exactly the count). */
  finish(): StaticArray<u64> {
    if (this.trailing && this.inBlock > 0 && this.count < this.maxBlocks) this.closeBlock();
    this.inBlock = 0;
    const n = this.count;
    const r = new StaticArray<u64>(n);
    memory.copy(changetype<usize>(r), changetype<usize>(this.out), <usize>n << 3);
    return r;
  }
}

/** One-shot chain over a contiguous byte view (completions golden vectors, benchmarks). */
export function chainHashes(model: Uint8Array, salt: Uint8Array | null, bytes: Uint8Array, config: BlockConfig): StaticArray<u64> {
  const c = new ChainHasher(config);
  c.begin(model, salt);
  c.writeBytes(bytes);
  return c.finish();
}
