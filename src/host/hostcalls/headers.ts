/**
 * Host functions for header and trailer maps (HTTP stream and callout
 * response), with Envoy's semantics: keys lower-cased, the first value of a
 * repeated header, `replace` drops later duplicates.
 */
import { MapType, PAIRS_MAX_BYTES, WasmResult, decodePairs, encodePairs, headerByteSize, toBytes } from "../abi.js";
import type { HeaderMapRef } from "../contexts.js";
import type { Guest } from "../internals.js";
import { type HostFunctions, u32 } from "./memory.js";

export function headerFunctions(vm: Guest): HostFunctions {
  return {
    get_header_map_size: (type: number, retPtr: number) => {
      const map = headerMapOf(vm, type);
      if (!map) return WasmResult.BadArgument;
      return vm.mem.writeU32(u32(retPtr), headerByteSize(map.pairs)) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },
    get_header_map_pairs: (type: number, ptrPtr: number, sizePtr: number) => {
      const map = headerMapOf(vm, type);
      if (!map) return WasmResult.BadArgument;
      const encoded = encodePairs(map.pairs);
      if (encoded.length > PAIRS_MAX_BYTES) return WasmResult.BadArgument;
      return vm.mem.copyOut(encoded, u32(ptrPtr), u32(sizePtr));
    },
    set_header_map_pairs: (type: number, ptr: number, size: number) => {
      const map = headerMapOf(vm, type);
      if (!map?.writable) return WasmResult.BadArgument;
      const bytes = vm.mem.read(u32(ptr), u32(size));
      if (!bytes) return WasmResult.InvalidMemoryAccess;
      const pairs = decodePairs(bytes) ?? [];
      map.pairs.length = 0;
      for (const [k, v] of pairs) map.pairs.push([k.toLowerCase(), v]);
      return WasmResult.Ok;
    },
    get_header_map_value: (type: number, kPtr: number, kSize: number, ptrPtr: number, sizePtr: number) => {
      const key = vm.mem.readString(u32(kPtr), u32(kSize));
      if (key === null) return WasmResult.InvalidMemoryAccess;
      const map = headerMapOf(vm, type);
      if (!map) return WasmResult.BadArgument;
      // Envoy returns only the first value of a repeated header.
      const hit = map.pairs.find(([k]) => k === key.toLowerCase());
      if (!hit) return WasmResult.NotFound;
      return vm.mem.copyOut(toBytes(hit[1]), u32(ptrPtr), u32(sizePtr));
    },
    add_header_map_value: (type: number, kPtr: number, kSize: number, vPtr: number, vSize: number) => {
      const key = vm.mem.readString(u32(kPtr), u32(kSize));
      const value = vm.mem.readString(u32(vPtr), u32(vSize));
      if (key === null || value === null) return WasmResult.InvalidMemoryAccess;
      const map = headerMapOf(vm, type);
      if (!map?.writable) return WasmResult.BadArgument;
      map.pairs.push([key.toLowerCase(), value]);
      vm.host.countHeaderMutation(vm.context(), type);
      return WasmResult.Ok;
    },
    replace_header_map_value: (type: number, kPtr: number, kSize: number, vPtr: number, vSize: number) => {
      const key = vm.mem.readString(u32(kPtr), u32(kSize));
      const value = vm.mem.readString(u32(vPtr), u32(vSize));
      if (key === null || value === null) return WasmResult.InvalidMemoryAccess;
      const map = headerMapOf(vm, type);
      if (!map?.writable) return WasmResult.BadArgument;
      // setCopy: replace the first occurrence, drop the rest, add when missing.
      const lower = key.toLowerCase();
      const first = map.pairs.findIndex(([k]) => k === lower);
      if (first < 0) map.pairs.push([lower, value]);
      else {
        map.pairs[first] = [lower, value];
        for (let i = map.pairs.length - 1; i > first; i--) if (map.pairs[i][0] === lower) map.pairs.splice(i, 1);
      }
      vm.host.countHeaderMutation(vm.context(), type);
      return WasmResult.Ok;
    },
    remove_header_map_value: (type: number, kPtr: number, kSize: number) => {
      const key = vm.mem.readString(u32(kPtr), u32(kSize));
      if (key === null) return WasmResult.InvalidMemoryAccess;
      const map = headerMapOf(vm, type);
      if (!map?.writable) return WasmResult.BadArgument;
      const lower = key.toLowerCase();
      for (let i = map.pairs.length - 1; i >= 0; i--) if (map.pairs[i][0] === lower) map.pairs.splice(i, 1);
      vm.host.countHeaderMutation(vm.context(), type);
      return WasmResult.Ok;
    },
  };
}

/** The header map `type` names: the stream's own, or the callout response's while it is delivered. */
function headerMapOf(vm: Guest, type: number): HeaderMapRef | null {
  if (type === MapType.HttpCallResponseHeaders || type === MapType.HttpCallResponseTrailers) {
    if (!vm.callResponse) return null;
    return { pairs: type === MapType.HttpCallResponseHeaders ? vm.callResponse.headers : vm.callResponse.trailers, writable: true };
  }
  const ctx = vm.context();
  if (!ctx || ctx.kind === "root") return null;
  return ctx.headerMap(type);
}
