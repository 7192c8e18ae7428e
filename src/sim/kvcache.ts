// KV block pool with automatic prefix caching, modelled on vLLM v1's
// KVCacheManager / BlockPool (vllm/v1/core/block_pool.py, kv_cache_utils.py):
//
// - A prompt is cut into blocks of `blockSize` tokens; each *full* block has a
//   hash chained on its parent's hash, so a block hash identifies the whole
//   prefix up to and including that block. Partial blocks are never cached.
// - `numGpuBlocks` physical blocks. A block is either held by running
//   requests (refCount > 0) or sits in the free queue, where it may still
//   carry a cached hash (reusable until evicted).
// - A new request reuses the longest run of cached blocks from its start; it
//   may not hit its whole prompt (vLLM always recomputes at least the last
//   prompt token), so hits stop at floor((promptLen - 1) / blockSize) blocks.
// - New blocks are taken from the head of the free queue; taking a block that
//   still carries a hash evicts that hash (LRU).
// - A finished request frees its blocks in *reverse* order, appended to the
//   tail of the free queue; so among one request's blocks the tail of its
//   prefix is evicted first and the shared head survives longest.
// - KV usage (vllm:kv_cache_usage_perc) = 1 - free / total: blocks held by
//   running requests, cached-but-free blocks count as free.
//
// Hashing is our own (SHA-256 over the parent digest and the block's token ids
// as little-endian uint32), sharing nothing with the filter in assembly/.

import { createHash } from "node:crypto";

const ROOT_DOMAIN = "llm-picker-sim/v1\0";

/** Digest the first block chains on: depends on what must not share cache (LoRA adapter, cache_salt). */
export function rootDigest(root: string): Buffer {
  return createHash("sha256").update(ROOT_DOMAIN).update(root).digest();
}

/** Hash key of a digest: its first 16 bytes in base64 (collisions are not a concern at 128 bits). */
function keyOf(digest: Buffer): string {
  return digest.toString("base64", 0, 16);
}

export interface ChainResult {
  /** One key per full block, in order. */
  hashes: string[];
  /** Digest of the last full block (the parent of the next one), or the root digest when there is none. */
  last: Buffer;
}

/**
 * Chained hashes of the full blocks of tokens[start, end), continuing from `parent`.
 * `end - start` need not be a multiple of blockSize; the partial tail is ignored.
 */
export function chainHashes(tokens: ArrayLike<number>, start: number, end: number, blockSize: number, parent: Buffer): ChainResult {
  const hashes: string[] = [];
  const block = Buffer.allocUnsafe(blockSize * 4);
  let last = parent;
  for (let at = start; at + blockSize <= end; at += blockSize) {
    for (let i = 0; i < blockSize; i++) block.writeUInt32LE(tokens[at + i] >>> 0, i * 4);
    last = createHash("sha256").update(last).update(block).digest();
    hashes.push(keyOf(last));
  }
  return { hashes, last };
}

/** Hashes of the full blocks of a whole token sequence. */
export function blockHashes(tokens: ArrayLike<number>, blockSize: number, root = ""): string[] {
  return chainHashes(tokens, 0, tokens.length, blockSize, rootDigest(root)).hashes;
}

/** Most prompt blocks that may be served from cache: vLLM recomputes at least the last prompt token. */
export function maxHitBlocks(promptTokens: number, blockSize: number): number {
  return promptTokens <= 0 ? 0 : Math.floor((promptTokens - 1) / blockSize);
}

class Block {
  hash: string | null = null;
  refCount = 0;
  prev: Block | null = null;
  next: Block | null = null;
  inFreeQueue = false;
  constructor(readonly id: number) {}
}

/** Doubly linked list of free blocks: O(1) pop from the head, append to the tail, removal from the middle. */
class FreeQueue {
  private head: Block | null = null;
  private tail: Block | null = null;
  length = 0;

  append(block: Block): void {
    block.prev = this.tail;
    block.next = null;
    if (this.tail !== null) this.tail.next = block;
    else this.head = block;
    this.tail = block;
    block.inFreeQueue = true;
    this.length++;
  }

  remove(block: Block): void {
    if (block.prev !== null) block.prev.next = block.next;
    else this.head = block.next;
    if (block.next !== null) block.next.prev = block.prev;
    else this.tail = block.prev;
    block.prev = block.next = null;
    block.inFreeQueue = false;
    this.length--;
  }

  popHead(): Block | null {
    const block = this.head;
    if (block !== null) this.remove(block);
    return block;
  }

  /** Ids from head (next evicted) to tail; for tests and debugging. */
  ids(): number[] {
    const out: number[] = [];
    for (let b = this.head; b !== null; b = b.next) out.push(b.id);
    return out;
  }
}

