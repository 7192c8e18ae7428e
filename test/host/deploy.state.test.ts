/**
 * Host tier: state across swaps. Envoy keeps shared data for
 * a vm_id while any VM of it lives, and a swap builds the new VM before it
 * releases the old one (docs/reference/envoy-proxy-wasm.md#shared-data); the emulator models
 * that with one SharedDataStore shared by successive hosts.
 *
 * - A code swap (release build → debug build, same vm_id) keeps the prefix
 *   index: each conversation's next turn returns to its server.
 * - A build with another index layout version (a real build of assembly/ with
 *   LAYOUT_VERSION + 1) does not misread the old values: it starts afresh
 *   (no prefix credit, no trap), and the old build does not misread its
 *   values either when swapped back.
 * - A build with another RENDER_VERSION (same hashes here: only the constant
 *   differs) drops the old entries too: a real rendering change would make
 *   them unmatchable.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ProxyWasmHost, SharedDataStore } from "../../src/host/index.js";
import { sha256Hex } from "../../src/envoy/ecds.js";
import { A, B, C, poolConfig, send, uniquePrompt, type Sent } from "./fixtures/vllm.js";
import { chatBody, DEBUG_WASM, ensureBuilt, RELEASE_WASM, ROOT } from "../support";

const PREFIX_KEY = "llm-picker/prefix/";

/** A conversation with a long first turn, so earlier turns are most of each request. */
class Conversation {
  turns: string[];
  constructor(seed: number) {
    this.turns = [`${uniquePrompt(seed)} ${"Here is the document to discuss. ".repeat(60)}`];
  }
  body(): string {
    return chatBody(this.turns);
  }
  advance(i: number): void {
    this.turns.push(`answer ${i}: it depends.`, `follow-up question ${i}?`);
  }
}

const scoresOf = (s: Sent) => JSON.parse(s.headers.find(([k]) => k === "x-llm-picker-scores")![1]) as { scores: { prefix: Record<string, number> } };

function complete(s: Sent): void {
  s.stream.sendResponseHeaders([[":status", "200"]], true);
  s.stream.end("complete");
}

/** A host on `wasm` sharing `store` (the same vm_id), as Envoy's VM after a swap. */
function swapTo(wasm: string | Uint8Array, store: SharedDataStore, seed: number, workers = 2): Promise<ProxyWasmHost> {
  return ProxyWasmHost.create({
    wasm,
    sharedData: store,
    workers,
    pluginConfig: poolConfig([A, B, C], { metrics: { enabled: false }, debugHeaders: true, seed }),
  });
}

/** First turns of `n` conversations; returns where each went. */
function firstTurns(host: ProxyWasmHost, convs: Conversation[]): string[] {
  return convs.map((c, i) => {
    const s = send(host, c.body(), { worker: i % 2 });
    complete(s);
    return s.endpoint!;
  });
}

/** A version constant in the sources: `export const NAME: TYPE = N;` in `file` (under assembly/). */
function versionSource(file: string, name: string): { text: string; m: RegExpExecArray } {
  const text = readFileSync(join(ROOT, "assembly", file), "utf8");
  const m = new RegExp(`export const ${name}: (u32|i32) = (\\d+);`).exec(text);
  if (!m) throw new Error(`assembly/${file} no longer declares \`export const ${name}: u32|i32 = N;\`: update this test`);
  return { text, m };
}

/** The index layout version the current sources write. */
const LAYOUT_VERSION = Number(versionSource("prefix/bucket.ts", "LAYOUT_VERSION").m[2]);
/** The request rendering version of the current sources (stored with every index value). */
const RENDER_VERSION = Number(versionSource("hashing/render.ts", "RENDER_VERSION").m[2]);

/**
 * Builds assembly/ with one version constant + 1 (a copy of the sources in
 * a temp directory; the debug target, ~10 s). Cached by source hash.
 */
