/**
 * Control-plane faults under load, through a real Envoy (2 workers) that
 * reads the filter by ECDS (envoy/envoy-ecds.yaml): `llm-picker deploy`
 * pushes a new resource every second while traffic flows: weight changes, an
 * endpoint added, an endpoint removed, configurations the filter refuses and
 * a module that does not load (both pushed with --no-validate, so Envoy is
 * the judge).
 *
 * What the client sees: nothing. Not one request fails; a refused push
 * leaves the running filter serving; a removed endpoint gets no new request
 * once its removal is live; an added one gets traffic.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { deploy, EXIT } from "../../src/cli/deploy.js";
import { ECDS_BOOTSTRAP } from "../../src/envoy/ecds.js";
import { startEnvoy } from "../../src/envoy/process.js";
import { FILTER_WASM, SKIP_FILTER, dumpEnvoyLog } from "../envoy/harness.js";
import { FULL, record, setting, sleep } from "./env.js";
import { Mix, runLoad, startLoadServers } from "./traffic.js";

const PUSHES = setting("CONTROL_PUSHES", 12, 60);
const RATE = setting("CONTROL_RATE", 30, 100);

describe.skipIf(SKIP_FILTER)(`control plane: ${PUSHES} pushes, one a second, under load`, () => {
  test("no request fails; refusals keep the running filter; endpoints follow the configuration", { timeout: 180_000 + PUSHES * 5000 }, async () => {
    const servers = await startLoadServers(4);
    const [a, b, c, d] = servers;
    const work = mkdtempSync(join(tmpdir(), "llm-picker-control-"));
    const dir = join(work, "ecds");
    const envoyLog = join(work, "envoy.log");
    const configOf = (members: typeof servers, extra: object = {}) => {
      const path = join(work, `c${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(
        path,
        JSON.stringify({ endpoints: members.map((s) => ({ address: s.address })), metrics: { cluster: "model_servers_metrics", intervalMs: 100 }, ...extra }),
      );
      return path;
    };
    const broken = join(work, "broken.wasm");
    writeFileSync(broken, "not a wasm module");
    const first = await deploy({ dir, wasm: FILTER_WASM, config: configOf([a, b, c]), wait: false, out: () => {}, err: () => {} });
    expect(first.exitCode).toBe(EXIT.OK);
    const envoy = await startEnvoy({
      config: ECDS_BOOTSTRAP,
      concurrency: 2,
      logLevel: "warning",
      substitutions: { ecdsDir: dir, endpoints: servers.map((s) => s.address) },
      extraArgs: ["--log-path", envoyLog],
    });
    let traffic = true;
    const load = runLoad({ url: envoy.listenerUrl, rate: RATE, total: 10_000_000, mix: new Mix(11), stop: () => !traffic });
    const verdicts: Array<[string, string]> = [];
    let removedCAt = 0;
    let addedDAt = 0;
    /** Requests c received after each removal was reported live (all within the first second). */
    const results: number[] = [];
    try {
      await sleep(1000);
      for (let i = 0; i < PUSHES; i++) {
        const t0 = Date.now();
        const step = i % 6;
        let r: Awaited<ReturnType<typeof deploy>>;
        const run = (o: { wasm?: string; config?: string; validate?: boolean }) =>
          deploy({ dir, admin: envoy.adminUrl, envoyLog, timeoutS: 15, ...o, out: () => {}, err: () => {} });
        if (step === 0) r = await run({ wasm: FILTER_WASM, config: configOf([a, b, c], { profile: "seed", weights: { kvCache: 1 + i } }) });
        else if (step === 1)
          r = await run({ wasm: FILTER_WASM, config: configOf([a, b, c], { profile: "seed", weights: { prefix: "heavy" } }), validate: false });
        else if (step === 2) {
          r = await run({ wasm: FILTER_WASM, config: configOf([a, b, c, d]) });
          addedDAt = Date.now();
        } else if (step === 3) {
          r = await run({ wasm: broken, validate: false });
        } else if (step === 4) {
          r = await run({ wasm: FILTER_WASM, config: configOf([a, b, d]) });
          removedCAt = Date.now();
        } else r = await run({ wasm: FILTER_WASM, config: configOf([a, b, c], { profile: "seed", weights: { queue: 3 } }) });
        verdicts.push([["weights", "invalid config", "add d", "broken module", "remove c", "restore"][step], r.status]);
        const want: number = step === 1 || step === 3 ? EXIT.REFUSED : EXIT.OK;
        expect(r.exitCode, `${verdicts[verdicts.length - 1].join(": ")} ${r.reason.join(" | ")}`).toBe(want);
        if (step === 4) {
          // c gets nothing new once the removal has reached Envoy's workers: within
          // a second of the verdict (Envoy applies a new configuration to its
          // workers after the main thread accepts it). It stays a cluster member.
          await sleep(1500);
          expect(c.arrivals.filter((t) => t > removedCAt + 1000)).toEqual([]);
          results.push(c.arrivals.filter((t) => t > removedCAt).length);
        }
        await sleep(Math.max(0, 1000 - (Date.now() - t0)));
      }
      traffic = false;
      const result = await load;
      const figures = {
        pushes: PUSHES,
        verdicts,
        requests: result.sent,
        ok: result.ok,
        errors: result.errors,
        dArrivalsAfterAdd: d.arrivals.filter((t) => t > addedDAt).length,
      };
      record(FULL ? "control-plane-full" : "control-plane-ci", figures);
      expect(result.errors).toEqual({});
      expect(result.ok).toBe(result.sent);
      if (PUSHES >= 3) expect(figures.dArrivalsAfterAdd).toBeGreaterThan(0);
      const trapped = envoy
        .logs()
        .split("\n")
        .filter((l) => /RuntimeError|wasm_fail_stream|Wasm VM failed/.test(l));
      expect(trapped).toEqual([]);
      expect(Object.values(await envoy.stats("^wasm\\.llm-picker\\.vm_reload")).every((v) => v === 0)).toBe(true);
    } catch (err) {
      dumpEnvoyLog(envoy, "control plane");
      throw err;
    } finally {
      traffic = false;
      await load.catch(() => undefined);
      await envoy.stop();
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});
