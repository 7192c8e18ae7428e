/**
 * `llm-picker inspect` (its decision line is a stable contract):
 * the real CLI (`node bin/llm-picker.js inspect ...`) on build/debug.wasm,
 * one spawned process per case, its single stdout line parsed and checked.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, ROOT } from "../support";

const BIN = resolve(ROOT, "bin", "llm-picker.js");
let dir = "";

beforeAll(() => {
  ensureBuilt("debug");
  dir = mkdtempSync(join(tmpdir(), "llm-picker-inspect-"));
});

/** Writes `content` (JSON unless a string) to a temp file and returns its path. */
function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], stdin?: string): Run {
  const r = spawnSync("node", [BIN, "inspect", ...args], { cwd: ROOT, input: stdin ?? "", encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI, expects exit 0 and exactly one JSON line on stdout. */
function line(args: string[], stdin?: string): any {
  const r = cli(args, stdin);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const lines = r.stdout.split("\n");
  expect(lines.length).toBe(2); // one line + the final newline
  expect(lines[1]).toBe("");
  return JSON.parse(lines[0]);
}

const CHAT = { model: "m", messages: [{ role: "user", content: "hi" }] };
const ROUTE_KEYS = ["decision", "request", "prefix", "endpoint", "scores", "total"];

describe("inspect: one line per decision kind", () => {
  it("route: request, prefix, endpoint, scores and total (default pool 127.0.0.1:8001)", () => {
    const got = line(["--path", "/v1/chat/completions", "--header", "x-request-id: r-1", file("chat.json", CHAT)]);
    expect(got.decision).toBe("route");
    for (const k of ROUTE_KEYS) expect(got).toHaveProperty(k);
    expect(Object.keys(got).slice(0, 3)).toEqual(["decision", "request", "prefix"]);
    expect(got.request).toEqual({ requestId: "r-1", targetModel: "m", body: { chat_completions: { messages: [{ role: "user", content: "hi" }] } } });
    expect(Object.keys(got.prefix)).toEqual(["blockSize", "hashes"]);
    expect(got.prefix.blockSize).toBe(64);
    expect(got.prefix.hashes).toHaveLength(1);
    expect(got.prefix.hashes[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(got.endpoint).toBe("127.0.0.1:8001");
    // The default profile: a one-block prompt, none of it cached (counted twice), nothing queued:
    // 1 / (1 + 2 × 1), written with 6 decimals.
    expect(got.scores).toEqual({ "predicted-prefill": { "127.0.0.1:8001": 0.333333 } });
    expect(got.total).toEqual({ "127.0.0.1:8001": 0.333333 });
  });

  it("route from stdin (-), completions by body shape with the default path", () => {
    const got = line(["--header", "x-request-id: r-2", "-"], JSON.stringify({ model: "test-model1", prompt: "aaaaaa" }));
    expect(got.request).toEqual({ requestId: "r-2", targetModel: "test-model1", body: { completions: { prompt: "aaaaaa" } } });
  });

  it("route: a generated request id when the client sent none", () => {
    const got = line([file("chat.json", CHAT)]);
    expect(got.request.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("route: the model rewrite header sets targetModel, and the hashes follow the new model", () => {
    const plain = line(["--header", "x-request-id: a", file("chat.json", CHAT)]);
    const rewritten = line(["--header", "x-request-id: a", "--header", "x-gateway-model-name-rewrite: other", file("chat.json", CHAT)]);
    expect(rewritten.request.targetModel).toBe("other");
    expect(rewritten.prefix.hashes).not.toEqual(plain.prefix.hashes);
  });

  it("reject 400: status and the OpenAI error object, nothing else", () => {
    const got = line(["--path", "/v1/chat/completions", file("bad-model.json", { model: 5, messages: [] })]);
    expect(Object.keys(got)).toEqual(["decision", "status", "error"]);
    expect(got.decision).toBe("reject");
    expect(got.status).toBe(400);
    expect(Object.keys(got.error)).toEqual(["message", "type", "param", "code"]);
    expect(got.error).toMatchObject({ type: "invalid_request_error", param: "model", code: "invalid_type" });
    expect(got.error.message).toContain("'model'");
  });

  it("reject 400 for a body that is not JSON", () => {
    const got = line(["--path", "/v1/completions", file("not-json.txt", "no healthy upstream")]);
    expect(got).toMatchObject({ decision: "reject", status: 400, error: { code: "invalid_json", param: null } });
  });

  it("reject 503 for an empty pool", () => {
    const got = line(["--config", file("empty-pool.json", { endpoints: [] }), file("chat.json", CHAT)]);
    expect(got).toMatchObject({ decision: "reject", status: 503 });
    expect(Object.keys(got)).toEqual(["decision", "status", "error"]);
  });

  it("reject 429 for a sheddable request when every endpoint is saturated", () => {
    const eps = file("saturated.json", { "10.0.0.1:8000": { waiting: 9, kvCacheUsage: 0.5 }, "10.0.0.2:8000": { waiting: 0, kvCacheUsage: 0.95 } });
    const shed = line(["--endpoints", eps, "--header", "x-gateway-inference-priority: -1", file("chat.json", CHAT)]);
    expect(shed).toMatchObject({ decision: "reject", status: 429 });
    const kept = line(["--endpoints", eps, file("chat.json", CHAT)]);
    expect(kept.decision).toBe("route");
  });

  it("pass: not an inference call, no request or prefix", () => {
    const got = line(["--method", "GET", "--path", "/v1/models"]);
    expect(got.decision).toBe("pass");
    expect(got).not.toHaveProperty("request");
    expect(got).not.toHaveProperty("prefix");
    expect(got.endpoint).toBe("127.0.0.1:8001");
  });
});

// The seed's golden scheduling cases (docs/reference/seed.md#golden-scheduling-cases): weights
// kv/queue/prefix/lora 1, pods 192.168.1.(i+1):8000, MaxActiveModels 0,
// 5-character prompts (prefix 0). In-flight is not a seed scorer: weight 0.
describe("inspect --endpoints: the seed's hermetic scheduling cases through the full filter", () => {
  const HERMETIC = { profile: "seed", weights: { prefix: 1, queue: 1, kvCache: 1, loraAffinity: 1, inFlight: 0 } };
  const TARGET = "sql-lora-1fdg2";
  type Pod = [waiting: number, kv: number, active?: boolean];
  const cases: Array<{ name: string; pods: Pod[]; want: string; totals: number[] }> = [
    {
      name: "select lower queue and kv cache",
      pods: [
        [3, 0.2],
        [0, 0.1],
        [10, 0.2],
      ],
      want: "192.168.1.2:8000",
      totals: [1.5, 1.9, 0.8],
    },
    {
      name: "select active lora, low queue",
      pods: [
        [0, 0.2],
        [0, 0.1, true],
        [10, 0.2],
      ],
      want: "192.168.1.2:8000",
      totals: [1.8, 2.9, 0.8],
    },
    {
      name: "select lora despite higher kv",
      pods: [
        [10, 0.2],
        [10, 0.4, true],
        [10, 0.3],
      ],
      want: "192.168.1.2:8000",
      totals: [1.8, 2.6, 1.7],
    },
    {
      name: "don't shed by default",
      pods: [
        [6, 0.2, true],
        [0, 0.85],
        [10, 0.9],
      ],
      want: "192.168.1.1:8000",
      totals: [2.2, 1.15, 0.1],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const snapshot: Record<string, unknown> = {};
      c.pods.forEach(([waiting, kv, active], i) => {
        snapshot[`192.168.1.${i + 1}:8000`] = { waiting, kvCacheUsage: kv, runningLoras: active ? [TARGET] : [], waitingLoras: [], maxLoras: 0, healthy: true };
      });
      const got = line([
        "--config",
        file("hermetic.json", HERMETIC),
        "--endpoints",
        file(`eps-${c.name}.json`, snapshot),
        "--seed",
        "1",
        "--path",
        "/v1/completions",
        file("hermetic-body.json", { model: TARGET, prompt: "test2", max_tokens: 100, temperature: 0 }),
      ]);
      expect(got.decision).toBe("route");
      expect(got.endpoint).toBe(c.want);
      const addresses = Object.keys(snapshot);
      expect(Object.keys(got.total)).toEqual(addresses);
      addresses.forEach((a, i) => {
        expect(got.total[a]).toBeCloseTo(c.totals[i], 9);
      });
      for (const a of addresses) expect(got.scores.prefix[a]).toBe(0);
    });
  }
});

// The seed's prefix plugin test (docs/reference/seed.md#pinned-prefix-tests; S = 4, trailing block
// dropped as in the seed's PR): each step replays the earlier picks with
// --state and inspects the next prompt; hashes are the seed's golden vectors.
// Scores are written with 6 decimals (assembly/json/writer.ts): 2/3 → 0.666667.
describe("inspect --state: the seed's completion table", () => {
  const CONFIG = { profile: "seed", prefix: { blockSize: 4, hashTrailingBlock: false } };
  const POD1 = "127.0.0.1:8001";
  const POD2 = "127.0.0.1:8002";
  const s1 = { model: "test-model1", prompt: "aaaaaa" };
  const s2 = { model: "test-model2", prompt: "bbbbbb" };
  const s3 = { model: "test-model1", prompt: "aaaabbbb" };
  const s4 = { model: "test-model-new", prompt: "aaaabbbb" };
  const s5 = { model: "test-model1", prompt: "aaaabbbbcccc" };
  const steps: Array<{ step: number; state: Record<string, unknown[]>; body: unknown; hashes: string[]; pod1: number; pod2: number }> = [
    { step: 1, state: { [POD1]: [], [POD2]: [] }, body: s1, hashes: ["cc8952e70e1c4504"], pod1: 0, pod2: 0 },
    { step: 2, state: { [POD1]: [s1], [POD2]: [] }, body: s2, hashes: ["0e0b3b65f6e5c15d"], pod1: 0, pod2: 0 },
    { step: 3, state: { [POD1]: [s1], [POD2]: [s2] }, body: s3, hashes: ["cc8952e70e1c4504", "251707ac8b048154"], pod1: 0.5, pod2: 0 },
    { step: 4, state: { [POD1]: [s1, s3], [POD2]: [s2] }, body: s4, hashes: ["290aa1412c11a41e", "069d47acc90dc82e"], pod1: 0, pod2: 0 },
    {
      step: 5,
      state: { [POD1]: [s1, s3, s4], [POD2]: [s2] },
      body: s5,
      hashes: ["cc8952e70e1c4504", "251707ac8b048154", "a39267888ad6734a"],
      pod1: 0.666667,
      pod2: 0,
    },
  ];
  for (const s of steps) {
    it(`step ${s.step}: prefix scores ${s.pod1} / ${s.pod2}`, () => {
      const got = line([
        "--config",
        file("prefix4.json", CONFIG),
        "--state",
        file(`state-${s.step}.json`, s.state),
        "--path",
        "/v1/completions",
        "--seed",
        "1",
        file(`step-${s.step}.json`, s.body),
      ]);
      expect(got.prefix).toEqual({ blockSize: 4, hashes: s.hashes });
      expect(got.scores.prefix).toEqual({ [POD1]: s.pod1, [POD2]: s.pod2 });
      if (s.pod1 > 0) expect(got.endpoint).toBe(POD1);
    });
  }

  it("the state's addresses join a configured pool's union only when the configuration lists none", () => {
    const got = line([
      "--config",
      file("prefix4-pool.json", { ...CONFIG, endpoints: [{ address: POD2 }] }),
      "--state",
      file("state-pool.json", { [POD1]: [s1] }),
      "--path",
      "/v1/completions",
      file("s3.json", s3),
    ]);
    expect(got.scores.prefix).toEqual({ [POD2]: 0 }); // POD1 is not in the configured pool: its entries never score
    expect(got.endpoint).toBe(POD2);
  });

  it("a growing chat conversation returns to the endpoint that served its earlier turns", () => {
    const turn = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `turn ${i}: ${"lorem ipsum dolor sit amet ".repeat(3)}` }));
    const chat = (n: number) => ({ model: "m", messages: turn(n) });
    const got = line([
      "--config",
      file("prefix8.json", { profile: "seed", prefix: { blockSize: 8 } }),
      "--state",
      file("state-chat.json", { [POD1]: [chat(2), chat(4)], [POD2]: [] }),
      "--path",
      "/v1/chat/completions",
      "--seed",
      "1",
      file("chat6.json", chat(6)),
    ]);
    expect(got.scores.prefix[POD1]).toBeGreaterThan(0.5);
    expect(got.scores.prefix[POD1]).toBeLessThan(1);
    expect(got.scores.prefix[POD2]).toBe(0);
    expect(got.endpoint).toBe(POD1);
  });
});

describe("inspect --seed: deterministic tie-breaks", () => {
  const eps = () => file("tie.json", { "10.0.0.1:8000": { waiting: 0 }, "10.0.0.2:8000": { waiting: 0 }, "10.0.0.3:8000": { waiting: 0 } });
  it("the same seed picks the same endpoint every time; different seeds spread over the tie", () => {
    const pick = (seed: number) => line(["--endpoints", eps(), "--seed", String(seed), file("chat.json", CHAT)]);
    const first = pick(5);
    expect(first.tied).toBe(3);
    for (let i = 0; i < 2; i++) expect(pick(5).endpoint).toBe(first.endpoint);
    const chosen = new Set([1, 2, 3, 4, 6, 7].map((seed) => pick(seed).endpoint));
    expect(chosen.size).toBeGreaterThan(1);
  });
});

describe("inspect: errors exit 2 with a clear message", () => {
  const cases: Array<{ name: string; args: () => string[]; stderr: RegExp }> = [
    { name: "missing body file", args: () => [join(dir, "absent.json")], stderr: /body FILE .*absent\.json: cannot read \(no such file\)/ },
    {
      name: "missing config file",
      args: () => ["--config", join(dir, "absent.json"), file("chat.json", CHAT)],
      stderr: /--config .*absent\.json: cannot read/,
    },
    {
      name: "configuration refused by the filter (its critical line names the field)",
      args: () => ["--config", file("bad-block.json", { prefix: { blockSize: 0 } }), file("chat.json", CHAT)],
      stderr: /refused the configuration:\nllm_picker: invalid configuration: prefix\.blockSize: /,
    },
    {
      name: "configuration that is not JSON (the filter's message)",
      args: () => ["--config", file("broken.json", '{"weights":{"queue":'), file("chat.json", CHAT)],
      stderr: /llm_picker: invalid configuration: weights\.queue: .*JSON/,
    },
    {
      name: "unknown configuration key",
      args: () => ["--config", file("typo.json", { weigths: {} }), file("chat.json", CHAT)],
      stderr: /unknown key "weigths"/,
    },
    {
      name: "--endpoints not JSON",
      args: () => ["--endpoints", file("eps-broken.json", "{"), file("chat.json", CHAT)],
      stderr: /--endpoints .*: invalid JSON/,
    },
    {
      name: "--endpoints with a wrong type (the filter's message)",
      args: () => ["--endpoints", file("eps-wrong.json", { "10.0.0.1:80": { waiting: "x" } }), file("chat.json", CHAT)],
      stderr: /invalid configuration: snapshot/,
    },
    {
      name: "--state not an object of arrays",
      args: () => ["--state", file("state-bad.json", { "10.0.0.1:80": {} }), file("chat.json", CHAT)],
      stderr: /must map to an array/,
    },
    {
      name: "--state body the filter refuses",
      args: () => ["--state", file("state-400.json", { "10.0.0.1:80": [{ model: 1 }] }), "--path", "/v1/completions", file("chat.json", CHAT)],
      stderr: /body 0 of "10\.0\.0\.1:80" was refused with 400/,
    },
    { name: "--seed 0", args: () => ["--seed", "0", file("chat.json", CHAT)], stderr: /--seed "0": expected an integer from 1/ },
    { name: "unknown option", args: () => ["--nope", file("chat.json", CHAT)], stderr: /Unknown option '--nope'/ },
    { name: "malformed --header", args: () => ["--header", "no-colon", file("chat.json", CHAT)], stderr: /--header "no-colon": expected 'name: value'/ },
    { name: "missing --wasm", args: () => ["--wasm", join(dir, "absent.wasm"), file("chat.json", CHAT)], stderr: /--wasm .*absent\.wasm: cannot read/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = cli(c.args());
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(c.stderr);
    });
  }
});