function buildBumped(file: string, name: string): string {
  const { text, m } = versionSource(file, name);
  // Keyed by the sources as they are on disk (committed or not).
  const files = (readdirSync(join(ROOT, "assembly"), { recursive: true }) as string[]).filter((f) => f.endsWith(".ts")).sort();
  const sources = files.map((f) => `${f}\n${readFileSync(join(ROOT, "assembly", f), "utf8")}`).join("\n") + readFileSync(join(ROOT, "asconfig.json"), "utf8");
  const out = join(tmpdir(), `llm-picker-${name}${Number(m[2]) + 1}-${sha256Hex(sources).slice(0, 12)}.wasm`);
  if (existsSync(out)) return out;
  const work = mkdtempSync(join(tmpdir(), "llm-picker-version-"));
  cpSync(join(ROOT, "assembly"), join(work, "assembly"), { recursive: true });
  writeFileSync(join(work, "assembly", file), text.replace(m[0], `export const ${name}: ${m[1]} = ${Number(m[2]) + 1};`));
  execFileSync(
    "npx",
    ["asc", join(work, "assembly/index.ts"), "--config", "asconfig.json", "--target", "debug", "-o", out, "-t", join(work, "out.wat"), "--sourceMap", "false"],
    {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  return out;
}

beforeAll(() => ensureBuilt("debug", "release"));

describe("state across swaps (same vm_id)", () => {
  it("a code swap (release → debug build) keeps the prefix index: conversations return to their servers", async () => {
    const store = new SharedDataStore();
    const release = await swapTo(RELEASE_WASM, store, 7);
    const convs = Array.from({ length: 6 }, (_, i) => new Conversation(100 + i));
    const home = firstTurns(release, convs);
    expect(new Set(home).size).toBeGreaterThan(1);
    release.close();

    const debug = await swapTo(DEBUG_WASM, store, 99);
    convs.forEach((c, i) => {
      c.advance(1);
      const s = send(debug, c.body(), { worker: (i + 1) % 2 });
      expect(s.endpoint).toBe(home[i]);
      const prefix = scoresOf(s).scores.prefix;
      expect(prefix[home[i]]).toBeGreaterThan(0.8);
      for (const other of [A, B, C].filter((e) => e !== home[i])) expect(prefix[other]).toBe(0);
      complete(s);
    });
    expect(debug.traps()).toEqual([]);
    debug.close();
  });

  it("the index keys carry the layout version (the guard the next test relies on)", async () => {
    const store = new SharedDataStore();
    const host = await swapTo(DEBUG_WASM, store, 7);
    firstTurns(host, [new Conversation(1)]);
    const keys = host.sharedData.keys().filter((k) => k.startsWith(PREFIX_KEY));
    expect(keys).toContain(`${PREFIX_KEY}meta`);
    const layout = new Set(
      keys
        .map((k) => host.sharedData.get(k)!.value)
        .filter((v) => v.length >= 4)
        .map((v) => v[3]),
    );
    expect(layout).toEqual(new Set([LAYOUT_VERSION]));
    host.close();
  });

  describe("a build with another index layout version starts afresh instead of misreading", () => {
    let otherLayout: string;
    beforeAll(() => {
      otherLayout = buildBumped("prefix/bucket.ts", "LAYOUT_VERSION");
    }, 180_000);

    it("old → new layout: no prefix credit, no trap; new → old: the same", async () => {
      const store = new SharedDataStore();
      const v1 = await swapTo(DEBUG_WASM, store, 7);
      const convs = Array.from({ length: 4 }, (_, i) => new Conversation(200 + i));
      firstTurns(v1, convs);
      v1.close();

      const v2 = await swapTo(otherLayout, store, 7);
      for (const [i, c] of convs.entries()) {
        c.advance(1);
        const s = send(v2, c.body(), { worker: i % 2 });
        expect(scoresOf(s).scores.prefix).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
        complete(s);
      }
      // It rebuilt the index in its own layout, and it does work for itself.
      const values = v2.sharedData
        .keys()
        .filter((k) => k.startsWith(PREFIX_KEY))
        .map((k) => v2.sharedData.get(k)!.value)
        .filter((v) => v.length >= 4);
      expect(new Set(values.map((v) => v[3]))).toEqual(new Set([LAYOUT_VERSION + 1]));
      const homes2 = convs.map((c, i) => {
        c.advance(2);
        const s = send(v2, c.body(), { worker: i % 2 });
        expect(Math.max(...Object.values(scoresOf(s).scores.prefix))).toBeGreaterThan(0.5);
        complete(s);
        return s.endpoint;
      });
      expect(homes2.every((e) => e !== undefined)).toBe(true);
      expect(v2.traps()).toEqual([]);
      v2.close();

      const back = await swapTo(DEBUG_WASM, store, 7);
      for (const [i, c] of convs.entries()) {
        c.advance(3);
        const s = send(back, c.body(), { worker: i % 2 });
        expect(scoresOf(s).scores.prefix).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
        complete(s);
      }
      expect(back.traps()).toEqual([]);
      back.close();
    });
  });

  describe("a build with another render version drops the entries hashed the old way", () => {
    let otherRender: string;
    beforeAll(() => {
      otherRender = buildBumped("hashing/render.ts", "RENDER_VERSION");
    }, 180_000);

    it("old → new rendering: no prefix credit for old entries (same hashes here, so only the version can cause it), then its own entries count", async () => {
      const store = new SharedDataStore();
      const v1 = await swapTo(DEBUG_WASM, store, 7);
      const convs = Array.from({ length: 4 }, (_, i) => new Conversation(300 + i));
      firstTurns(v1, convs);
      v1.close();

      const v2 = await swapTo(otherRender, store, 7);
      for (const [i, c] of convs.entries()) {
        c.advance(1);
        const s = send(v2, c.body(), { worker: i % 2 });
        expect(scoresOf(s).scores.prefix).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
        complete(s);
      }
      // Every value was rewritten with the new render version: the third magic
      // byte is 'V' + version in buckets, 'K' + version in the meta value.
      const third = v2.sharedData
        .keys()
        .filter((k) => k.startsWith(PREFIX_KEY) && v2.sharedData.get(k)!.value.length >= 4)
        .map((k) => v2.sharedData.get(k)!.value[2] - (k === `${PREFIX_KEY}meta` ? 0x4b : 0x56));
      expect(new Set(third)).toEqual(new Set([RENDER_VERSION + 1]));
      for (const [i, c] of convs.entries()) {
        c.advance(2);
        const s = send(v2, c.body(), { worker: i % 2 });
        expect(Math.max(...Object.values(scoresOf(s).scores.prefix))).toBeGreaterThan(0.5);
        complete(s);
      }
      expect(v2.traps()).toEqual([]);
      v2.close();
    });
  });
});
