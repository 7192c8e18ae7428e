// Replacement for AssemblyScript's `abort` (wired through asconfig.json "use").
// Any abort is a bug: the VM cannot recover from it. We log the location through
// proxy_log (not WASI stdout, which Envoy logs at info) so the cause shows up in
// Envoy's log, then trap. See docs/design.md "Never trap".
import { proxy_log } from "@gcoredev/proxy-wasm-sdk-as/assembly/imports";

export function onAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "llm_picker abort: " + (message ? message! : "") + " at " + (fileName ? fileName! : "?") + ":" + line.toString() + ":" + column.toString();
  let bytes = String.UTF8.encode(text);
  proxy_log(5, changetype<usize>(bytes), bytes.byteLength);
  unreachable();
}
