/**
 * Host functions for properties (stream and global attributes, filter
 * state) and foreign functions.
 */
import { WasmResult } from "../abi.js";
import { encodeProperty, lookup, splitPath, type PropertyTree } from "../properties.js";
import type { Guest } from "../internals.js";
import { type HostFunctions, u32 } from "./memory.js";

export function propertyFunctions(vm: Guest): HostFunctions {
  return {
    get_property: (pPtr: number, pSize: number, ptrPtr: number, sizePtr: number) => {
      const path = vm.mem.readString(u32(pPtr), u32(pSize));
      if (path === null) return WasmResult.InvalidMemoryAccess;
      const value = propertyOf(vm, path);
      if (value === undefined) return WasmResult.NotFound;
      return vm.mem.copyOut(value, u32(ptrPtr), u32(sizePtr));
    },
    set_property: (pPtr: number, pSize: number, vPtr: number, vSize: number) => {
      const path = vm.mem.readString(u32(pPtr), u32(pSize));
      const value = vm.mem.read(u32(vPtr), u32(vSize));
      if (path === null || !value) return WasmResult.InvalidMemoryAccess;
      const ctx = vm.context();
      if (!ctx || ctx.kind === "root") return WasmResult.NotFound;
      ctx.filterStateMap.set(path, value);
      return WasmResult.Ok;
    },
    call_foreign_function: (nPtr: number, nSize: number, aPtr: number, aSize: number, rPtrPtr: number, rSizePtr: number) => {
      const name = vm.mem.readString(u32(nPtr), u32(nSize));
      const args = vm.mem.read(u32(aPtr), u32(aSize));
      if (name === null || !args) return WasmResult.InvalidMemoryAccess;
      const fn = vm.host.options.foreignFunctions[name];
      if (!fn) return WasmResult.NotFound;
      const out = fn(args);
      if (typeof out === "number") return out;
      return vm.mem.copyOut(out, u32(rPtrPtr), u32(rSizePtr));
    },
  };
}

/**
 * `Context::getProperty`: a single-segment path first looks at filter state set by
 * `proxy_set_property` (`wasm.<name>`), then the property tree (stream over global).
 */
function propertyOf(vm: Guest, path: string): Uint8Array | undefined {
  const ctx = vm.context();
  if (ctx && ctx.kind === "stream" && ctx.filterStateMap.has(path)) return ctx.filterStateMap.get(path);
  const tree: PropertyTree = ctx && ctx.kind === "stream" ? ctx.propertyTree() : vm.host.globalProperties();
  const value = lookup(tree, splitPath(path));
  return value === undefined ? undefined : encodeProperty(value);
}
