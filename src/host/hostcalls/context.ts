/**
 * Host functions for logging, call status, the end of a root context
 * (`proxy_done`) and the effective context.
 */
import { WasmResult, toBytes } from "../abi.js";
import type { Guest } from "../internals.js";
import { type HostFunctions, u32 } from "./memory.js";

export function contextFunctions(vm: Guest): HostFunctions {
  return {
    log: (level: number, ptr: number, len: number) => {
      const msg = vm.mem.readString(u32(ptr), u32(len));
      if (msg === null) return WasmResult.InvalidMemoryAccess;
      if (level > 5) return WasmResult.BadArgument;
      vm.host.log(vm.label, level, msg);
      return WasmResult.Ok;
    },
    get_log_level: (retPtr: number) => (vm.mem.writeU32(u32(retPtr), vm.host.logLevel()) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess),
    get_status: (codePtr: number, msgPtrPtr: number, msgSizePtr: number) => {
      if (!vm.mem.writeU32(u32(codePtr), vm.status.code)) return WasmResult.InvalidMemoryAccess;
      return vm.mem.copyOut(toBytes(vm.status.message), u32(msgPtrPtr), u32(msgSizePtr));
    },
    done: () => {
      const root = vm.rootOf(vm.context());
      if (root?.state !== "pending_done") return WasmResult.NotFound;
      // Deferred so on_delete does not run inside the proxy_done call.
      vm.afterCallActions.push(() => vm.deleteRoot(root));
      return WasmResult.Ok;
    },
    set_effective_context: (id: number) => {
      const ctx = vm.contexts.get(u32(id));
      if (!ctx || (ctx.kind === "stream" && ctx.destroyed)) return WasmResult.BadArgument;
      vm.setEffectiveContext(u32(id));
      return WasmResult.Ok;
    },
  };
}
