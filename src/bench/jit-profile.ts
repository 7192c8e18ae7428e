/**
 * The filter's own functions in a callgrind profile of Envoy: instructions
 * per request by AssemblyScript function, for `bench:overhead:instructions
 * --by-function`.
 *
 * Envoy's binary is stripped and V8's compiled wasm has no symbols, so
 * callgrind names the JIT code by address only. V8 (x64) gives each function
 * of a wasm module an 8-byte slot in the module's jump table, and every
 * direct call goes through that slot; callgrind files the code reached from
 * the slot under the slot's address. So the slot's index in the table is the
 * function's index among the module's own functions (after its imports), and
 * the module's name section (a build with `--debug`; the code is the same as
 * the release build's) turns it into a name. The table's start is found from
 * the hottest JIT address: the table is one run of 8-byte slots, page
 * aligned, and the module's functions fit in `functions × 8` bytes of it.
 * Whatever does not fall on a slot (V8's own builtins, stubs) is reported as
 * "(other JIT)".
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Function names by index, from a module's "name" custom section; also the count of imported functions. */
export function wasmFunctionNames(wasmPath: string): { names: Map<number, string>; imports: number; functions: number } {
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  const imports = WebAssembly.Module.imports(module).filter((i) => i.kind === "function").length;
  const section = WebAssembly.Module.customSections(module, "name")[0];
  if (!section) throw new Error(`${wasmPath} has no name section: build it with asc --debug`);
  const bytes = new Uint8Array(section);
  let at = 0;
  const leb = (): number => {
    let result = 0;
    let shift = 0;
    let b: number;
    do {
      b = bytes[at++];
      result |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    return result >>> 0;
  };
  const names = new Map<number, string>();
  while (at < bytes.length) {
    const id = bytes[at++];
    const length = leb();
    const end = at + length;
    if (id === 1) {
      // Subsection 1: function names, a vector of (index, name).
      const count = leb();
      for (let i = 0; i < count; i++) {
        const index = leb();
        const len = leb();
        names.set(index, new TextDecoder().decode(bytes.subarray(at, at + len)));
        at += len;
      }
    }
    at = end;
  }
  const functions = Math.max(0, ...names.keys()) + 1 - imports;
  return { names, imports, functions };
}

export interface FunctionCost {
  name: string;
  /** Self instructions per request. */
  irPerRequest: number;
}

/** Self instructions per request of each wasm function in one callgrind dump, hottest first. */
export function wasmFunctionProfile(dumpFile: string, namedWasm: string, requests: number): { jitPerRequest: number; functions: FunctionCost[] } {
  const { names, imports, functions } = wasmFunctionNames(namedWasm);
  const text = execFileSync("callgrind_annotate", ["--threshold=100", dumpFile], { maxBuffer: 1 << 28 }).toString();
  // Rows "  1,234 (..%)  ???:0x00000012339a5b18 [???]": code with no object file, i.e. JIT code.
  const rows: Array<[number, bigint]> = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^\s*([\d,]+) .*\?\?\?:0x([0-9a-f]+)\S* \[\?\?\?\]/);
    if (m) rows.push([Number(m[1].replace(/,/g, "")), BigInt(`0x${m[2]}`)]);
  }
  // JIT code lives far above the Envoy binary's own addresses.
  const jit = rows.filter(([, a]) => a > 0x1_0000_0000n);
  if (jit.length === 0) return { jitPerRequest: 0, functions: [] };
  const hottest = jit.reduce((m, r) => (r[0] > m[0] ? r : m))[1];
  const span = BigInt(functions * 8);
  const onSlots = jit.filter(([, a]) => a <= hottest + span && a + span >= hottest && (a - hottest) % 8n === 0n).map(([, a]) => a);
  // biome-ignore lint/complexity/useMathMinMax: bigint addresses; Math.min takes numbers only.
  const base = onSlots.reduce((m, a) => (a < m ? a : m), hottest) & ~0xfffn;
  const byName = new Map<string, number>();
  let total = 0;
  for (const [ir, a] of jit) {
    const offset = a - base;
    const slot = offset >= 0n && offset % 8n === 0n ? Number(offset / 8n) : -1;
    const name = slot >= 0 && slot < functions ? (names.get(slot + imports) ?? `function ${slot + imports}`) : "(other JIT)";
    byName.set(name, (byName.get(name) ?? 0) + ir);
    total += ir;
  }
  return {
    jitPerRequest: total / requests,
    functions: [...byName].map(([name, ir]) => ({ name, irPerRequest: ir / requests })).sort((a, b) => b.irPerRequest - a.irPerRequest),
  };
}