/** Blocks held by one admitted request, in prefix order. */
export interface Allocation {
  readonly blocks: Block[];
  /** Prompt blocks served from cache. */
  readonly hitBlocks: number;
  /** Full prompt blocks (hashed at admission). */
  readonly promptFullBlocks: number;
  released: boolean;
}

export class PrefixCache {
  private blocks: Block[] = [];
  private free = new FreeQueue();
  private cached = new Map<string, Block>();
  /** Hashes dropped to make room (cumulative since reset). */
  evictions = 0;

  constructor(
    readonly numBlocks: number,
    readonly blockSize: number,
  ) {
    for (let i = 0; i < numBlocks; i++) {
      const block = new Block(i);
      this.blocks.push(block);
      this.free.append(block);
    }
  }

  /** Leading blocks of `hashes` present in the cache, capped by what vLLM would use for a prompt of `promptTokens`. No side effects. */
  hitBlocks(hashes: readonly string[], promptTokens: number): number {
    const limit = Math.min(hashes.length, maxHitBlocks(promptTokens, this.blockSize));
    let n = 0;
    while (n < limit && this.cached.has(hashes[n])) n++;
    return n;
  }

  /** Tokens of a prompt the cache holds right now (what the `precise` policy asks for). */
  cachedTokens(hashes: readonly string[], promptTokens: number): number {
    return this.hitBlocks(hashes, promptTokens) * this.blockSize;
  }

  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.blockSize);
  }

  /**
   * Admits a request: reuses its cached prefix blocks, takes new blocks for the
   * rest of `totalTokens` (prompt + output) from the free queue head, and
   * caches its full prompt blocks. Returns null (nothing changed) if the free
   * blocks do not suffice.
   */
  allocate(hashes: readonly string[], promptTokens: number, totalTokens: number): Allocation | null {
    const hits = this.hitBlocks(hashes, promptTokens);
    const needed = this.blocksFor(totalTokens) - hits;
    let hitsInFreeQueue = 0;
    for (let i = 0; i < hits; i++) if (this.cached.get(hashes[i])!.refCount === 0) hitsInFreeQueue++;
    if (needed + hitsInFreeQueue > this.free.length) return null;

    const blocks: Block[] = [];
    for (let i = 0; i < hits; i++) {
      const block = this.cached.get(hashes[i])!;
      if (block.inFreeQueue) this.free.remove(block);
      block.refCount++;
      blocks.push(block);
    }
    for (let i = 0; i < needed; i++) {
      const block = this.free.popHead()!;
      this.dropHash(block);
      block.refCount = 1;
      blocks.push(block);
    }
    const promptFullBlocks = Math.min(hashes.length, Math.floor(promptTokens / this.blockSize));
    for (let i = hits; i < promptFullBlocks; i++) this.setHash(blocks[i], hashes[i]);
    return { blocks, hitBlocks: hits, promptFullBlocks, released: false };
  }

  /**
   * Releases a request's blocks. `outputHashes` are the hashes of the blocks
   * after the prompt's full blocks that output tokens filled (cached, as vLLM
   * caches blocks once full). Blocks are freed last-first.
   */
  release(allocation: Allocation, outputHashes: readonly string[] = []): void {
    if (allocation.released) return;
    allocation.released = true;
    const blocks = allocation.blocks;
    for (let i = 0; i < outputHashes.length; i++) {
      const at = allocation.promptFullBlocks + i;
      if (at < blocks.length) this.setHash(blocks[at], outputHashes[i]);
    }
    for (let i = blocks.length - 1; i >= 0; i--) {
      const block = blocks[i];
      block.refCount--;
      if (block.refCount === 0) this.free.append(block);
    }
  }

  /** Forgets every cached hash (blocks held by running requests stay held). */
  reset(): void {
    for (const block of this.blocks) block.hash = null;
    this.cached.clear();
    this.evictions = 0;
  }

  get freeBlocks(): number {
    return this.free.length;
  }

  get usedBlocks(): number {
    return this.numBlocks - this.free.length;
  }

  /** 0..1, as vllm:kv_cache_usage_perc. */
  get usage(): number {
    return this.usedBlocks / this.numBlocks;
  }

  get cachedBlockCount(): number {
    return this.cached.size;
  }

  /** Block ids from next-evicted to last-evicted; for tests. */
  freeQueueIds(): number[] {
    return this.free.ids();
  }

  /** Physical block ids of an allocation; for tests. */
  static blockIds(allocation: Allocation): number[] {
    return allocation.blocks.map((b) => b.id);
  }

  private setHash(block: Block, hash: string): void {
    if (block.hash !== null || this.cached.has(hash)) return; // first block with a hash keeps it (vLLM keeps duplicates; they never hit twice)
    block.hash = hash;
    this.cached.set(hash, block);
  }

  private dropHash(block: Block): void {
    if (block.hash === null) return;
    if (this.cached.get(block.hash) === block) this.cached.delete(block.hash);
    block.hash = null;
    this.evictions++;
  }
}
