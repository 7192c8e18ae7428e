/**
 * Loads a unit-test module (build/units-<name>.wasm, built from
 * assembly/<name>/testing.ts) with asc's raw bindings, so tests and benchmarks
 * call pure AssemblyScript functions with JS values. The exports are typed from
 * the `.d.ts` asc writes next to each module; the module is rebuilt first when
 * an AssemblyScript source is newer. Aborts are captured: a call that hits one
 * throws `UnitAbort` with the AssemblyScript message.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { instantiate as instantiateHashing } from "../../build/units-hashing.js";
import type { instantiate as instantiateRequest } from "../../build/units-request.js";
import type { instantiate as instantiateScoring } from "../../build/units-scoring.js";
import { PROJECT_ROOT } from "../envoy/locate.js";
import { ensureBuilt, type UnitsName } from "./build.js";

/** The exports of each unit module, as asc's bindings declare them. */
export interface UnitsExports {
  request: Awaited<ReturnType<typeof instantiateRequest>>;
  hashing: Awaited<ReturnType<typeof instantiateHashing>>;
  scoring: Awaited<ReturnType<typeof instantiateScoring>>;
}
export type Units<N extends UnitsName> = UnitsExports[N];

export class UnitAbort extends Error {}

export async function loadUnits<N extends UnitsName>(name: N): Promise<Units<N>> {
  ensureBuilt(`units-${name}`);
  const wasm = resolve(PROJECT_ROOT, "build", `units-${name}.wasm`);
  const bindings = await import(resolve(PROJECT_ROOT, "build", `units-${name}.js`));
  const module = new WebAssembly.Module(readFileSync(wasm));
  let memory: WebAssembly.Memory | undefined;
  let lastLog = "";
  const text = (ptr: number, len: number) => (memory ? Buffer.from(new Uint8Array(memory.buffer, ptr, len)).toString("utf8") : "");
  const imports = {
    env: {
      proxy_log(_level: number, ptr: number, len: number) {
        lastLog = text(ptr, len);
        return 0;
      },
    },
    wasi_snapshot_preview1: {
      fd_write(_fd: number, iovs: number, iovsLen: number, nwritten: number) {
        const view = new DataView(memory!.buffer);
        let total = 0;
        for (let i = 0; i < iovsLen; i++) {
          const p = view.getUint32(iovs + i * 8, true);
          const l = view.getUint32(iovs + i * 8 + 4, true);
          lastLog = text(p, l);
          total += l;
        }
        view.setUint32(nwritten, total, true);
        return 0;
      },
      proc_exit(code: number) {
        throw new UnitAbort(`proc_exit(${code}): ${lastLog}`);
      },
      random_get(ptr: number, len: number) {
        const view = new Uint8Array(memory!.buffer, ptr, len);
        for (let i = 0; i < len; i++) view[i] = (Math.random() * 256) | 0;
        return 0;
      },
      clock_time_get(_id: number, _precision: bigint, out: number) {
        new DataView(memory!.buffer).setBigUint64(out, process.hrtime.bigint(), true);
        return 0;
      },
    },
  };
  const exports = await bindings.instantiate(module, imports);
  memory = exports.memory;
  return exports as Units<N>;
}
