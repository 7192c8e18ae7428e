// Unit-test entry for assembly/hashing and assembly/index (built to
// build/units-hashing.wasm, loaded by test/unit through test/unit/units.ts).
// Exports thin wrappers over the pure functions of these folders; never
// imported by the filter.
import { ByteWriter, utf8 } from "../util/bytes";
import { BlockConfig, chainHashes, ChainHasher } from "./blocks";
import { hex64, hexList } from "./hex";
import { xxh64Bytes, Xxh64 } from "./xxhash64";

export function selfCheck(input: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  w.bytes(input);
  return w.toBytes();
}

// ---- xxhash64.ts ---------------------------------------------------------

/** One-shot XXH64 as 16 hex digits. */
export function xxh64Hex(input: Uint8Array, seed: u64): string {
  return hex64(xxh64Bytes(input, seed));
}

/** Streaming XXH64, fed in the given chunk sizes (the rest in one last chunk). */
export function xxh64StreamHex(input: Uint8Array, seed: u64, chunks: Int32Array): string {
  const s = new Xxh64(seed);
  let off = 0;
  for (let i = 0; i < chunks.length; i++) {
    let n = unchecked(chunks[i]);
    if (n < 0) n = 0;
    if (n > input.length - off) n = input.length - off;
    s.update(input.dataStart + <usize>off, <usize>n);
    off += n;
  }
  s.update(input.dataStart + <usize>off, <usize>(input.length - off));
  return hex64(s.digest());
}

// ---- blocks.ts -----------------------------------------------------------

/** Chain over raw bytes; `salt` "" with hasSalt false = no salt. Hex, space-separated. */
export function chainHex(model: string, salt: string, hasSalt: bool, bytes: Uint8Array, blockSize: i32, maxBlocks: i32, trailing: bool): string {
  const cfg = BlockConfig.of(blockSize, maxBlocks, trailing);
  return hexList(chainHashes(utf8(model), hasSalt ? utf8(salt) : null, bytes, cfg));
}

/** Same chain, bytes written into the sink in the given chunk sizes. */
export function chainChunkedHex(model: string, bytes: Uint8Array, blockSize: i32, maxBlocks: i32, trailing: bool, chunks: Int32Array): string {
  const c = new ChainHasher(BlockConfig.of(blockSize, maxBlocks, trailing));
  c.begin(utf8(model), null);
  let off = 0;
  for (let i = 0; i < chunks.length; i++) {
    let n = unchecked(chunks[i]);
    if (n < 0) n = 0;
    if (n > bytes.length - off) n = bytes.length - off;
    c.write(bytes.dataStart + <usize>off, n);
    off += n;
  }
  c.write(bytes.dataStart + <usize>off, bytes.length - off);
  return hexList(c.finish());
}
