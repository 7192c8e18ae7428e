// Entry point: the proxy-wasm ABI exports (assembly/filter/abi.ts) and the
// SDK's allocator. Nothing else lives here: an entry that mixes the SDK
// re-export with json-as @json classes compiled to a module without exports.
export { malloc } from "@gcoredev/proxy-wasm-sdk-as/assembly/malloc";
export * from "./filter/abi";
