/**
 * `llm-picker deploy` without a real Envoy: the validation
 * in the emulated host, the directory it manages (content-addressed modules,
 * history, atomic resource, settings) and its reading of Envoy's verdict,
 * against a fake admin that applies Envoy 1.40's counter rules (measured in
 * test/envoy/hotswap.test.ts; see src/envoy/ecds.ts EcdsCounters).
 * The same command against a real Envoy under load: test/envoy/hotswap.test.ts.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { deploy, EXIT, historyEntries, parseDeployArgs, runDeploy, type DeployOptions } from "../../src/cli/deploy.js";
import { ECDS_FILE, moduleFileName, readEcdsResource, type EcdsCounters } from "../../src/envoy/ecds.js";
import { DEBUG_WASM, ensureBuilt, RELEASE_WASM } from "../support";

const CONFIG = { endpoints: [{ address: "10.0.0.1:8000" }, { address: "10.0.0.2:8000" }], metrics: { enabled: false } };

beforeAll(() => ensureBuilt("debug", "release"));

function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `llm-picker-deploy-${tag}-`));
}

function writeJson(dir: string, name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof value === "string" ? value : JSON.stringify(value, null, 2));
  return path;
}

/** Collects the command's output lines. */
function sinks() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, o: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

type Decision = "live" | "refused" | "ignore";

/**
 * A stand-in for Envoy's admin: on each /stats it reads DIR/llm-picker.yaml
 * like Envoy's file subscription would after a move, and moves the counters
 * the way Envoy 1.40 does (refused: config_reload and config_fail both move;
 * unchanged typed_config: only update_success).
 */
