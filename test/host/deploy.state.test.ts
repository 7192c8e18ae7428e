/**
 * Issue 6 point 3, host tier: state across swaps. Envoy keeps shared data for
 * a vm_id while any VM of it lives, and a swap builds the new VM before it
 * releases the old one (envoy-proxy-wasm.md §1.3, §3.3); the emulator models
 * that with one SharedDataStore shared by successive hosts.
 *
 * - A code swap (release build → debug build, same vm_id) keeps the prefix
 *   index: each conversation's next turn returns to its server.
 * - A build with another index layout version (a real build of assembly/ with
 *   LAYOUT_VERSION + 1) does not misread the old values: it starts afresh
 *   (no prefix credit, no trap), and the old build does not misread its
 *   values either when swapped back.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ProxyWasmHost, SharedDataStore } from "../../src/host/index.js";
import { sha256Hex } from "../../src/envoy/ecds.js";
import { A, B, C, chatBody, ensureBuilt, poolConfig, ROOT, send, uniquePrompt, WASM as DEBUG_WASM, type Sent } from "./fixtures/vllm.js";

const RELEASE_WASM = join(ROOT, "build", "llm_picker.wasm");
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

/**
 * Builds assembly/ with the prefix index LAYOUT_VERSION + 1 (a copy of the
 * sources in a temp directory; the debug target, ~10 s). Cached by source hash.
 */
function layoutVersionSource(): { bucket: string; m: RegExpExecArray } {
  const bucket = readFileSync(join(ROOT, "assembly/index/bucket.ts"), "utf8");
  const m = /export const LAYOUT_VERSION: u32 = (\d+);/.exec(bucket);
  if (!m) throw new Error("assembly/index/bucket.ts no longer declares `export const LAYOUT_VERSION: u32 = N;`: update this test");
  return { bucket, m };
}

/** The index layout version the current sources write. */
const LAYOUT_VERSION = Number(layoutVersionSource().m[1]);

function buildOtherLayout(): string {
  const { bucket, m } = layoutVersionSource();
  // Keyed by the sources as they are on disk (committed or not).
  const files = (readdirSync(join(ROOT, "assembly"), { recursive: true }) as string[]).filter((f) => f.endsWith(".ts")).sort();
  const sources = files.map((f) => `${f}\n${readFileSync(join(ROOT, "assembly", f), "utf8")}`).join("\n") + readFileSync(join(ROOT, "asconfig.json"), "utf8");
  const out = join(tmpdir(), `llm-picker-layout${Number(m[1]) + 1}-${sha256Hex(sources).slice(0, 12)}.wasm`);
  if (existsSync(out)) return out;
  const work = mkdtempSync(join(tmpdir(), "llm-picker-layout-"));
  cpSync(join(ROOT, "assembly"), join(work, "assembly"), { recursive: true });
  writeFileSync(join(work, "assembly/index/bucket.ts"), bucket.replace(m[0], `export const LAYOUT_VERSION: u32 = ${Number(m[1]) + 1};`));
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

beforeAll(ensureBuilt);

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
      otherLayout = buildOtherLayout();
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
});
