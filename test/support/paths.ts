/** Where things are: the project root and the builds tests load. */
import { resolve } from "node:path";
import { PROJECT_ROOT } from "../../src/envoy/locate.js";
import { outputOf } from "../../src/wasm/build.js";

export const ROOT = PROJECT_ROOT;
/** build/debug.wasm: the host tier's filter (assertions and names kept). */
export const DEBUG_WASM = outputOf("debug");
/** build/llm_picker.wasm: the filter Envoy loads. */
export const RELEASE_WASM = outputOf("release");
/** The filter module the Envoy tier and the fuzzers test: the release build, or LLM_PICKER_WASM (e.g. the debug build). */
export const FILTER_WASM = process.env.LLM_PICKER_WASM ? resolve(ROOT, process.env.LLM_PICKER_WASM) : RELEASE_WASM;
