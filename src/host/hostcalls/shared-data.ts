/**
 * Host functions for shared data (key/value with CAS, per vm_id) and shared
 * queues.
 */
import { WasmResult } from "../abi.js";
import type { Guest } from "../internals.js";
import { type HostFunctions, u32 } from "./memory.js";

export function sharedDataFunctions(vm: Guest): HostFunctions {
  return {
    get_shared_data: (kPtr: number, kSize: number, vPtrPtr: number, vSizePtr: number, casPtr: number) => {
      const key = vm.mem.readString(u32(kPtr), u32(kSize));
      if (key === null) return WasmResult.InvalidMemoryAccess;
      const entry = vm.host.shared.get(vm.host.options.vmId, key);
      let result: number = WasmResult.NotFound;
      if (entry) {
        result = vm.mem.copyOut(entry.value, u32(vPtrPtr), u32(vSizePtr));
        if (result !== WasmResult.Ok) return result;
        if (!vm.mem.writeU32(u32(casPtr), entry.cas)) return WasmResult.InvalidMemoryAccess;
      }
      vm.afterSharedDataGet(key, entry);
      return result;
    },
    set_shared_data: (kPtr: number, kSize: number, vPtr: number, vSize: number, cas: number) => {
      const key = vm.mem.readString(u32(kPtr), u32(kSize));
      const value = vm.mem.read(u32(vPtr), u32(vSize));
      if (key === null || !value) return WasmResult.InvalidMemoryAccess;
      const vmId = vm.host.options.vmId;
      const result = vm.host.shared.set(vmId, key, value, u32(cas));
      vm.host.shared.vmDidSet({ vmId, key, vm: vm.label, cas: u32(cas), result });
      return result;
    },
    register_shared_queue: (nPtr: number, nSize: number, tokenPtr: number) => {
      const name = vm.mem.readString(u32(nPtr), u32(nSize));
      if (name === null) return WasmResult.InvalidMemoryAccess;
      const root = vm.rootOf(vm.context());
      if (!root) return WasmResult.BadArgument;
      const token = vm.host.shared.registerQueue(vm.host.options.vmId, name, {
        notify: (t) =>
          vm.host.post(() => {
            if (root.state === "active") vm.invokeRoot("proxy_on_queue_ready", root, root.id, t);
          }),
      });
      return vm.mem.writeU32(u32(tokenPtr), token) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },
    resolve_shared_queue: (vPtr: number, vSize: number, nPtr: number, nSize: number, tokenPtr: number) => {
      const vmId = vm.mem.readString(u32(vPtr), u32(vSize));
      const name = vm.mem.readString(u32(nPtr), u32(nSize));
      if (vmId === null || name === null) return WasmResult.InvalidMemoryAccess;
      const token = vm.host.shared.resolveQueue(vmId, name);
      if (token === undefined) return WasmResult.NotFound;
      return vm.mem.writeU32(u32(tokenPtr), token) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },
    enqueue_shared_queue: (token: number, vPtr: number, vSize: number) => {
      const value = vm.mem.read(u32(vPtr), u32(vSize));
      if (!value) return WasmResult.InvalidMemoryAccess;
      return vm.host.shared.enqueue(u32(token), value);
    },
    dequeue_shared_queue: (token: number, ptrPtr: number, sizePtr: number) => {
      const item = vm.host.shared.dequeue(u32(token));
      if (typeof item === "number") return item;
      return vm.mem.copyOut(item, u32(ptrPtr), u32(sizePtr));
    },
  };
}
