/**
 * Hot swap under load through a real Envoy 1.40
 * (envoy/envoy-ecds.yaml, 2 workers). 50 client loops keep 50 requests in
 * flight through Envoy to three fake model servers (100 ms per answer) while
 * `llm-picker deploy` (runDeploy, the command end to end) performs 10 swaps,
 * alternating code and configuration:
 *
 *   1 code    release → debug build
 *   2 config  kv-cache weight 10 (server C, whose KV cache is 70 % full, loses every decision)
 *   3 code    a broken module (--no-validate, so Envoy judges): refused, config_fail moves
 *   4 config  an invalid configuration (--no-validate): the canary's on_configure refuses it
 *   5 code    the release build with a custom section appended (new bytes, new file, new VMs)
 *   6 config  kv-cache weight 0 (C wins its share again)
 *   7 code    debug build
 *   8 config  the default weights
 *   9 code    release build
 *  10 --rollback → debug build with the default weights
 *
 * Asserted: zero failed client requests; every accepted swap is reported live
 * from Envoy's config_reload, the two refusals as config_fail with Envoy's
 * (and the filter's) own log lines, and the refused ones leave the running
 * configuration in charge; the conversations started before the swaps return
 * to the servers that served their first turns (the prefix index survived 8
 * VM and root-context changes); the weights visibly change decisions.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, onTestFailed, test } from "vitest";
import { EXIT, runDeploy } from "../../src/cli/deploy.js";
import { ECDS_BOOTSTRAP, ECDS_FILE, readEcdsCounters, readEcdsResource } from "../../src/envoy/ecds.js";
import { startEnvoy, type EnvoyProcess } from "../../src/envoy/process.js";
import { vllmPage } from "../host/fixtures/vllm.js";
import { FILTER_WASM, MODEL, SKIP_FILTER } from "./harness.js";
import { chatBody, DEBUG_WASM } from "../support";
import { startUpstreams, type FakeUpstream, type RecordedRequest } from "./upstreams.js";

const SCORES = "x-llm-picker-scores";
const CONCURRENCY = 50;
const ANSWER_MS = 100;
/** Traffic kept running under each new configuration before the next swap. */
const DWELL_MS = 700;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Appends a custom section: a different module (new sha256, new file, new VMs) with the same code. */
function withCustomSection(wasm: Uint8Array, name: string, payload: string): Uint8Array {
  const uleb = (n: number) => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return Buffer.from(out);
  };
  const nameBytes = Buffer.from(name);
  const content = Buffer.concat([uleb(nameBytes.length), nameBytes, Buffer.from(payload)]);
  return Buffer.concat([wasm, Buffer.from([0]), uleb(content.length), content]);
}

/** Runs `llm-picker deploy` and captures what it prints. */
async function deployCli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = process.stdout.write.bind(process.stdout);
  const stderr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => err.push(String(chunk)) > 0) as typeof process.stderr.write;
  let code: number;
  try {
    code = await runDeploy(argv);
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
  process.stdout.write(`$ llm-picker deploy ${argv.join(" ")}  → exit ${code}\n${out.join("")}${err.join("")}`);
  return { code, out: out.join(""), err: err.join("") };
}

interface Failure {
  at: number;
  status?: number;
  error?: string;
  body?: string;
}

