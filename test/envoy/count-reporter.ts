/**
 * Vitest reporter that prints how many Envoy-tier tests (test/envoy/) ran,
 * passed, failed and were skipped, so `npm test` shows that the real-Envoy
 * tier ran. Under CI, zero Envoy-tier tests run
 * (all skipped) fails the run: the tier must never silently disappear.
 *
 * Register in vitest.config.ts next to the default reporter:
 *   reporters: ["default", "./test/envoy/count-reporter.ts"]
 */
import type { Reporter, TestModule } from "vitest/node";

const UNDER_CI = !!process.env.CI && process.env.CI !== "false" && process.env.CI !== "0";

export default class EnvoyTierCountReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const envoyModules = testModules.filter((m) => /[\\/]test[\\/]envoy[\\/]/.test(m.moduleId));
    if (envoyModules.length === 0) return; // the Envoy tier was not part of this run
    const count = { passed: 0, failed: 0, skipped: 0, pending: 0 };
    for (const module of envoyModules) {
      for (const test of module.children.allTests()) count[test.result().state] += 1;
    }
    const ran = count.passed + count.failed;
    console.log(
      `\nEnvoy tier: ${ran} Envoy tests ran (${count.passed} passed, ${count.failed} failed), ${count.skipped} skipped, in ${envoyModules.length} files`,
    );
    if (UNDER_CI && ran === 0) {
      console.error("Envoy tier: no Envoy test ran under CI: failing the run");
      process.exitCode = 1;
    }
  }
}
