import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Envoy-tier tests start real processes on free ports; files run in
    // parallel but each file owns its processes.
    pool: "forks",
    // Prints how many real-Envoy tests ran; under CI fails the run when none did.
    reporters: ["default", "./test/envoy/count-reporter.ts"],
  },
});
