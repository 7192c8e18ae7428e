// Unit-test entry for assembly/hashing (built to build/units-hashing.wasm, loaded by
// test/unit through test/unit/units.ts). Exports thin wrappers over the pure
// functions of this folder; never imported by the filter.
import { ByteWriter } from "../util/bytes";

export function selfCheck(input: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  w.bytes(input);
  return w.toBytes();
}
