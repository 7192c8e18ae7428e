// Entry point: the proxy-wasm ABI exports (assembly/filter/abi.ts) and the
// SDK's allocator. Nothing else lives here (see envoy-proxy-wasm.md §2.3: an
// entry that mixes the SDK re-export with @json classes compiles to nothing).
export { malloc } from "@gcoredev/proxy-wasm-sdk-as/assembly/malloc";
export * from "./filter/abi";
