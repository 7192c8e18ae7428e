/**
 * What an Envoy hot restart (a new process with --restart-epoch N+1 taking
 * over the listen sockets) does to the filter's state, measured on Envoy
 * 1.40: proxy-wasm shared data lives in the process, so the new process
 * starts with an empty prefix index and no endpoint states; conversations
 * routed before the restart find no held prefix after it (routing falls back
 * to load until the index refills), and no request fails across the
 * restart.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { renderEnvoyConfig } from "../../src/envoy/config.js";
import { PROJECT_ROOT } from "../../src/envoy/locate.js";
import { ENVOY_BIN, ENVOY_YAML, FILTER_WASM, SKIP_FILTER } from "../envoy/harness.js";
import { record, sleep } from "./env.js";
import { startLoadServers } from "./traffic.js";

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFile(path: string, timeoutMs = 60_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (existsSync(path)) {
      const text = readFileSync(path, "utf8").trim();
      if (text) return text;
    }
    await sleep(50);
  }
  throw new Error(`${path} not written`);
}

/** Waits for the Envoy whose admin address is written to `adminPath` to report LIVE. */
async function waitLive(adminPath: string, timeoutMs = 60_000): Promise<void> {
  const admin = await waitFile(adminPath, timeoutMs);
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(`http://${admin}/ready`);
      if ((await r.text()).trim() === "LIVE") return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error("Envoy not LIVE in time");
}

describe.skipIf(SKIP_FILTER)("Envoy hot restart", () => {
  test("the new process starts with an empty prefix index; no request fails across the restart", { timeout: 180_000 }, async () => {
    const servers = await startLoadServers(2);
    const port = await freePort();
    const work = mkdtempSync(join(tmpdir(), "llm-picker-hot-restart-"));
    const config = join(work, "envoy.yaml");
    writeFileSync(
      config,
      renderEnvoyConfig(readFileSync(ENVOY_YAML, "utf8"), {
        listenerPort: port,
        listenerAddress: "127.0.0.1",
        adminPort: 0,
        wasmPath: FILTER_WASM,
        endpoints: servers.map((s) => s.address),
        pluginConfig: {
          endpoints: servers.map((s) => ({ address: s.address })),
          metrics: { cluster: "model_servers_metrics" },
          debugHeaders: true,
          profile: "seed",
        },
      }),
    );
    const children: ChildProcess[] = [];
    const start = (epoch: number, baseId: string | null) => {
      const adminPath = join(work, `admin-${epoch}`);
      const args = [
        "-c",
        config,
        "--admin-address-path",
        adminPath,
        "--restart-epoch",
        String(epoch),
        "--drain-time-s",
        "1",
        "--parent-shutdown-time-s",
        "3",
        "-l",
        "warning",
      ];
      args.push(...(baseId === null ? ["--use-dynamic-base-id", "--base-id-path", join(work, "base-id")] : ["--base-id", baseId]));
      const child = spawn(ENVOY_BIN!, args, { cwd: PROJECT_ROOT, stdio: "ignore" });
      children.push(child);
      return adminPath;
    };
    const url = `http://127.0.0.1:${port}`;
    const scoresOf = async (content: string[]) => {
      const messages = content.map((c, i) => ({ role: i % 2 === 0 ? "user" : "assistant", content: c }));
      for (const s of servers) s.fault = null;
      let header = "";
      for (const s of servers)
        s.fault = (req, res) => {
          header = String(req.headers["x-llm-picker-scores"] ?? "");
          res.writeHead(200, { "content-type": "application/json" });
          res.end("{}");
          return true;
        };
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "m", messages }),
      });
      await res.text();
      expect(res.status).toBe(200);
      const scores = JSON.parse(header) as { endpoint: string; scores: { prefix: Record<string, number> } };
      return Math.max(...Object.values(scores.scores.prefix));
    };
    try {
      await waitLive(start(0, null));
      const baseId = await waitFile(join(work, "base-id"));
      const doc = `A long document the conversation is about. `.repeat(40);
      await scoresOf([doc]);
      const before = await scoresOf([doc, "answer", "follow-up"]);
      // Hot restart: epoch 1 takes the sockets; epoch 0 drains and exits.
      let failed = 0;
      let sent = 0;
      let traffic = true;
      const background = (async () => {
        while (traffic) {
          sent++;
          try {
            const r = await fetch(`${url}/v1/models`);
            await r.text();
            if (r.status !== 200) failed++;
          } catch {
            failed++;
          }
          await sleep(20);
        }
      })();
      await waitLive(start(1, baseId));
      await new Promise<void>((resolve) => children[0].once("exit", () => resolve()));
      traffic = false;
      await background;
      const after = await scoresOf([doc, "answer", "follow-up", "answer 2", "and then?"]);
      record("hot-restart", { prefixScoreBefore: before, prefixScoreAfter: after, requestsDuringRestart: sent, failedDuringRestart: failed });
      expect(before).toBeGreaterThan(0.5);
      expect(after).toBe(0);
      expect(failed).toBe(0);
    } finally {
      for (const c of children) c.kill("SIGKILL");
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});