class FakeAdmin {
  counters: EcdsCounters = { reload: 0, fail: 0, success: 0, rejected: 0 };
  applied: string | null = null;
  /** The file text last read (an in-place edit Envoy never noticed can be modelled by setting it). */
  seen: string | null = null;
  /** Called when it refuses a file (Envoy writes its log lines then). */
  onRefuse: () => void = () => {};
  private server!: Server;
  url = "";
  constructor(
    private dir: string,
    public decide: (wasmFile: string, config: string) => Decision,
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.observe();
      const c = this.counters;
      const prefix = "extension_config_discovery.http_filter.llm-picker.";
      const stats = [
        ["config_reload", c.reload],
        ["config_fail", c.fail],
        ["update_success", c.success],
        ["update_rejected", c.rejected],
      ].map(([name, value]) => ({ name: prefix + name, value }));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ stats: req.url?.startsWith("/stats") ? stats : [] }));
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.observe();
    return this;
  }

  private observe(): void {
    const path = join(this.dir, ECDS_FILE);
    if (!existsSync(path)) return;
    const text = readFileSync(path, "utf8");
    if (text === this.seen) return;
    this.seen = text;
    const info = readEcdsResource(text)!;
    const decision = this.decide(info.wasmFile, info.pluginConfig);
    if (decision === "ignore") return;
    if (info.typedConfigKey === this.applied) {
      this.counters.success++;
      return;
    }
    this.applied = info.typedConfigKey;
    this.counters.reload++;
    if (decision === "live") this.counters.success++;
    else {
      this.counters.fail++;
      this.counters.rejected++;
      this.onRefuse();
    }
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const admins: FakeAdmin[] = [];
afterEach(async () => {
  await Promise.all(admins.splice(0).map((a) => a.close()));
});

async function fakeAdmin(dir: string, decide: (wasmFile: string, config: string) => Decision = () => "live"): Promise<FakeAdmin> {
  const admin = await new FakeAdmin(dir, decide).start();
  admins.push(admin);
  return admin;
}

function current(dir: string) {
  return readEcdsResource(readFileSync(join(dir, ECDS_FILE), "utf8"))!;
}

describe("arguments", () => {
  it.each([
    [[], "--dir DIR is required"],
    [["--dir", "/x"], "--wasm FILE is required (or --rollback)"],
    [["--dir", "/x", "--rollback", "--wasm", "a.wasm"], "--rollback takes no --wasm or --config"],
    [["--dir", "/x", "--wasm", "a", "--timeout", "0"], '--timeout must be a positive number of seconds, got "0"'],
    [["--dir", "/x", "--wasm", "a", "--bogus"], "Unknown option '--bogus'"],
  ])("%j → %s", (argv, message) => {
    expect(String(parseDeployArgs(argv as string[]))).toContain(message);
  });

  it("parses every option", () => {
    expect(
      parseDeployArgs([
        "--dir",
        "d",
        "--wasm",
        "m.wasm",
        "--config",
        "c.json",
        "--admin",
        "http://a:1",
        "--timeout",
        "2.5",
        "--envoy-dir",
        "/e",
        "--envoy-log",
        "l",
        "--no-validate",
        "--no-wait",
      ]),
    ).toEqual({
      dir: "d",
      wasm: "m.wasm",
      config: "c.json",
      admin: "http://a:1",
      timeoutS: 2.5,
      rollback: false,
      validate: false,
      wait: false,
      envoyDir: "/e",
      envoyLog: "l",
    });
  });

  it("runDeploy answers a usage error with exit 2 and --help with 0", async () => {
    expect(await runDeploy(["--wasm", "x"])).toBe(EXIT.INVALID);
    expect(await runDeploy(["--help"])).toBe(EXIT.OK);
  });
});

describe("validation before publishing (nothing is written when it refuses)", () => {
  const cases: Array<[string, (dir: string) => Partial<DeployOptions>, RegExp]> = [
    ["configuration that is not JSON", (d) => ({ wasm: RELEASE_WASM, config: writeJson(d, "c.json", "{endpoints: [") }), /not valid JSON/],
    ["configuration that is not an object", (d) => ({ wasm: RELEASE_WASM, config: writeJson(d, "c.json", "[1]") }), /must be a JSON object/],
    [
      "configuration the filter refuses (its own message)",
      (d) => ({ wasm: RELEASE_WASM, config: writeJson(d, "c.json", { endpoints: 5 }) }),
      /invalid configuration: endpoints: expected an array, got a number/,
    ],
    [
      "weights the filter refuses",
      (d) => ({ wasm: RELEASE_WASM, config: writeJson(d, "c.json", { ...CONFIG, weights: { prefix: "heavy" } }) }),
      /invalid configuration: weights\.prefix/,
    ],
    [
      "a file that is not a wasm module",
      (d) => ({ wasm: writeJson(d, "bad.wasm", "not wasm"), config: writeJson(d, "c.json", CONFIG) }),
      /not a valid WebAssembly module|does not load/,
    ],
    ["a missing module", (d) => ({ wasm: join(d, "missing.wasm"), config: writeJson(d, "c.json", CONFIG) }), /cannot read the module/],
    ["a first deploy without configuration", () => ({ wasm: RELEASE_WASM }), /--config FILE is required for the first deploy/],
  ];
  it.each(cases)("%s → exit 2", async (_, make, message) => {
    const dir = tempDir("refuse");
    const work = tempDir("inputs");
    const { err, o } = sinks();
    const result = await deploy({ dir, wait: false, ...make(work), ...o });
    expect(result.exitCode).toBe(EXIT.INVALID);
    expect(err.join("\n")).toMatch(message);
    expect(readdirSync(dir).filter((f) => !f.startsWith("."))).toEqual([]);
  });

  it("--no-validate lets the filter's refusal through to Envoy", async () => {
    const dir = tempDir("novalidate");
    const { o } = sinks();
    const result = await deploy({ dir, wait: false, validate: false, wasm: RELEASE_WASM, config: writeJson(tempDir("in"), "c.json", { endpoints: 5 }), ...o });
    expect(result.exitCode).toBe(EXIT.OK);
    expect(current(dir).pluginConfig).toBe('{"endpoints":5}');
  });
});

describe("the watched directory", () => {
  it("first deploy (--no-wait): content-addressed module, resource naming it, same vm_id, settings remembered", async () => {
    const dir = tempDir("first");
    const config = writeJson(tempDir("in"), "c.json", CONFIG);
    const { out, o } = sinks();
    const result = await deploy({ dir, wasm: RELEASE_WASM, config, wait: false, envoyDir: "/etc/llm-picker/envoy/ecds", admin: "http://127.0.0.1:1", ...o });
    expect(result).toMatchObject({ exitCode: EXIT.OK, status: "published" });
    const name = moduleFileName(new Uint8Array(readFileSync(RELEASE_WASM)));
    expect(name).toMatch(/^llm_picker-[0-9a-f]{12}\.wasm$/);
    expect(readFileSync(join(dir, name))).toEqual(readFileSync(RELEASE_WASM));
    const info = current(dir);
    expect(info.wasmFile).toBe(`/etc/llm-picker/envoy/ecds/${name}`);
    expect(info.vmId).toBe("llm_picker");
    expect(JSON.parse(info.pluginConfig)).toEqual(CONFIG);
    expect(info.versionInfo).toBe(result.version);
    expect(info.versionInfo.startsWith(name.replace(".wasm", ""))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, ".llm-picker-deploy.json"), "utf8"))).toEqual({
      admin: "http://127.0.0.1:1",
      envoyDir: "/etc/llm-picker/envoy/ecds",
    });
    expect(historyEntries(dir)).toEqual([]);
    expect(out.join("\n")).toContain(`published version ${result.version}`);
  });

  it("an unchanged module + configuration is detected and not published (whitespace in the JSON does not count)", async () => {
    const dir = tempDir("unchanged");
    const input = tempDir("in");
    await deploy({ dir, wasm: RELEASE_WASM, config: writeJson(input, "a.json", CONFIG), wait: false, ...sinks().o });
    const before = readFileSync(join(dir, ECDS_FILE), "utf8");
    const { out, o } = sinks();
    const again = await deploy({ dir, wasm: RELEASE_WASM, config: writeJson(input, "b.json", JSON.stringify(CONFIG, null, 8)), ...o });
    expect(again).toMatchObject({ exitCode: EXIT.OK, status: "unchanged" });
    expect(out.join("\n")).toMatch(/unchanged: .*Envoy would skip it, nothing published/);
    expect(readFileSync(join(dir, ECDS_FILE), "utf8")).toBe(before);
    expect(historyEntries(dir)).toEqual([]);
  });

  it("a configuration-only deploy keeps the module; a module-only deploy keeps the configuration", async () => {
    const dir = tempDir("partial");
    const admin = await fakeAdmin(dir);
    const input = tempDir("in");
    await deploy({ dir, wasm: RELEASE_WASM, config: writeJson(input, "a.json", CONFIG), admin: admin.url, ...sinks().o });
    const weights = { ...CONFIG, weights: { prefix: 5 } };
    const r1 = await deploy({ dir, wasm: RELEASE_WASM, config: writeJson(input, "b.json", weights), ...sinks().o });
    expect(r1.status).toBe("live");
    expect(basename(current(dir).wasmFile)).toBe(moduleFileName(new Uint8Array(readFileSync(RELEASE_WASM))));
    const r2 = await deploy({ dir, wasm: DEBUG_WASM, ...sinks().o });
    expect(r2.status).toBe("live");
    expect(JSON.parse(current(dir).pluginConfig)).toEqual(weights);
    expect(basename(current(dir).wasmFile)).toBe(moduleFileName(new Uint8Array(readFileSync(DEBUG_WASM))));
    expect(historyEntries(dir)).toHaveLength(2);
  });

  it("an admin that cannot be reached: exit 3 and nothing published (unless it is the first resource)", async () => {
    const dir = tempDir("unreachable");
    const input = tempDir("in");
    const first = await deploy({ dir, wasm: RELEASE_WASM, config: writeJson(input, "a.json", CONFIG), admin: "http://127.0.0.1:9", ...sinks().o });
    expect(first.status).toBe("published");
    const before = readFileSync(join(dir, ECDS_FILE), "utf8");
    const { err, o } = sinks();
    const second = await deploy({ dir, wasm: DEBUG_WASM, ...o });
    expect(second).toMatchObject({ exitCode: EXIT.NO_VERDICT, status: "unreachable" });
    expect(err.join("\n")).toMatch(/cannot reach Envoy's admin at http:\/\/127\.0\.0\.1:9.*nothing published/);
    expect(readFileSync(join(dir, ECDS_FILE), "utf8")).toBe(before);
  });
});

