import { proxy_log } from "@gcoredev/proxy-wasm-sdk-as/assembly/imports";
export function proxy_abi_version_0_2_1(): void {}
export function proxy_on_context_create(id: u32, parent: u32): void {
  let b = String.UTF8.encode("ctx " + id.toString());
  proxy_log(2, changetype<usize>(b), b.byteLength);
}
