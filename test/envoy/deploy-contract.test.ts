/**
 * `llm-picker deploy` against a real Envoy (envoy/envoy-ecds.yaml):
 * - a configuration whose maxBodyBytes is not below the listener's buffer
 *   limit is refused before anything is published, naming both values;
 * - a refused module: Envoy's "fail closed" line is quoted with a note saying
 *   what it does and does not mean (the resource is FAIL_OPEN);
 * - what a swap does to the VMs, as docs/hot-swap.md says: Envoy 1.40
 *   creates one new VM for a configuration-only swap (the worker VMs stay),
 *   and new VMs everywhere for new code.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { deploy, EXIT } from "../../src/cli/deploy.js";
import { ECDS_BOOTSTRAP, ECDS_FILE } from "../../src/envoy/ecds.js";
import { PROJECT_ROOT } from "../../src/envoy/locate.js";
import { FILTER_WASM, postChat, SKIP_FILTER, useEnvoy } from "./harness.js";
import { startUpstreams, type FakeUpstream } from "./upstreams.js";

const DEBUG_WASM = join(PROJECT_ROOT, "build/debug.wasm");

describe.skipIf(SKIP_FILTER)("llm-picker deploy against a real Envoy", () => {
  let upstreams: FakeUpstream[] = [];
  let dir = "";
  let work = "";
  let envoyLog = "";
  const configFile = (name: string, value: object) => {
    const path = join(work, name);
    writeFileSync(path, JSON.stringify(value));
    return path;
  };
  const base = () => ({ endpoints: upstreams.map((u) => ({ address: u.address })), metrics: { cluster: "model_servers_metrics" } });
  beforeAll(async () => {
    upstreams = await startUpstreams(2);
    work = mkdtempSync(join(tmpdir(), "llm-picker-deploy-contract-"));
    dir = join(work, "ecds");
    envoyLog = join(work, "envoy.log");
    const first = await deploy({ dir, wasm: FILTER_WASM, config: configFile("c0.json", base()), wait: false, out: () => {}, err: () => {} });
    expect(first.exitCode).toBe(EXIT.OK);
  });
  afterAll(async () => {
    await Promise.all(upstreams.map((u) => u.close()));
  });
  const envoy = useEnvoy(() => ({
    config: ECDS_BOOTSTRAP,
    substitutions: { ecdsDir: dir, endpoints: upstreams.map((u) => u.address) },
    concurrency: 2,
    extraArgs: ["--log-path", envoyLog],
  }));
  const run = async (o: { wasm?: string; config?: string; validate?: boolean }) => {
    const lines: string[] = [];
    const r = await deploy({ dir, admin: envoy().adminUrl, envoyLog, timeoutS: 20, ...o, out: (l) => lines.push(l), err: (l) => lines.push(l) });
    return { ...r, text: lines.join("\n") };
  };
  const v8 = async () => {
    const s = await envoy().stats("^wasm\\.envoy\\.wasm\\.runtime\\.v8\\.(created|active)$");
    return { created: s["wasm.envoy.wasm.runtime.v8.created"] ?? 0, active: s["wasm.envoy.wasm.runtime.v8.active"] ?? 0 };
  };

  test("maxBodyBytes at or above Envoy's buffer limit is refused before publishing, naming both", async () => {
    const before = readFileSync(join(dir, ECDS_FILE), "utf8");
    const r = await run({ wasm: FILTER_WASM, config: configFile("big.json", { ...base(), maxBodyBytes: 9437184 }) });
    expect(r.exitCode).toBe(EXIT.INVALID);
    expect(r.text).toContain("per_connection_buffer_limit_bytes is 9437184, not above the filter's maxBodyBytes 9437184");
    expect(r.text).toContain("listener llm_picker_listener");
    expect(readFileSync(join(dir, ECDS_FILE), "utf8")).toBe(before);
    expect((await postChat(envoy().listenerUrl, "still served")).status).toBe(200);
  });

  test("a configuration-only swap creates one new VM (Envoy 1.40), a code swap one per worker and more; traffic flows on", async () => {
    const before = await v8();
    const r = await run({ wasm: FILTER_WASM, config: configFile("w.json", { ...base(), profile: "seed", weights: { kvCache: 5 } }) });
    expect(r.exitCode, r.text).toBe(EXIT.OK);
    expect(r.status).toBe("live");
    const after = await v8();
    console.log(`[deploy-contract] config-only swap: v8.created ${before.created} → ${after.created}, v8.active ${before.active} → ${after.active}`);
    // One new VM (it loads the module and configures the new plugin configuration
    // before Envoy accepts it) replaces one; the worker VMs stay, with new root contexts.
    expect(after.created - before.created).toBe(1);
    expect(after.active).toBe(before.active);
    expect((await postChat(envoy().listenerUrl, "after the swap")).status).toBe(200);
    const code = await run({ wasm: DEBUG_WASM });
    expect(code.exitCode, code.text).toBe(EXIT.OK);
    const afterCode = await v8();
    console.log(`[deploy-contract] code swap: v8.created ${after.created} → ${afterCode.created}, v8.active ${after.active} → ${afterCode.active}`);
    // New code: new VMs everywhere (measured 5 with 2 workers), the old ones released.
    expect(afterCode.created - after.created).toBe(5);
    expect(afterCode.active).toBe(after.active);
    expect((await postChat(envoy().listenerUrl, "after the code swap")).status).toBe(200);
  });

  test("a module that does not load: refused, and Envoy's 'fail closed' wording is explained", async () => {
    const broken = join(work, "broken.wasm");
    writeFileSync(broken, "not a wasm module");
    const r = await run({ wasm: broken, validate: false });
    expect(r.exitCode).toBe(EXIT.REFUSED);
    expect(r.text).toContain("Plugin configured to fail closed failed to load");
    expect(r.text).toContain('note: "Plugin configured to fail closed failed to load" is Envoy\'s wording for any module that does not load');
    expect((await postChat(envoy().listenerUrl, "after the refusal")).status).toBe(200);
  });
});