describe("Envoy's verdict", () => {
  async function deployed(decide: (wasmFile: string, config: string) => Decision = () => "live") {
    const dir = tempDir("verdict");
    const admin = await fakeAdmin(dir, decide);
    const input = tempDir("in");
    const first = await deploy({ dir, wasm: RELEASE_WASM, config: writeJson(input, "a.json", CONFIG), admin: admin.url, ...sinks().o });
    expect(first.status).toBe("live");
    return { dir, admin, input };
  }

  it("live: config_reload moved without config_fail → exit 0, the previous resource kept for rollback", async () => {
    const { dir, input } = await deployed(() => "live");
    const firstText = readFileSync(join(dir, ECDS_FILE), "utf8");
    const { out, o } = sinks();
    const r = await deploy({ dir, wasm: RELEASE_WASM, config: writeJson(input, "b.json", { ...CONFIG, weights: { kvCache: 10 } }), ...o });
    expect(r).toMatchObject({ exitCode: EXIT.OK, status: "live" });
    expect(r.verdict?.after).toMatchObject({ reload: 2, fail: 0 });
    expect(out.join("\n")).toMatch(/live: Envoy applied version .* \(config_reload 1 → 2, config_fail 0 → 0\)/);
    expect(historyEntries(dir).map((p) => readFileSync(p, "utf8"))).toEqual([firstText]);
  });

  it("refused: config_fail moved (config_reload moves too) → exit 1, Envoy's log lines reported, DIR restored", async () => {
    const { dir, input, admin } = await deployed((_, config) => (config.includes('"kvCache":-1') ? "refused" : "live"));
    const log = join(tempDir("log"), "envoy.log");
    // Envoy stamps its lines with local time.
    const stamp = (ms: number) => {
      const d = new Date(ms);
      const p = (n: number, w = 2) => String(n).padStart(w, "0");
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
    };
    const oldLine = `[${stamp(Date.now() - 60_000)}][1][info][main] [source/server/server.cc:1] old line`;
    const lateLine = `[${stamp(Date.now() - 60_000)}][1][warning][config] [source/x.cc:1] a late flushed line of an earlier update`;
    writeFileSync(log, oldLine + "\n");
    const before = readFileSync(join(dir, ECDS_FILE), "utf8");
    // Envoy writes its log lines when it refuses the file.
    admin.onRefuse = () =>
      writeFileSync(
        log,
        [
          oldLine,
          lateLine,
          `[${stamp(Date.now())}][7][critical][wasm] [source/extensions/common/wasm/context.cc:1160] wasm log llm_picker llm_picker: llm_picker: invalid configuration: weights.kvCache: must be >= 0`,
          `[${stamp(Date.now())}][7][warning][config] [source/extensions/config_subscription/filesystem/filesystem_subscription_impl.cc:81] Filesystem config update rejected: Unable to create Wasm plugin llm-picker`,
          "",
        ].join("\n"),
      );
    const { err, o } = sinks();
    const r = await deploy({
      dir,
      wasm: RELEASE_WASM,
      config: writeJson(input, "b.json", { ...CONFIG, weights: { kvCache: -1 } }),
      validate: false,
      envoyLog: log,
      ...o,
    });
    expect(r).toMatchObject({ exitCode: EXIT.REFUSED, status: "refused" });
    expect(r.verdict?.after).toMatchObject({ reload: 2, fail: 1 });
    const text = err.join("\n");
    expect(text).toMatch(/Envoy refused version .*config_fail 0 → 1.*the running filter keeps serving.*restored to version/);
    expect(text).toContain("[warning][config] Filesystem config update rejected: Unable to create Wasm plugin llm-picker");
    expect(text).toContain("[critical][wasm] wasm log llm_picker llm_picker: llm_picker: invalid configuration: weights.kvCache: must be >= 0");
    expect(text).not.toContain("old line");
    expect(text).not.toContain("a late flushed line");
    expect(readFileSync(join(dir, ECDS_FILE), "utf8")).toBe(before);
    expect(historyEntries(dir)).toEqual([]);
  });

  it("no verdict in time → exit 3, left published; --rollback restores the previous one", async () => {
    const { dir, admin } = await deployed(() => "live");
    const firstText = readFileSync(join(dir, ECDS_FILE), "utf8");
    admin.decide = () => "ignore";
    const { err, o } = sinks();
    const r = await deploy({ dir, wasm: DEBUG_WASM, timeoutS: 0.3, ...o });
    expect(r).toMatchObject({ exitCode: EXIT.NO_VERDICT, status: "timeout" });
    expect(err.join("\n")).toMatch(/no verdict from Envoy .* stays published; `llm-picker deploy --rollback --dir/);
    expect(current(dir).versionInfo).toBe(r.version);
    admin.decide = () => "live";
    const back = await deploy({ dir, rollback: true, ...sinks().o });
    // Envoy never applied the timed-out version, so the restored one is what it runs: it skips the file.
    expect(back).toMatchObject({ exitCode: EXIT.OK, status: "unchanged" });
    expect(readFileSync(join(dir, ECDS_FILE), "utf8")).toBe(firstText);
  });

  it("--rollback walks back through the history, then has nothing left (exit 2)", async () => {
    const { dir, input } = await deployed(() => "live");
    const v1 = current(dir).versionInfo;
    const v2 = (await deploy({ dir, wasm: DEBUG_WASM, ...sinks().o })).version;
    const v3 = (await deploy({ dir, wasm: DEBUG_WASM, config: writeJson(input, "c.json", { ...CONFIG, debugHeaders: true }), ...sinks().o })).version;
    expect(new Set([v1, v2, v3]).size).toBe(3);
    expect(current(dir).versionInfo).toBe(v3);
    const r1 = await deploy({ dir, rollback: true, ...sinks().o });
    expect(r1).toMatchObject({ status: "live", version: v2, previousVersion: v3 });
    expect(current(dir).versionInfo).toBe(v2);
    expect((await deploy({ dir, rollback: true, ...sinks().o })).version).toBe(v1);
    expect(current(dir).versionInfo).toBe(v1);
    const { err, o } = sinks();
    expect((await deploy({ dir, rollback: true, ...o })).exitCode).toBe(EXIT.INVALID);
    expect(err.join("\n")).toMatch(/nothing to roll back to/);
  });

  it("Envoy skipping the file as unchanged is reported as such (exit 0)", async () => {
    const { dir, admin } = await deployed();
    const v1Text = readFileSync(join(dir, ECDS_FILE), "utf8");
    await deploy({ dir, wasm: DEBUG_WASM, wait: false, ...sinks().o });
    const applied = current(dir).typedConfigKey;
    // Envoy runs the debug build, but DIR was edited in place (no move: Envoy never noticed) back to v1.
    writeFileSync(join(dir, ECDS_FILE), v1Text);
    admin.seen = v1Text;
    admin.applied = applied;
    const { out, o } = sinks();
    const again = await deploy({ dir, wasm: DEBUG_WASM, timeoutS: 5, ...o });
    expect(again).toMatchObject({ exitCode: EXIT.OK, status: "unchanged" });
    expect(again.verdict?.kind).toBe("skipped");
    expect(out.join("\n")).toMatch(/skipped it: its typed_config equals the running one/);
  });

  it("old modules are removed once no kept resource names them", async () => {
    const { dir, input } = await deployed(() => "live");
    for (let i = 0; i < 13; i++) {
      await deploy({
        dir,
        wasm: i % 2 ? DEBUG_WASM : RELEASE_WASM,
        config: writeJson(input, `w${i}.json`, { ...CONFIG, weights: { prefix: i } }),
        ...sinks().o,
      });
    }
    expect(historyEntries(dir)).toHaveLength(10);
    const modules = readdirSync(dir)
      .filter((f) => f.endsWith(".wasm"))
      .sort();
    expect(modules).toEqual([moduleFileName(new Uint8Array(readFileSync(DEBUG_WASM))), moduleFileName(new Uint8Array(readFileSync(RELEASE_WASM)))].sort());
  });
});

function basename(path: string): string {
  return path.split("/").pop()!;
}