/** CONCURRENCY client loops, each always with one request in flight, each request a new prompt. */
class Traffic {
  ok = 0;
  failures: Failure[] = [];
  inFlight = 0;
  private running = true;
  private loops: Promise<void>[] = [];
  constructor(private url: string) {
    for (let i = 0; i < CONCURRENCY; i++) this.loops.push(this.loop(i));
  }
  private async loop(id: number): Promise<void> {
    for (let n = 0; this.running; n++) {
      // A hash first: no two requests share a prefix block, so only load and weights decide.
      const content = `${createHash("sha256").update(`${id}/${n}`).digest("hex")} load ${id}/${n}`;
      this.inFlight++;
      try {
        const res = await fetch(`${this.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: chatBody([content], { model: MODEL }),
          signal: AbortSignal.timeout(15_000),
        });
        const body = await res.text();
        if (res.status === 200) this.ok++;
        else this.failures.push({ at: Date.now(), status: res.status, body: body.slice(0, 300) });
      } catch (error) {
        this.failures.push({ at: Date.now(), error: String(error) });
      } finally {
        this.inFlight--;
      }
    }
  }
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** A conversation with a long first turn (~2 KB), so earlier turns are most of each request. */
function conversationBody(seed: number, turns: number): string {
  const messages = [
    {
      role: "user",
      content: `conversation ${seed} ${createHash("sha256").update(String(seed)).digest("hex")} ${"Here is the document to discuss. ".repeat(60)}`,
    },
  ];
  for (let i = 1; i < turns; i++) messages.push({ role: "assistant", content: `answer ${i}: it depends.` }, { role: "user", content: `follow-up ${i}?` });
  return chatBody(messages, { model: MODEL });
}

interface Scores {
  endpoint: string;
  scores: { prefix: Record<string, number> };
  weights: Record<string, number>;
}

function scoresOf(r: RecordedRequest): Scores | null {
  const v = r.headers[SCORES];
  return typeof v === "string" ? (JSON.parse(v) as Scores) : null;
}

describe.skipIf(SKIP_FILTER)("hot swap under load through Envoy", () => {
  let upstreams: FakeUpstream[] = [];
  let envoy: EnvoyProcess | null = null;
  let dir = "";
  let work = "";
  let envoyLog = "";

  beforeAll(async () => {
    upstreams = await startUpstreams(3);
    const [a, b, c] = upstreams;
    // C's KV cache is 70 % full (below the 80 % admission threshold): the kv-cache weight decides whether it wins.
    a.metrics = b.metrics = vllmPage({ waiting: 0, running: 2, kv: 0.1 });
    c.metrics = vllmPage({ waiting: 0, running: 2, kv: 0.7 });
    for (const u of upstreams) {
      u.handler = async (_req, res: ServerResponse, up) => {
        await sleep(ANSWER_MS);
        res.writeHead(200, { "content-type": "application/json", "x-upstream": up.address });
        res.end(JSON.stringify({ object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: `served by ${up.address}` } }] }));
      };
    }
    dir = mkdtempSync(join(tmpdir(), "llm-picker-hotswap-ecds-"));
    work = mkdtempSync(join(tmpdir(), "llm-picker-hotswap-"));
    envoyLog = join(work, "envoy.log");
  });

  afterAll(async () => {
    await envoy?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  const config = (extra: Record<string, unknown> = {}) => ({
    endpoints: upstreams.map((u) => ({ address: u.address })),
    metrics: { cluster: "model_servers_metrics", intervalMs: 50 },
    debugHeaders: true,
    ...extra,
  });
  const configFile = (name: string, value: unknown) => {
    const path = join(work, name);
    writeFileSync(path, typeof value === "string" ? value : JSON.stringify(value));
    return path;
  };

  test("10 swaps (code, configuration, a broken module, an invalid configuration, a rollback) with zero failed requests", { timeout: 90_000 }, async () => {
    onTestFailed(() => {
      const text = existsSync(envoyLog) ? readFileSync(envoyLog, "utf8").split("\n") : [];
      console.error(`===== Envoy log (last 200 of ${text.length} lines) =====\n${text.slice(-200).join("\n")}\n===== end =====`);
    });
    const c = upstreams[2];
    const addresses = upstreams.map((u) => u.address);

    // First resource before Envoy starts (nothing to wait for yet).
    const first = await deployCli(["--wasm", FILTER_WASM, "--config", configFile("w0.json", config()), "--dir", dir, "--no-wait"]);
    expect(first.code, first.err).toBe(EXIT.OK);
    envoy = await startEnvoy({
      config: ECDS_BOOTSTRAP,
      substitutions: { ecdsDir: dir, endpoints: addresses },
      concurrency: 2,
      extraArgs: ["--log-path", envoyLog],
    });
    const admin = envoy.adminUrl;
    const counters = async () => (await readEcdsCounters(admin))!;
    const v8Created = async () => (await envoy!.stats("^wasm\\.envoy\\.wasm\\.runtime\\.v8\\.created$"))["wasm.envoy.wasm.runtime.v8.created"] ?? 0;
    expect(await counters()).toMatchObject({ reload: 1, fail: 0 });

    // Conversations started before the swaps (first turn, one at a time, no other traffic).
    const conversations = [0, 1, 2, 3, 4, 5];
    const home = new Map<number, string>();
    for (const seed of conversations) {
      const res = await fetch(`${envoy.listenerUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: conversationBody(seed, 1),
      });
      expect(res.status).toBe(200);
      home.set(seed, res.headers.get("x-upstream")!);
      await res.text();
    }

    const traffic = new Traffic(envoy.listenerUrl);
    const inFlightAtSwap: number[] = [];
    const common = ["--dir", dir, "--admin", admin, "--envoy-log", envoyLog, "--timeout", "20"];
    const swap = async (argv: string[]) => {
      inFlightAtSwap.push(traffic.inFlight);
      const result = await deployCli([...argv, ...common]);
      await sleep(DWELL_MS);
      return result;
    };
    const live = (r: { code: number; out: string; err: string }) => {
      expect(r.code, r.err).toBe(EXIT.OK);
      expect(r.out).toMatch(/live: Envoy applied version .* \(config_reload \d+ → \d+, config_fail (\d+) → \1\)/);
    };

    await sleep(DWELL_MS);
    const created0 = await v8Created();

    // 1 code: release → debug
    live(await swap(["--wasm", DEBUG_WASM]));
    const created1 = await v8Created();
    expect(created1).toBeGreaterThan(created0);

    // 2 config: kv-cache weight 10
    live(await swap(["--wasm", DEBUG_WASM, "--config", configFile("kv10.json", config({ weights: { kvCache: 10 } }))]));
    const kv10At = Date.now();

    // 3 code: a broken module. deploy's own check refuses it first (nothing published) ...
    const broken = join(work, "broken.wasm");
    const release = new Uint8Array(readFileSync(FILTER_WASM));
    writeFileSync(broken, release.subarray(0, release.length >> 1));
    const refusedLocally = await deployCli(["--wasm", broken, ...common]);
    expect(refusedLocally.code).toBe(EXIT.INVALID);
    // ... and with --no-validate Envoy refuses it: config_fail moves, the running filter keeps serving.
    const before3 = await counters();
    const r3 = await swap(["--wasm", broken, "--no-validate"]);
    expect(r3.code, r3.out + r3.err).toBe(EXIT.REFUSED);
    expect(r3.err).toMatch(/Envoy refused version .* \(config_reload \d+ → \d+, config_fail \d+ → \d+\); the running filter keeps serving/);
    // Envoy's reason, from its log (its admin does not say why).
    expect(r3.err).toMatch(/Envoy's log:[\s\S]*Wasm VM failed/);
    expect((await counters()).fail).toBe(before3.fail + 1);
    expect(readEcdsResource(readFileSync(join(dir, ECDS_FILE), "utf8"))!.wasmFile).not.toContain("broken");

    // 4 config: an invalid configuration, refused by the filter's on_configure in Envoy's canary.
    const invalid = configFile("invalid.json", config({ weights: { prefix: "heavy" } }));
    const r4 = await swap(["--wasm", DEBUG_WASM, "--config", invalid, "--no-validate"]);
    expect(r4.code, r4.out + r4.err).toBe(EXIT.REFUSED);
    // The filter's own line, from Envoy's log; none of the previous refusal's lines.
    expect(r4.err).toMatch(/Envoy's log:[\s\S]*\[critical\]\[wasm\] wasm log llm_picker llm_picker: llm_picker: invalid configuration: weights\.prefix/);
    expect(r4.err).not.toMatch(/corrupted/);
    expect((await counters()).fail).toBe(before3.fail + 2);
    const refusedUntil = Date.now();

    // 5 code: release + a custom section
    const tagged = join(work, "llm_picker.tagged.wasm");
    writeFileSync(tagged, withCustomSection(release, "llm-picker.build", `hotswap ${Date.now()}`));
    const created4 = await v8Created();
    live(await swap(["--wasm", tagged]));
    expect(await v8Created()).toBeGreaterThan(created4);

    // 6 config: kv-cache weight 0
    const kv0Start = Date.now();
    live(await swap(["--wasm", tagged, "--config", configFile("kv0.json", config({ weights: { kvCache: 0 } }))]));

    // 7 code: debug; 8 config: default weights; 9 code: release
    live(await swap(["--wasm", DEBUG_WASM]));
    live(await swap(["--wasm", DEBUG_WASM, "--config", configFile("w0b.json", config())]));
    const beforeRollback = readFileSync(join(dir, ECDS_FILE), "utf8");
    live(await swap(["--wasm", FILTER_WASM]));
    // 10 rollback: back to the debug build with the default weights
    const r10 = await swap(["--rollback"]);
    live(r10);
    expect(readFileSync(join(dir, ECDS_FILE), "utf8")).toBe(beforeRollback);

    await traffic.stop();

    // ---- zero failed requests, 50 in flight at every swap
    expect(traffic.failures, JSON.stringify(traffic.failures.slice(0, 5))).toEqual([]);
    expect(traffic.ok).toBeGreaterThan(1000);
    expect(
      inFlightAtSwap.every((n) => n === CONCURRENCY),
      String(inFlightAtSwap),
    ).toBe(true);
    const final = await counters();
    expect(final.fail).toBe(2);
    // The first load, 10 swaps, and the 2 restores after the refusals (Envoy
    // remembers a refused file's hash, so the restored file counts as new).
    expect(final.reload).toBe(1 + 10 + 2);

    // ---- the weights change decisions (each request carries the weights it was decided with)
    const decided = upstreams.flatMap((u) => u.traffic().map((r) => ({ to: u.address, at: r.at, s: scoresOf(r) })));
    expect(decided.every((d) => d.s !== null && d.s.endpoint === d.to)).toBe(true);
    const share = (kv: number) => {
      const group = decided.filter((d) => d.s!.weights["kv-cache"] === kv && !d.s!.scores.prefix[d.to]);
      return { n: group.length, toC: group.filter((d) => d.to === c.address).length / Math.max(1, group.length) };
    };
    const kv10 = share(10);
    const kv0 = share(0);
    const kv2 = share(2);
    process.stdout.write(
      `decisions: kv-cache weight 10: n=${kv10.n} C=${kv10.toC.toFixed(3)}; 0: n=${kv0.n} C=${kv0.toC.toFixed(3)}; 2: n=${kv2.n} C=${kv2.toC.toFixed(3)}; ok=${traffic.ok}\n`,
    );
    expect(kv10.n).toBeGreaterThan(200);
    expect(kv0.n).toBeGreaterThan(200);
    expect(kv10.toC).toBeLessThan(0.02);
    expect(kv0.toC).toBeGreaterThan(0.15);
    // The refused swaps left weight 10 in charge: everything decided between them used it.
    const during = decided.filter((d) => d.at > kv10At + 100 && d.at < refusedUntil);
    expect(during.length).toBeGreaterThan(100);
    expect(during.every((d) => d.s!.weights["kv-cache"] === 10)).toBe(true);
    expect(decided.some((d) => d.at > kv0Start && d.s!.weights["kv-cache"] === 0)).toBe(true);

    // ---- the index survived: each conversation's next turn returns to its server, with prefix credit there
    for (const u of upstreams) u.clear();
    for (const seed of conversations) {
      const res = await fetch(`${envoy.listenerUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: conversationBody(seed, 2),
      });
      expect(res.status).toBe(200);
      await res.text();
      const served = res.headers.get("x-upstream")!;
      expect(served, `conversation ${seed}`).toBe(home.get(seed));
      const rec = upstreams
        .find((u) => u.address === served)!
        .traffic()
        .at(-1)!;
      expect(scoresOf(rec)!.scores.prefix[served]).toBeGreaterThan(0.8);
    }

    // ---- no filter abort in Envoy's log across all of it
    expect(readFileSync(envoyLog, "utf8")).not.toMatch(/llm_picker abort/);
  });
});
