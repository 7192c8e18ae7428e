/**
 * Host tier: the prefix index uses compare-and-swap with bounded retries and
 * loses no update; the tests interleave updates from at least 4 worker VMs.
 *
 * In Envoy each worker VM runs on its own thread, so another worker can write
 * a shared-data key between one VM's get and its set(cas). The host runs every
 * VM call synchronously, so that never happens by itself: these tests use the
 * host's test hook (`SharedDataStore.intercept`, src/host/shared.ts) to run,
 * right after a VM's proxy_get_shared_data returns, a whole request of another
 * conversation on ANOTHER worker VM (or a conflicting write), and then check
 * through the built filter (build/debug.wasm, 4 workers, scraping off) that
 *  - CAS conflicts really happen (CAS_MISMATCH results counted in the host),
 *  - no update is lost: every conversation's next turn scores exactly the
 *    prefix it should on the endpoint it was routed to, on every worker, and
 *    in-flight counts add up while streams are open and return to 0,
 *  - a decision whose in-flight write finds another worker's change since
 *    its read is made again (at most three decisions; the last writes onto
 *    whatever came first), re-reading the buckets it matched,
 *  - retries are bounded: a bucket (or the in-flight key) that conflicts on
 *    every attempt is given up after the bounded retries, the request is
 *    still routed, nothing traps, the next requests work,
 *  - the interleaving is real: the same schedule loses an update when the
 *    writer ignores CAS (a naive get + set(cas = 0) done by the test),
 *  - the index survives a VM replacement with the same vm_id and a reconfigure.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { ProxyWasmHost, WasmResult, type HttpStream } from "../../src/host/index.js";
import type { SharedDataGetEvent, SharedDataHooks, SharedDataSetEvent } from "../../src/host/shared.js";
import { A, B, C, INFLIGHT_KEY, inFlightOf, poolConfig, send, stat, totalInFlight } from "./fixtures/vllm.js";
import { chatBody, DEBUG_WASM, ensureBuilt } from "../support";

const WORKERS = 4;
const BUCKET_PREFIX = "llm-picker/prefix/b";

/** PrefixIndexConfig.casRetries and pool/shared_state.ts CAS_RETRIES: attempts before a write is given up. */
const INDEX_CAS_ATTEMPTS = 8;
const INFLIGHT_CAS_ATTEMPTS = 16;
/**
 * picker/route.ts DECISIONS_PER_REQUEST: a decision whose in-flight write
 * finds the value changed since its read is made again, up to this many;
 * the last writes its change onto whatever came first, with the retries.
 */
const DECISIONS_PER_REQUEST = 3;
/** Bucket capacity in entries (docs/hashing.md "Layout"). */
const BUCKET_ENTRIES = 128;
/**
 * A small index: 256 blocks × 4 endpoints / 128 entries = 8 buckets, so
 * conversations share buckets (conflicts on bucket keys, not only on the
 * in-flight key) while the workload stays below capacity (no eviction, so
 * every score is exactly predictable).
 */
const CONFIG_EXTRA = { metrics: { enabled: false }, inspect: true, prefix: { capacityPerEndpoint: 256, maxEndpoints: 4 } };
const POOL = [A, B, C];

let wasm: Uint8Array;
beforeAll(() => {
  ensureBuilt("debug");
  wasm = new Uint8Array(readFileSync(DEBUG_WASM)); // one copy: other builds may rewrite the file meanwhile
});

const newHost = (extra: Record<string, unknown> = {}) =>
  ProxyWasmHost.create({ wasm, workers: WORKERS, pluginConfig: poolConfig(POOL, { ...CONFIG_EXTRA, ...extra }) });

// ---------------------------------------------------------------------------- workload

