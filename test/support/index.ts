/**
 * Shared test helpers, one home for each: paths, builds and unit modules,
 * request builders, and the mutators the fuzz and property tests share.
 * Tier-specific harnesses stay next to their tier (test/envoy/harness.ts,
 * test/host/fixtures/vllm.ts, test/fuzz/filter.ts) and build on these.
 */
export * from "./mutators.js";
export * from "./paths.js";
export * from "./requests.js";
export * from "./wasm.js";
export * from "./metrics.js";
