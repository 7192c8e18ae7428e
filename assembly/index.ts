// Entry point: the proxy-wasm ABI exports (assembly/filter/abi.ts) and the
// allocator the host copies values in with (assembly/filter/alloc.ts).
// Nothing else lives here: an entry that mixes the SDK re-export with
// json-as @json classes compiled to a module without exports.
export { malloc } from "./filter/alloc";
export * from "./filter/abi";