/** A conversation: a distinct ~500-byte first user turn (8+ blocks of 64 B); later turns are checks. */
class Conversation {
  readonly first: string;
  /** Endpoint its first turn went to. */
  home = "";
  /** Block hashes of every request routed to `home`, in order (what the index must remember). */
  readonly routed: string[][] = [];
  /** Bucket key of its first group (learnt from a probe host). */
  bucket = "";
  constructor(readonly id: number) {
    const h = createHash("sha256").update(`conversation ${id}`).digest("hex");
    this.first = `${h} Conversation ${id}: ${"please summarise the attached report section by section. ".repeat(8)}`;
  }
  firstBody(): string {
    return chatBody([this.first]);
  }
  /** A next turn whose new text starts with `tag`, so checks with different tags diverge right after the first turn. */
  checkBody(tag: string): string {
    return chatBody([this.first, `${tag}: the report has three sections.`, `${tag}: and the second one?`]);
  }
}

interface Decision {
  endpoint: string;
  prefix: { hashes: string[] };
  scores: { prefix: Record<string, number> };
}

const decisionOf = (stream: HttpStream): Decision => JSON.parse(new TextDecoder().decode(stream.filterState("llm_picker.decision")));

/** Length of the common prefix of two hash chains. */
function commonPrefix(a: string[], b: string[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** What the index must score for `hashes` on the conversation's home: its longest held prefix. */
function expectedMatched(c: Conversation, hashes: string[]): number {
  return Math.max(0, ...c.routed.map((r) => commonPrefix(r, hashes)));
}

/** Learns each conversation's bucket key by routing its first turn in a throwaway host and watching its gets. */
async function learnBuckets(convs: Conversation[]): Promise<void> {
  const probe = await newHost();
  let current: Conversation | null = null;
  probe.shared.intercept({
    afterGet: (e) => {
      if (current && !current.bucket && e.key.startsWith(BUCKET_PREFIX)) current.bucket = e.key;
    },
  });
  for (const c of convs) {
    current = c;
    send(probe, c.firstBody()).stream.end("client_reset");
  }
  probe.close();
  for (const c of convs) expect(c.bucket).toMatch(/^llm-picker\/prefix\/b\d+$/);
}

/** CAS_MISMATCH and OK results of VM sets, per key class, at every depth. */
class SetCounter {
  readonly mismatches = { bucket: 0, inflight: 0, other: 0 };
  readonly ok = { bucket: 0, inflight: 0, other: 0 };
  /** Mismatches per exact key. */
  readonly mismatchByKey = new Map<string, number>();
  readonly okByKey = new Map<string, number>();
  observe = (e: SharedDataSetEvent): void => {
    const cls = e.key.startsWith(BUCKET_PREFIX) ? "bucket" : e.key === INFLIGHT_KEY ? "inflight" : "other";
    if (e.result === WasmResult.CasMismatch) {
      this.mismatches[cls]++;
      this.mismatchByKey.set(e.key, (this.mismatchByKey.get(e.key) ?? 0) + 1);
    } else if (e.result === WasmResult.Ok) {
      this.ok[cls]++;
      this.okByKey.set(e.key, (this.okByKey.get(e.key) ?? 0) + 1);
    }
  };
}

/** Another worker than `w`, rotating so every worker takes part. */
let rotation = 0;
const otherWorker = (w: unknown): number => {
  const from = typeof w === "number" ? w : 0;
  return (from + 1 + (rotation++ % (WORKERS - 1))) % WORKERS;
};

/**
 * The interleaving driver. Routes every conversation's first turn, top-level
 * request i on worker i % 4. Whenever a top-level VM reads a bucket key or the
 * in-flight key, the hook runs (up to `budget` times per top-level request, so
 * a write is never starved past its bounded retries) a whole first-turn request
 * of a still-pending conversation on another worker — for a bucket key, one
 * whose first group lives in that same bucket — modelling another worker
 * thread that routes between this VM's get and its set. Streams stay open
 * (response 200 sent) so in-flight counts can be checked.
 */
class Interleaver {
  readonly open: Array<{ stream: HttpStream; c: Conversation | null }> = [];
  readonly counter = new SetCounter();
  /**
   * Whole requests (or stream ends) run inside a hook, by the key whose get
   * they interrupted; `bucketRedecided`: those run at a bucket read of a
   * decision that was then made again (its in-flight write found their
   * change), so that read's bucket was read afresh and not written.
   */
  readonly injected = { bucket: 0, bucketRedecided: 0, inflight: 0 };
  /** Top-level decisions made again because a request ran inside them (llm_picker.route.redecided). */
  redecisions = 0;
  /** Decisions the top-level request being routed has begun: each begins with its read of the in-flight key. */
  private decisions = 0;
  /** A request ran inside the top-level request's current decision. */
  private interrupted = false;
  private pending: Conversation[] = [];
  private phase: "idle" | "route" | "end" = "idle";
  private left = 0;
  private readonly remove: () => void;

  constructor(
    readonly host: ProxyWasmHost,
    private readonly budget = 6,
  ) {
    const hooks: SharedDataHooks = { afterGet: (e) => this.onGet(e), afterSet: this.counter.observe };
    this.remove = host.shared.intercept(hooks);
  }

  private onGet(e: SharedDataGetEvent): void {
    if (this.left <= 0) return;
    const isBucket = e.key.startsWith(BUCKET_PREFIX);
    if (!isBucket && e.key !== INFLIGHT_KEY) return;
    if (this.phase === "route") {
      // The last decision's write retries re-read the in-flight key: no new decision.
      if (!isBucket && this.decisions < DECISIONS_PER_REQUEST) {
        if (this.interrupted) this.redecisions++;
        this.decisions++;
        this.interrupted = false;
      }
      // Routing phase: another worker routes a pending conversation now.
      const i = isBucket ? this.pending.findIndex((c) => c.bucket === e.key) : this.pending.length > 0 ? 0 : -1;
      if (i < 0) return;
      const [c] = this.pending.splice(i, 1);
      this.left--;
      this.interrupted = true;
      this.injected[isBucket ? (this.decisions < DECISIONS_PER_REQUEST ? "bucketRedecided" : "bucket") : "inflight"]++;
      this.route(c, otherWorker(e.vm));
      return;
    }
    if (this.phase !== "end" || e.key !== INFLIGHT_KEY) return;
    // Ending phase: another worker ends one of its open streams now (in-flight −1).
    const j = this.open.findIndex((o) => o.stream.worker !== e.vm);
    if (j < 0) return;
    const [o] = this.open.splice(j, 1);
    this.left--;
    this.injected.inflight++;
    o.stream.end("complete");
  }

  private route(c: Conversation, worker: number): void {
    const s = send(this.host, c.firstBody(), { worker });
    expect(s.endpoint, `conversation ${c.id} routed`).toBeDefined();
    const d = decisionOf(s.stream);
    expect(d.endpoint).toBe(s.endpoint);
    c.home = s.endpoint!;
    c.routed.push(d.prefix.hashes);
    s.stream.sendResponseHeaders([[":status", "200"]], true);
    this.open.push({ stream: s.stream, c });
  }

  /**
   * Routes every conversation's first turn (streams left open). The in-flight
   * key must exist already (see `warmUp` and the known-race test below).
   */
  routeAll(convs: Conversation[]): void {
    expect(this.host.sharedData.get(INFLIGHT_KEY), "in-flight key created before the interleaved run").toBeDefined();
    this.pending = [...convs];
    this.phase = "route";
    let i = 0;
    while (this.pending.length > 0) {
      const c = this.pending.shift()!;
      this.left = this.budget;
      this.decisions = 0;
      this.interrupted = false;
      this.route(c, i++ % WORKERS);
    }
    this.left = 0;
    this.phase = "idle";
  }

  /** Ends every open stream; each end's in-flight read is interleaved with another worker's stream end. */
  endAll(): void {
    this.phase = "end";
    while (this.open.length > 0) {
      const o = this.open.shift()!;
      this.left = this.budget;
      o.stream.end("complete");
    }
    this.left = 0;
    this.phase = "idle";
  }

  stop(): void {
    this.remove();
  }
}

/**
 * For every conversation and every worker: a next turn (tag distinct per
 * worker and `phase`) scores exactly its longest prefix held by the home
 * endpoint (from every request routed there before), 0 elsewhere, and goes home.
 */
function checkScores(host: ProxyWasmHost, convs: Conversation[], phase: string): { checks: number; matchedBlocks: number } {
  let checks = 0;
  let matchedBlocks = 0;
  for (const c of convs) {
    for (let w = 0; w < WORKERS; w++) {
      const s = send(host, c.checkBody(`${phase} worker ${w}`), { worker: w });
      const d = decisionOf(s.stream);
      const hashes = d.prefix.hashes;
      const matched = expectedMatched(c, hashes);
      expect(matched, `conversation ${c.id}: its first turn's full blocks are a prefix`).toBeGreaterThanOrEqual(7);
      const score = d.scores.prefix[c.home];
      expect(Math.round(score * hashes.length), `conversation ${c.id} on worker ${w} (${phase}): matched blocks on ${c.home}`).toBe(matched);
      expect(score).toBeCloseTo(matched / hashes.length, 6);
      for (const e of POOL.filter((x) => x !== c.home)) expect(d.scores.prefix[e]).toBe(0);
      expect(s.endpoint).toBe(c.home);
      c.routed.push(hashes);
      s.stream.sendResponseHeaders([[":status", "200"]], true);
      s.stream.end("complete");
      checks++;
      matchedBlocks += matched;
    }
  }
  return { checks, matchedBlocks };
}

/** Entry count of every bucket (u16 at offset 4, docs/hashing.md "Layout"). */
function bucketCounts(host: ProxyWasmHost): number[] {
  return host.sharedData
    .keys()
    .filter((k) => k.startsWith(BUCKET_PREFIX))
    .map((k) => {
      const v = host.sharedData.get(k)!.value;
      return v.length >= 8 ? new DataView(v.buffer, v.byteOffset).getUint16(4, true) : 0;
    });
}

/**
 * One plain request, so the in-flight key exists before the interleaved run:
 * the filter creates it on first use, and a first write to a missing key is
 * unconditional in proxy-wasm (see the known-race test).
 */
function warmUp(host: ProxyWasmHost): void {
  const s = send(host, chatBody(["warm-up request"]), { worker: 0 });
  s.stream.sendResponseHeaders([[":status", "200"]], true);
  s.stream.end("complete");
  expect(totalInFlight(host)).toBe(0);
}

const inFlightByEndpoint = (host: ProxyWasmHost) => Object.fromEntries(POOL.map((e) => [e, inFlightOf(host, e)]));

// ---------------------------------------------------------------------------- tests

describe("CAS under interleaved updates from 4 worker VMs (built filter)", () => {
  it("conflicts happen and no update is lost: every conversation scores its exact prefix on every worker; in-flight adds up and returns to 0", async () => {
    const convs = Array.from({ length: 24 }, (_, i) => new Conversation(i));
    await learnBuckets(convs);
    // The workload really shares buckets (otherwise only the in-flight key could conflict).
    const perBucket = new Map<string, number>();
    for (const c of convs) perBucket.set(c.bucket, (perBucket.get(c.bucket) ?? 0) + 1);
    expect(Math.max(...perBucket.values())).toBeGreaterThanOrEqual(3);

    const host = await newHost();
    warmUp(host);
    const run = new Interleaver(host);
    run.routeAll(convs);

    // Conflicts really happened, on bucket keys and on the in-flight key.
    expect(run.injected.bucket).toBeGreaterThan(0);
    expect(run.injected.bucketRedecided).toBeGreaterThan(0);
    // Each request run at a bucket read of a last decision wrote that bucket, so the reader's set(cas) failed exactly once for it;
    // one run at an earlier decision's made it decide again, reading the bucket afresh.
    expect(run.counter.mismatches.bucket).toBe(run.injected.bucket);
    expect(run.redecisions).toBeGreaterThan(0);
    expect(stat(host, "llm_picker.route.redecided")).toBe(run.redecisions);
    expect(run.counter.mismatches.inflight).toBeGreaterThan(0);
    // No lost in-flight increment: 24 open streams, counted where they went.
    const expectedOpen: Record<string, number> = Object.fromEntries(POOL.map((e) => [e, 0]));
    for (const c of convs) expectedOpen[c.home]++;
    expect(inFlightByEndpoint(host)).toEqual(expectedOpen);
    expect(totalInFlight(host)).toBe(convs.length);
    // Every worker routed some conversations (top level and nested).
    expect(new Set(run.open.map((o) => o.stream.worker))).toEqual(new Set([0, 1, 2, 3]));
    const routing = { ...run.counter.mismatches, injected: { ...run.injected } };

    // Ending: each end's in-flight read is interleaved with another worker's end.
    const before = run.counter.mismatches.inflight;
    run.endAll();
    expect(run.counter.mismatches.inflight).toBeGreaterThan(before);
    expect(inFlightByEndpoint(host)).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    run.stop();

    // No lost index update: exact scores on every worker, and below capacity (no eviction could explain a miss).
    const { checks, matchedBlocks } = checkScores(host, convs, "turn 2");
    expect(checks).toBe(convs.length * WORKERS);
    expect(Math.max(...bucketCounts(host))).toBeLessThan(BUCKET_ENTRIES);
    expect(totalInFlight(host)).toBe(0);
    expect(host.traps()).toEqual([]);
    expect(host.logs("critical")).toEqual([]);
    console.info(
      `[index.concurrency] 24 conversations, 4 workers: ${run.injected.bucket + run.injected.inflight} requests/ends run between another VM's get and set ` +
        `(${routing.injected.bucket} at a last decision's bucket read, ${routing.injected.bucketRedecided} at an earlier one's, ${routing.injected.inflight} at an in-flight read while routing, ${run.redecisions} decisions made again; ${run.injected.inflight - routing.injected.inflight} ends); ` +
        `CAS_MISMATCH while routing: ${routing.bucket} bucket, ${routing.inflight} in-flight; after ending: ${run.counter.mismatches.inflight} in-flight total; ` +
        `${checks} checks, ${matchedBlocks} matched blocks all exact; bucket fill max ${Math.max(...bucketCounts(host))}/${BUCKET_ENTRIES}`,
    );
    host.close();
  });

  it("bounded retries: a bucket that conflicts on every attempt is given up after 8; the request is still routed, nothing traps, the next requests work", async () => {
    const host = await newHost();
    const conv = new Conversation(100);
    const counter = new SetCounter();
    let target = "";
    let conflictingWrites = 0;
    host.shared.intercept({
      afterGet: (e) => {
        if (!e.key.startsWith(BUCKET_PREFIX)) return;
        target ||= e.key;
        if (e.key !== target) return;
        // "Another worker" rewrites the bucket after every read: each set(cas) of this VM fails.
        expect(host.sharedData.set(e.key, e.value!, 0)).toBe(WasmResult.Ok);
        conflictingWrites++;
      },
      afterSet: counter.observe,
    });
    const s = send(host, conv.firstBody(), { worker: 2 });
    expect(s.endpoint).toBeDefined(); // fail open: routed anyway
    expect(decisionOf(s.stream).endpoint).toBe(s.endpoint);
    expect(counter.mismatchByKey.get(target)).toBe(INDEX_CAS_ATTEMPTS);
    expect(counter.okByKey.get(target)).toBeUndefined();
    expect(conflictingWrites).toBe(INDEX_CAS_ATTEMPTS); // the probe read + 7 re-reads
    expect(host.vmFailed(2)).toBe(false);
    // The give-up is visible to operators as a stat.
    expect(host.metric("llm_picker.prefix.writes_abandoned")?.value).toBe(1n);
    s.stream.sendResponseHeaders([[":status", "200"]], true);
    s.stream.end("complete");
    host.shared.intercept({}); // the other worker stops

    // The abandoned write left no credit (fail open: the index misses those blocks, nothing else)...
    const t2 = send(host, conv.checkBody("after give-up"), { worker: 2 });
    expect(decisionOf(t2.stream).scores.prefix).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    const home = t2.endpoint!;
    t2.stream.sendResponseHeaders([[":status", "200"]], true);
    t2.stream.end("complete");
    // ...and the VM records again: the same turn now scores 1 on every worker.
    for (let w = 0; w < WORKERS; w++) {
      const t3 = send(host, conv.checkBody("after give-up"), { worker: w });
      expect(decisionOf(t3.stream).scores.prefix[home]).toBe(1);
      expect(t3.endpoint).toBe(home);
      t3.stream.end("complete");
    }
    expect(totalInFlight(host)).toBe(0);
    expect(host.metric("llm_picker.prefix.writes_abandoned")?.value).toBe(1n); // nothing else was given up
    expect(host.traps()).toEqual([]);
    expect(host.logs("critical")).toEqual([]);
    host.close();
  });

  it("bounded retries on the in-flight key: given up after 16 attempts, routed anyway, the count stays consistent afterwards", async () => {
    const host = await newHost();
    const counter = new SetCounter();
    let conflictingWrites = 0;
    // One request in flight before the conflicts start.
    const first = send(host, new Conversation(200).firstBody(), { worker: 1 });
    expect(totalInFlight(host)).toBe(1);
    host.shared.intercept({
      afterGet: (e) => {
        if (e.key !== INFLIGHT_KEY || !e.value) return;
        host.sharedData.set(e.key, e.value, 0);
        conflictingWrites++;
      },
      afterSet: counter.observe,
    });
    const stuck = send(host, new Conversation(201).firstBody(), { worker: 3 });
    expect(stuck.endpoint).toBeDefined();
    // Every decision but the last gave up at its one write; the last at its bounded retries.
    expect(stat(host, "llm_picker.route.redecided")).toBe(DECISIONS_PER_REQUEST - 1);
    expect(counter.mismatches.inflight).toBe(DECISIONS_PER_REQUEST - 1 + INFLIGHT_CAS_ATTEMPTS);
    expect(conflictingWrites).toBeGreaterThanOrEqual(INFLIGHT_CAS_ATTEMPTS);
    expect(totalInFlight(host)).toBe(1); // the increment was given up (fail open)
    host.shared.intercept({});
    stuck.stream.end("complete");
    first.stream.end("complete");
    expect(totalInFlight(host)).toBe(0); // clamped at 0, never negative
    const next = send(host, new Conversation(202).firstBody(), { worker: 3 });
    expect(totalInFlight(host)).toBe(1);
    next.stream.end("complete");
    expect(totalInFlight(host)).toBe(0);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("control: the same interleaving loses an update for a naive get + set(cas = 0), and is caught as CAS_MISMATCH with the CAS", async () => {
    const convs = Array.from({ length: 24 }, (_, i) => new Conversation(300 + i));
    await learnBuckets(convs);
    // Two conversations whose first group lives in the same bucket.
    const byBucket = new Map<string, Conversation[]>();
    for (const c of convs) byBucket.set(c.bucket, [...(byBucket.get(c.bucket) ?? []), c]);
    const [p, x, y] = [...byBucket.values()].find((cs) => cs.length >= 3)!;
    const key = p.bucket;

    for (const mode of ["naive", "cas"] as const) {
      const host = await newHost();
      const routeOn = (c: Conversation, worker: number) => {
        const s = send(host, c.firstBody(), { worker });
        c.home = s.endpoint!;
        c.routed.length = 0;
        c.routed.push(decisionOf(s.stream).prefix.hashes);
        s.stream.sendResponseHeaders([[":status", "200"]], true);
        s.stream.end("complete");
      };
      routeOn(p, 0);
      // The test is the writer here: read the bucket, let worker 1 route X (same bucket) in between, write back.
      const read = host.sharedData.get(key)!;
      routeOn(x, 1);
      const result = host.sharedData.set(key, read.value, mode === "naive" ? 0 : read.cas);
      const s = send(host, x.checkBody("control"), { worker: 2 });
      const score = decisionOf(s.stream).scores.prefix[x.home];
      s.stream.end("complete");
      if (mode === "naive") {
        expect(result).toBe(WasmResult.Ok);
        expect(score).toBe(0); // X's first turn is lost: the interleaving is real
      } else {
        expect(result).toBe(WasmResult.CasMismatch);
        expect(score).toBeGreaterThan(0.5); // kept
      }
      host.close();
    }

    // The filter under the same interleaving (worker 0 reads the bucket, worker 1 routes Y into it, worker 0 writes): both kept.
    const host = await newHost();
    const counter = new SetCounter();
    let injected = false;
    const routeOn = (c: Conversation, worker: number) => {
      const s = send(host, c.firstBody(), { worker });
      c.home = s.endpoint!;
      c.routed.length = 0;
      c.routed.push(decisionOf(s.stream).prefix.hashes);
      s.stream.sendResponseHeaders([[":status", "200"]], true);
      s.stream.end("complete");
    };
    // Worker 0's decisions but the last are interrupted by a write of the in-flight key (no change but its CAS):
    // the last one, which writes whatever came first, reads the bucket with Y routed in between.
    let decisions = 0;
    host.shared.intercept({
      afterGet: (e) => {
        if (e.vm !== 0 || injected) return;
        if (e.key === INFLIGHT_KEY && ++decisions < DECISIONS_PER_REQUEST && e.value) host.sharedData.set(e.key, e.value, 0);
        if (e.key !== key || decisions < DECISIONS_PER_REQUEST) return;
        injected = true;
        routeOn(y, 1);
      },
      afterSet: counter.observe,
    });
    routeOn(p, 0);
    host.shared.intercept({});
    expect(injected).toBe(true);
    expect(stat(host, "llm_picker.route.redecided")).toBe(DECISIONS_PER_REQUEST - 1);
    expect(counter.mismatchByKey.get(key)).toBe(1);
    checkScores(host, [p, y], "control");
    host.close();
  });

  // Regression (found by this suite): the in-flight key used to be created by
  // the first addInFlight with set(cas = 0), and proxy-wasm writes a missing
  // key whatever the CAS (docs/reference/envoy-proxy-wasm.md#shared-data), so two workers routing
  // their first requests at once lost an increment. The filter now creates the
  // pool keys (empty) at configure time (ensurePoolKeys), so every update is a
  // CAS on an existing key.
  it("two workers' first writes to the in-flight key keep both increments (the key exists from configure time)", async () => {
    const host = await newHost();
    expect(host.sharedData.get(INFLIGHT_KEY)?.value.length).toBe(0);
    let injected: HttpStream | null = null;
    host.shared.intercept({
      afterGet: (e) => {
        if (e.key !== INFLIGHT_KEY || e.vm !== 0 || injected) return;
        injected = send(host, chatBody(["the other worker's first request"]), { worker: 1 }).stream;
      },
    });
    const mine = send(host, chatBody(["worker 0's first request"]), { worker: 0 });
    host.shared.intercept({});
    expect(injected).not.toBeNull();
    expect(totalInFlight(host)).toBe(2);
    mine.stream.end("complete");
    host.close();
  });

  it("the index survives a VM replacement with the same vm_id and a reconfigure: conversations keep their scores", async () => {
    const convs = Array.from({ length: 8 }, (_, i) => new Conversation(400 + i));
    await learnBuckets(convs);
    const host = await newHost();
    warmUp(host);
    const run = new Interleaver(host);
    run.routeAll(convs);
    run.endAll();
    run.stop();
    expect(run.counter.mismatches.inflight).toBeGreaterThan(0);
    checkScores(host, convs, "before");

    // Code update with the same vm_id: new VMs on every worker, shared data kept.
    const oldVms = [...host.vms()];
    await host.replaceModule(wasm);
    expect(host.vms().every((vm, i) => vm !== oldVms[i])).toBe(true);
    checkScores(host, convs, "after replacement");

    // Config-only update (same index geometry): new root contexts, same index.
    expect(host.reconfigure(poolConfig(POOL, { ...CONFIG_EXTRA, seed: 11, debugHeaders: true }))).toBe(true);
    checkScores(host, convs, "after reconfigure");

    // A second host (e.g. Envoy restarted the VMs) over the same store and vm_id.
    const again = await ProxyWasmHost.create({ wasm, workers: WORKERS, sharedData: host.shared, pluginConfig: poolConfig(POOL, CONFIG_EXTRA) });
    checkScores(again, convs, "new host");
    expect([...host.traps(), ...again.traps()]).toEqual([]);
    again.close();
    host.close();
  });
});
