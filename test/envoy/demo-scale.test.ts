/**
 * `npm start` with simulated servers: the pool is an EDS cluster the filter
 * follows (pool.cluster), and the live table's `+` / `-` keys (Demo.addServer
 * / removeServer) scale it while the demo traffic runs: a new server takes
 * requests, a removed one is drained first, and no demo request fails.
 */
import { describe, expect, test } from "vitest";
import { startDemo } from "../../src/cli/start.js";
import { SKIP_FILTER, waitFor } from "./harness.js";

describe.skipIf(SKIP_FILTER)("npm start: servers join and leave while the demo runs", () => {
  test("+ adds a server that takes traffic; - drains and removes one; 0 errors; the table shows both", async () => {
    const demo = await startDemo({ port: 0, adminPort: 0, servers: 2, rate: 20 });
    try {
      expect(await waitFor(() => demo.counts().ok >= 10, 20_000)).toBe(true);
      const added = await demo.addServer();
      expect(added).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(demo.endpoints).toHaveLength(3);
      const picksOf = async (address: string) => (await demo.rows()).find((r) => r.address === address)?.picks ?? 0;
      expect(await waitFor(async () => (await picksOf(added!)) > 0, 15_000)).toBe(true);
      const table = await demo.render();
      expect(table).toContain(added!);
      expect(table).toContain("pool: 3 servers");
      const removing = demo.removeServer();
      expect(await waitFor(async () => (await demo.render()).includes(`${added} (draining)`), 2000)).toBe(true);
      expect(await removing).toBe(added);
      expect(demo.endpoints).toHaveLength(2);
      expect(await demo.render()).not.toContain(added!);
      const before = demo.counts();
      expect(await waitFor(() => demo.counts().ok >= before.ok + 5, 15_000)).toBe(true);
      expect(demo.counts().errors).toBe(0);
    } finally {
      await demo.stop();
    }
  }, 90_000);
});
