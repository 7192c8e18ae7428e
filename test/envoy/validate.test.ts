/**
 * Every Envoy config in envoy/ passes `envoy --mode validate`: once with a minimal pass-through module (checks envoy/ alone)
 * and once with the real build/llm_picker.wasm (validation also loads the
 * module and runs its on_configure with the file's plugin configuration).
 */
import { describe, expect, test } from "vitest";
import { envoyConfigFiles, validateEnvoyConfig } from "../../src/envoy/validate.js";
import { ENVOY_BIN, FILTER_WASM, SKIP_ENVOY, SKIP_FILTER } from "./harness.js";
import { buildWat, PASS_THROUGH_WAT } from "./modules.js";

const files = envoyConfigFiles();

describe.skipIf(SKIP_ENVOY)("envoy --mode validate", () => {
  test("envoy/ holds envoy.yaml and baseline.yaml", () => {
    const names = files.map((f) => f.split("/").pop());
    expect(names).toContain("envoy.yaml");
    expect(names).toContain("baseline.yaml");
  });

  test.each(files)("%s with a pass-through module", async (file) => {
    const wasm = await buildWat(PASS_THROUGH_WAT, "pass-through");
    const result = validateEnvoyConfig(file, { wasmPath: wasm }, ENVOY_BIN ?? undefined);
    expect(result.status, result.detail).not.toBe("failed");
  });

  test.skipIf(SKIP_FILTER).each(files)("%s with build/llm_picker.wasm", (file) => {
    const result = validateEnvoyConfig(file, { wasmPath: FILTER_WASM }, ENVOY_BIN ?? undefined);
    expect(result.status, result.detail).not.toBe("failed");
  });

  test("a broken module fails validation (the check can fail)", async () => {
    const wasm = await buildWat(PASS_THROUGH_WAT.replace('(export "malloc")', ""), "no-malloc");
    const envoyYaml = files.find((f) => f.endsWith("/envoy.yaml"))!;
    const result = validateEnvoyConfig(envoyYaml, { wasmPath: wasm }, ENVOY_BIN ?? undefined);
    expect(result.status).toBe("failed");
  });
});
