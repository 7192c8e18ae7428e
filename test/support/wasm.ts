/** Builds and unit modules: tests call ensureBuilt/loadUnits, which rebuild from assembly/ when a source is newer. */
export { ensureBuilt, type Target } from "../../src/wasm/build.js";
export { loadUnits, type Units } from "../../src/wasm/units.js";
