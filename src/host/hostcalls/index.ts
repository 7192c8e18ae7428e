/**
 * The import object of a VM: every host function Envoy 1.40 provides to a
 * proxy-wasm 0.2.1 module (imports.ts lists them), built from one file per ABI
 * area. Each is wrapped to count its calls and to trap when called during
 * `_start`, except the few Envoy allows there.
 */
import { WasmResult } from "../abi.js";
import { PROXY_HOST_FUNCTIONS, PROXY_HOST_FUNCTIONS_0_2_1, WASI_FUNCTIONS, WASI_MODULES, allowedDuringStart } from "../imports.js";
import type { Guest } from "../internals.js";
import { HostTrap } from "../trap.js";
import { bufferFunctions } from "./buffers.js";
import { contextFunctions } from "./context.js";
import { headerFunctions } from "./headers.js";
import type { HostFunction, HostFunctions } from "./memory.js";
import { metricFunctions } from "./metrics.js";
import { propertyFunctions } from "./properties.js";
import { sharedDataFunctions } from "./shared-data.js";
import { streamFunctions } from "./streams.js";
import { timerAndCalloutFunctions } from "./timers.js";
import { WASI_ERRNO, WASI_STUB_RESULTS, wasiFunctions } from "./wasi.js";

/** The proxy-wasm host functions by name without the `proxy_` prefix. */
function proxyFunctions(vm: Guest): HostFunctions {
  return {
    ...contextFunctions(vm),
    ...timerAndCalloutFunctions(vm),
    ...bufferFunctions(vm),
    ...headerFunctions(vm),
    ...streamFunctions(vm),
    ...sharedDataFunctions(vm),
    ...metricFunctions(vm),
    ...propertyFunctions(vm),
  };
}

/** A VM while it builds its imports: `restricted` is true while `_start` runs. */
export interface StartingGuest extends Guest {
  readonly restricted: boolean;
}

/** The import object for one VM: every `env` and WASI function, guarded and counted. */
export function hostImports(vm: StartingGuest): WebAssembly.Imports {
  const guard = (module: string, name: string, fn: HostFunction): HostFunction => {
    return (...args: unknown[]) => {
      if (vm.restricted && !allowedDuringStart(module, name)) {
        vm.host.log(vm.label, 4, `Attempted call to restricted capability during _start: ${module}.${name}`);
        throw new HostTrap(`restricted_callback: ${module}.${name} called during _start`);
      }
      vm.host.countHostCall(`${module}.${name}`);
      return fn(...args);
    };
  };
  const env: HostFunctions = {};
  const impl = proxyFunctions(vm);
  for (const name of [...PROXY_HOST_FUNCTIONS, ...PROXY_HOST_FUNCTIONS_0_2_1]) {
    env[`proxy_${name}`] = guard("env", `proxy_${name}`, impl[name] ?? (() => WasmResult.Unimplemented));
  }
  env.pthread_equal = guard("env", "pthread_equal", (a: number, b: number) => (a === b ? 1 : 0));
  env.emscripten_notify_memory_growth = guard("env", "emscripten_notify_memory_growth", () => undefined);
  const imports: WebAssembly.Imports = { env: env as WebAssembly.ModuleImports };
  const wasi = wasiFunctions(vm);
  for (const module of WASI_MODULES) {
    const fns: HostFunctions = {};
    for (const name of WASI_FUNCTIONS) {
      const stub = () => WASI_STUB_RESULTS[name] ?? WASI_ERRNO.NOTSUP;
      fns[name] = guard(module, name, wasi[name] ?? stub);
    }
    imports[module] = fns as WebAssembly.ModuleImports;
  }
  return imports;
}
