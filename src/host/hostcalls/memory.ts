/**
 * A VM's linear memory as host functions see it: bounds-checked reads and
 * writes, and `copyOut`, which hands bytes to the guest in memory it allocates
 * itself (cpp-host `copyToPointerSize`). Every accessor fails softly (null or
 * false) on an out-of-bounds pointer; the caller turns that into
 * `InvalidMemoryAccess`.
 */
import { WasmResult, toText } from "../abi.js";

/** A host function as the guest imports it: wasm numbers in, a number (or nothing) out. */
export type HostFunction = (...args: any[]) => unknown;
/** Host functions by import name (without the `proxy_` prefix for the proxy-wasm ones). */
export type HostFunctions = Record<string, HostFunction>;

/** A wasm i32 argument as the unsigned value the ABI means. */
export const u32 = (v: number) => v >>> 0;

export class GuestMemory {
  /** `exports` is read on each access: memory grows, and its buffer is replaced when it does. */
  constructor(private readonly exports: () => Record<string, any>) {}

  private bytes(): Uint8Array {
    return new Uint8Array((this.exports().memory as WebAssembly.Memory).buffer);
  }

  /** Linear memory size in bytes. */
  size(): number {
    return (this.exports().memory as WebAssembly.Memory).buffer.byteLength;
  }

  /** Copy `len` bytes at `ptr` out of the VM, or null when out of bounds. */
  read(ptr: number, len: number): Uint8Array | null {
    const mem = this.bytes();
    if (ptr + len > mem.length) return null;
    return mem.slice(ptr, ptr + len);
  }

  /** `len` bytes at `ptr` as UTF-8 text, or null when out of bounds. */
  readString(ptr: number, len: number): string | null {
    const bytes = this.read(ptr, len);
    return bytes === null ? null : toText(bytes);
  }

  writeU32(ptr: number, value: number): boolean {
    const mem = this.bytes();
    if (ptr + 4 > mem.length) return false;
    new DataView(mem.buffer).setUint32(ptr, value >>> 0, true);
    return true;
  }

  writeU64(ptr: number, value: bigint): boolean {
    const mem = this.bytes();
    if (ptr + 8 > mem.length) return false;
    new DataView(mem.buffer).setBigUint64(ptr, BigInt.asUintN(64, value), true);
    return true;
  }

  writeBytes(ptr: number, bytes: Uint8Array): boolean {
    const mem = this.bytes();
    if (ptr + bytes.length > mem.length) return false;
    mem.set(bytes, ptr);
    return true;
  }

  /**
   * Copy `bytes` into memory allocated by the guest's `malloc` and write pointer and
   * size (an empty value writes 0/0 without allocating).
   */
  copyOut(bytes: Uint8Array, ptrPtr: number, sizePtr: number): number {
    let ptr = 0;
    if (bytes.length > 0) {
      const exports = this.exports();
      const malloc = exports.malloc ?? exports.proxy_on_memory_allocate;
      ptr = malloc(bytes.length) >>> 0;
      if (ptr === 0 || !this.writeBytes(ptr, bytes)) return WasmResult.InvalidMemoryAccess;
    }
    if (!this.writeU32(ptrPtr, ptr) || !this.writeU32(sizePtr, bytes.length)) return WasmResult.InvalidMemoryAccess;
    return WasmResult.Ok;
  }
}
