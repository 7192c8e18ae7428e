/**
 * The default profile in a real Envoy (release filter, envoy/envoy.yaml, two
 * workers with exactly balanced connections): on a hot prefix, load
 * overrides affinity. Three fake model servers report identical, idle
 * metrics and hold every request until the test answers it, so what this
 * Envoy has in flight and queued is all the load there is.
 *
 * One request with a 6 KB shared system prompt is answered, so one server
 * holds the prompt. Then requests with the same prompt and new questions
 * are held there before their first token: each adds queued prefill and a
 * request in flight where it goes, until the bound or the queued work sends
 * a request to a server without the prompt; each of those is counted in
 * llm_picker.route.load_overrode_affinity (the load bound alone: its yield
 * is off there). Once everything is answered, a new request follows the
 * prompt again. With the yield on, requests that got their first token and
 * keep decoding on the prompt's server do not push the next ones off it. Then the servers report a full
 * batch once (2 running, 1 waiting): the filter learns that a batch holds 2,
 * and a third held request on another prompt leaves its server. With servers
 * that report their cache size, a new shared prompt's first requests start
 * it on idle servers while its first prefill runs; a prompt stops matching
 * once its server's cache was written over, and a chat's next turn is judged
 * by what was written after its last turn ended. Past prefix.maxBlocks, a
 * chat's next turn follows the server its previous turn ended at, though
 * another holds every hashed block too; and so does a /v1/responses
 * conversation's, whose answer is a run of output items.
 */
import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { balancedEnvoyYaml, FILTER_WASM, postBodyOwnConnection, scrapedAgain, SKIP_FILTER, useEnvoy, waitFor, type HeldRequest } from "./harness.js";
import { startHoldingUpstreams, type FakeUpstream, type HeldArrival } from "./upstreams.js";
import { SHARED_PROMPT, vllmPage } from "../host/fixtures/vllm.js";
import type { EnvoyProcess } from "../../src/envoy/process.js";

const hotBody = (question: string) =>
  JSON.stringify({
    model: "m",
    stream: true,
    max_tokens: 8,
    messages: [
      { role: "system", content: SHARED_PROMPT },
      { role: "user", content: question },
    ],
  });

/**
 * Three fake model servers that serve `page` as their /metrics and hold
 * every request until the test answers it, and a two-worker Envoy with the
 * release filter in front of them (call inside a describe).
 */
function useHoldingPool(
  page: string,
  extraConfig: Record<string, unknown> = {},
): { upstreams: () => FakeUpstream[]; arrivals: HeldArrival[]; envoy: () => EnvoyProcess } {
  let upstreams: FakeUpstream[] = [];
  const arrivals: HeldArrival[] = [];
  beforeAll(async () => {
    upstreams = await startHoldingUpstreams(3, page, arrivals);
  });
  afterAll(async () => {
    for (const a of arrivals) if (!a.res.writableEnded) a.res.destroy();
    await Promise.all(upstreams.map((u) => u.close()));
  });
  const envoy = useEnvoy(() => ({
    config: balancedEnvoyYaml(),
    concurrency: 2,
    substitutions: {
      wasmPath: FILTER_WASM,
      endpoints: upstreams.map((u) => u.address),
      pluginConfig: {
        endpoints: upstreams.map((u) => ({ address: u.address })),
        metrics: { cluster: "model_servers_metrics", intervalMs: 100 },
        ...extraConfig,
      },
    },
  }));
  return { upstreams: () => upstreams, arrivals, envoy };
}

describe.skipIf(SKIP_FILTER)("default profile in Envoy: load overrides affinity on a hot prefix", () => {
  // The load bound alone: its yield off (with it these short questions all stay on the
  // prompt's server, their wait there being far below half a cold server's; next describe).
  const { upstreams, arrivals, envoy } = useHoldingPool(vllmPage({ waiting: 0, running: 0, kv: 0 }), { bound: { loadYieldRatio: 0 } });

  /** Sends one request and waits until a server holds it; returns that server and its response. */
  async function hold(body: string): Promise<{ upstream: FakeUpstream; res: ServerResponse; client: HeldRequest }> {
    const client = postBodyOwnConnection(envoy().listenerUrl, body);
    expect(await waitFor(() => arrivals.length > 0, 5000)).toBe(true);
    const { upstream, res } = arrivals.shift()!;
    return { upstream, res, client };
  }
  /** The first token: headers and one SSE event (the filter's signal that the prefill is done). */
  const firstToken = (res: ServerResponse, upstream: FakeUpstream) => {
    res.writeHead(200, { "content-type": "text/event-stream", "x-upstream": upstream.address });
    res.write('data: {"choices":[{"delta":{"content":"x"}}]}\n\n');
  };
  const finish = (res: ServerResponse) => res.end("data: [DONE]\n\n");
  const overrides = async () => (await envoy().stats("llm_picker\\.route\\.load_overrode_affinity"))["wasmcustom.llm_picker.route.load_overrode_affinity"] ?? 0;

  test("held requests on the hot prompt spread once load outweighs the prefix; every spill is counted; answered, the prompt attracts again", async () => {
    expect(await scrapedAgain(upstreams(), 2)).toBe(true);
    const warm = await hold(hotBody("first question"));
    firstToken(warm.res, warm.upstream);
    finish(warm.res);
    expect((await warm.client.done).status).toBe(200);
    const holders = new Set([warm.upstream]);

    const held: Array<{ upstream: FakeUpstream; res: ServerResponse; client: HeldRequest }> = [];
    let spills = 0;
    for (let i = 0; i < 9; i++) {
      const h = await hold(hotBody(`question ${i}: ${"why ".repeat(i)}`));
      if (!holders.has(h.upstream)) spills++;
      holders.add(h.upstream);
      held.push(h);
    }
    // The first one follows the prompt; then load sends requests to a second
    // server, not to the third: there the prompt's own blocks (counted twice)
    // outweigh the two holders' queued prefill (short questions), and with
    // equal occupancy both holders stay within the bound.
    expect(held[0].upstream).toBe(warm.upstream);
    expect(holders.size).toBe(2);
    expect(spills).toBe(1);
    expect(await overrides()).toBe(spills);
    // An endpoint takes one only at occupancy ≤ ⌈1.5 × (total + 1) / 3⌉ ≤ ⌈1.5 × 9 / 3⌉ = 5: none ends with more than 6.
    for (const u of upstreams()) expect(held.filter((h) => h.upstream === u).length).toBeLessThanOrEqual(6);

    for (const h of held) {
      firstToken(h.res, h.upstream);
      finish(h.res);
    }
    expect((await Promise.all(held.map((h) => h.client.done))).every((r) => r.status === 200)).toBe(true);
    expect(await waitFor(async () => (await envoy().stats("^http\\.llm_picker\\.downstream_rq_active$"))["http.llm_picker.downstream_rq_active"] === 0)).toBe(
      true,
    );
    // Nothing queued or in flight any more: the prompt, held on two servers now, attracts
    // the next request without an override.
    const next = await hold(hotBody("a last question"));
    firstToken(next.res, next.upstream);
    finish(next.res);
    expect((await next.client.done).status).toBe(200);
    expect(await overrides()).toBe(spills);
  });

  test("a batch the servers showed full at 2 (2 running, 1 waiting) takes no third held request on its prompt; every spill is counted", async () => {
    // The servers report 2 running while 1 waits: each batch holds 2. Then
    // they go idle, so only this Envoy's requests load them.
    for (const u of upstreams()) u.metrics = vllmPage({ waiting: 1, running: 2, kv: 0 });
    expect(await scrapedAgain(upstreams(), 2)).toBe(true);
    for (const u of upstreams()) u.metrics = vllmPage({ waiting: 0, running: 0, kv: 0 });
    expect(await scrapedAgain(upstreams(), 2)).toBe(true);
    const before = await overrides();
    const other = (q: string) => hotBody(q).replace("one product", "another product");
    const warm = await hold(other("first question"));
    firstToken(warm.res, warm.upstream);
    finish(warm.res);
    expect((await warm.client.done).status).toBe(200);
    const held: Array<{ upstream: FakeUpstream; res: ServerResponse; client: HeldRequest }> = [];
    for (let i = 0; i < 3; i++) held.push(await hold(other(`held ${i}`)));
    // Two fit the batch; at 2 in flight it is full and above the pool's mean ⌈3 / 3⌉ = 1.
    // (The load bound alone would keep the third: 2 ≤ ⌈1.5 × 3 / 3⌉ = 2.)
    expect(held.map((h) => h.upstream === warm.upstream)).toEqual([true, true, false]);
    expect(await overrides()).toBe(before + 1);
    for (const h of held) {
      firstToken(h.res, h.upstream);
      finish(h.res);
    }
    expect((await Promise.all(held.map((h) => h.client.done))).every((r) => r.status === 200)).toBe(true);
  });

  test("the filter logged no trap and no critical line", () => {
    expect(envoy().logs()).not.toMatch(/\[critical\]|Wasm VM failed|Uncaught|\[error\]\[wasm\]/);
  });
});

describe.skipIf(SKIP_FILTER)("default profile in Envoy: the load bound yields to requests decoding on the prompt's server", () => {
  const { upstreams, arrivals, envoy } = useHoldingPool(vllmPage({ waiting: 0, running: 0, kv: 0 }));

  test("each request gets its first token and keeps decoding: the next ones still follow the prompt, no override", async () => {
    expect(await scrapedAgain(upstreams(), 2)).toBe(true);
    const hold = async (body: string) => {
      const client = postBodyOwnConnection(envoy().listenerUrl, body);
      expect(await waitFor(() => arrivals.length > 0, 5000)).toBe(true);
      return { ...arrivals.shift()!, client };
    };
    const firstToken = (res: ServerResponse) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write('data: {"choices":[{"delta":{"content":"x"}}]}\n\n');
    };
    const warm = await hold(hotBody("first question"));
    firstToken(warm.res);
    warm.res.end("data: [DONE]\n\n");
    expect((await warm.client.done).status).toBe(200);
    // Six requests decoding there: from the fifth on it is over ⌈1.5 × (T + 1) / 3⌉ (4 at T = 5),
    // but nothing is queued and each one's cost there (twice its question's few blocks) is far
    // below half of a cold server's (twice the ~100-block prompt): the bound yields.
    const held = [];
    for (let i = 0; i < 6; i++) {
      const h = await hold(hotBody(`question ${i}`));
      firstToken(h.res);
      held.push(h);
    }
    expect(held.map((h) => h.upstream === warm.upstream)).toEqual([true, true, true, true, true, true]);
    const counted = (await envoy().stats("llm_picker\\.route\\.load_overrode_affinity"))["wasmcustom.llm_picker.route.load_overrode_affinity"] ?? 0;
    expect(counted).toBe(0);
    for (const h of held) h.res.end("data: [DONE]\n\n");
    expect((await Promise.all(held.map((h) => h.client.done))).every((r) => r.status === 200)).toBe(true);
    expect(envoy().logs()).not.toMatch(/\[critical\]|Wasm VM failed|Uncaught|\[error\]\[wasm\]/);
  });
});

describe.skipIf(SKIP_FILTER)(
  'default profile in Envoy: a new shared prompt starts on idle servers while its first prefill runs (docs/routing.md "Prefill still running")',
  () => {
    // 2048 KV blocks of 16 tokens: a horizon of 2048 index blocks, so a prompt of up to 256 blocks (the ~94-block SHARED_PROMPT) may be started twice.
    const { upstreams, arrivals, envoy } = useHoldingPool(vllmPage({ waiting: 0, running: 0, kv: 0, blockSize: 16, numGpuBlocks: 2048 }));
    const overrides = async () =>
      (await envoy().stats("llm_picker\\.route\\.load_overrode_affinity"))["wasmcustom.llm_picker.route.load_overrode_affinity"] ?? 0;
    async function hold(body: string): Promise<{ upstream: FakeUpstream; res: ServerResponse; client: HeldRequest }> {
      const client = postBodyOwnConnection(envoy().listenerUrl, body);
      expect(await waitFor(() => arrivals.length > 0, 5000)).toBe(true);
      const { upstream, res } = arrivals.shift()!;
      return { upstream, res, client };
    }
    const answer = (h: { upstream: FakeUpstream; res: ServerResponse }) => {
      h.res.writeHead(200, { "content-type": "text/event-stream", "x-upstream": h.upstream.address });
      h.res.end('data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n');
    };

    test("three requests held before their first token go to three servers; the fourth, with none idle, queues behind one; answered, the prompt is followed", async () => {
      expect(await scrapedAgain(upstreams(), 2)).toBe(true);
      const cold = [];
      for (let i = 0; i < 3; i++) cold.push(await hold(hotBody(`cold question ${i}`)));
      // Each found the copies already sent still being prefilled (no first
      // token yet) and an idle server: a cold start on every server, as round
      // robin would have it, and each counted as load overriding affinity.
      expect(new Set(cold.map((h) => h.upstream)).size).toBe(3);
      expect(await overrides()).toBe(2);
      const fourth = await hold(hotBody("a fourth question"));
      expect(cold.map((h) => h.upstream)).toContain(fourth.upstream);
      expect(await overrides()).toBe(2);
      for (const h of [...cold, fourth]) answer(h);
      expect((await Promise.all([...cold, fourth].map((h) => h.client.done))).every((r) => r.status === 200)).toBe(true);
      expect(await waitFor(async () => (await envoy().stats("^http\\.llm_picker\\.downstream_rq_active$"))["http.llm_picker.downstream_rq_active"] === 0)).toBe(
        true,
      );
      // Every server holds the prompt now: the next request follows it without an override.
      const next = await hold(hotBody("a last question"));
      answer(next);
      expect((await next.client.done).status).toBe(200);
      expect(await overrides()).toBe(2);
    });

    test("the filter logged no trap and no critical line", () => {
      expect(envoy().logs()).not.toMatch(/\[critical\]|Wasm VM failed|Uncaught|\[error\]\[wasm\]/);
    });
  },
);

describe.skipIf(SKIP_FILTER)(
  'default profile in Envoy: a prompt stops matching once its server has had its cache written over (docs/hashing.md "Evictions")',
  () => {
    // 40 KV blocks of 16 tokens: a horizon of 40 × 16 × 4 / 64 = 40 index blocks.
    const { upstreams, arrivals, envoy } = useHoldingPool(vllmPage({ waiting: 0, running: 0, kv: 0, blockSize: 16, numGpuBlocks: 40 }));
    const chat = (content: string) => JSON.stringify({ model: "m", stream: true, max_tokens: 8, messages: [{ role: "user", content }] });
    /** Ten hashed blocks (test/host/picking.evictions.test.ts). */
    const PROMPT = chat("Explain how a bicycle gearbox is serviced, in order. ".repeat(11));
    const prefixStat = async (name: string) => (await envoy().stats(`llm_picker\\.prefix\\.${name}`))[`wasmcustom.llm_picker.prefix.${name}`] ?? 0;

    /** Sends `body`, answers it where it arrives, and returns that server. */
    async function answer(body: string): Promise<FakeUpstream> {
      const client = postBodyOwnConnection(envoy().listenerUrl, body);
      expect(await waitFor(() => arrivals.length > 0, 5000)).toBe(true);
      const { upstream, res } = arrivals.shift()!;
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end('data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n');
      expect((await client.done).status).toBe(200);
      return upstream;
    }
    /** A batched counter once it has stopped moving (the totals reach Envoy on a worker's next tick). */
    async function settled(name: string): Promise<number> {
      let last = await prefixStat(name);
      for (let i = 0; i < 50; i++) {
        await new Promise((r) => setTimeout(r, 250));
        const now = await prefixStat(name);
        if (now === last) return now;
        last = now;
      }
      return last;
    }
    /** Sends PROMPT and waits until its blocks are counted; returns where it went and what matched. */
    async function sendPrompt(): Promise<{ upstream: FakeUpstream; matched: number }> {
      const [total, matched] = [await settled("total_blocks"), await settled("matched_blocks")];
      const upstream = await answer(PROMPT);
      expect(await waitFor(async () => (await prefixStat("total_blocks")) === total + 10, 10_000)).toBe(true);
      return { upstream, matched: (await settled("matched_blocks")) - matched };
    }

    test("sent again, the prompt matches its server; after more than 40 blocks of other prompts there, it matches nothing", async () => {
      expect(await scrapedAgain(upstreams(), 2)).toBe(true);
      const home = (await sendPrompt()).upstream;
      expect(await sendPrompt()).toEqual({ upstream: home, matched: 10 });
      // Unrelated prompts, answered one at a time: whatever lands on the prompt's server is written into its cache.
      let written = 0;
      for (let i = 0; i < 200 && written <= 40; i++) {
        const body = chat(`unrelated question ${i}: ${"what else? ".repeat(i % 5)}`);
        if ((await answer(body)) === home) written += Math.ceil(Buffer.byteLength(body) / 64);
      }
      expect(written).toBeGreaterThan(40);
      expect(await settled("evicted_lookups")).toBe(0);
      expect((await sendPrompt()).matched).toBe(0);
      // That lookup left the prompt's entries at its server out (llm_picker.prefix.evicted_lookups).
      expect(await settled("evicted_lookups")).toBe(1);
    });

    // docs/hashing.md "A conversation's last turn". The first turn runs while more than 20 blocks are
    // written at its server and ends; 21 to 24 more are written after. Its entries, stamped when it
    // was routed, are over 40 blocks old; since it ended, at most 24 of the 40 free were written
    // (0.6 of them: surely held).
    test("a chat's next turn is held where its last turn ended with little written since, though the index has aged its history out", async () => {
      const idle = vllmPage({ waiting: 0, running: 0, kv: 0, blockSize: 16, numGpuBlocks: 40 });
      const busy = vllmPage({ waiting: 4, running: 8, kv: 0, blockSize: 16, numGpuBlocks: 40 });
      const question = "Explain how a derailleur is adjusted, step by step. ".repeat(11);
      const first = JSON.stringify({ model: "m", stream: true, max_tokens: 8, messages: [{ role: "user", content: question }] });
      const next = JSON.stringify({
        model: "m",
        stream: true,
        max_tokens: 8,
        messages: [
          { role: "user", content: question },
          { role: "assistant", content: "x" },
          { role: "user", content: "And the brakes?" },
        ],
      });
      /** What a unique prompt makes its server write: its body's blocks (none of it is held anywhere). */
      const blocksOf = (body: string) => Math.ceil(Buffer.byteLength(body) / 64);
      expect(await scrapedAgain(upstreams(), 2)).toBe(true);
      const client = postBodyOwnConnection(envoy().listenerUrl, first);
      expect(await waitFor(() => arrivals.length > 0, 5000)).toBe(true);
      const held = arrivals.shift()!;
      const home = held.upstream;
      // The other servers look busy, so other prompts go where the first turn runs.
      for (const u of upstreams()) if (u !== home) u.metrics = busy;
      expect(await scrapedAgain(upstreams(), 2)).toBe(true);
      /** Answers other prompts until more than 20 blocks were written at `home`; returns how many. */
      const writeAtHome = async (label: string) => {
        let written = 0;
        for (let i = 0; i < 200 && written <= 20; i++) {
          const body = chat(`${label} ${i}: ${"tell me more. ".repeat(3)}`);
          if ((await answer(body)) === home) written += blocksOf(body);
        }
        return written;
      };
      const during = await writeAtHome("while it runs");
      expect(during).toBeGreaterThan(20);
      held.res.writeHead(200, { "content-type": "text/event-stream" });
      held.res.end('data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n');
      expect((await client.done).status).toBe(200);
      for (const u of upstreams()) u.metrics = idle;
      expect(await scrapedAgain(upstreams(), 2)).toBe(true);
      const after = await writeAtHome("after it ended");
      expect(after).toBeGreaterThan(20);
      expect(after).toBeLessThanOrEqual(24);
      expect(during + after).toBeGreaterThan(40);
      const matched = await settled("matched_blocks");
      const total = await settled("total_blocks");
      expect(await answer(next)).toBe(home);
      expect(await waitFor(async () => (await prefixStat("total_blocks")) > total, 10_000)).toBe(true);
      // The first turn's 9 whole blocks; its one-character reply ends inside the block the next question starts in.
      expect((await settled("matched_blocks")) - matched).toBe(9);
    });

    test("the horizon follows what the servers report writing: 16 M prompt tokens this Envoy did not send bring it to one block", async () => {
      const horizonOf = async (u: FakeUpstream) =>
        (await envoy().stats("llm_picker\\.endpoint\\.eviction_horizon_blocks\\."))[
          `wasmcustom.llm_picker.endpoint.eviction_horizon_blocks.${u.address.replace(/[.:]/g, "_")}`
        ];
      expect(await scrapedAgain(upstreams(), 2)).toBe(true);
      for (const u of upstreams()) expect(await horizonOf(u)).toBe(40);
      // Other clients' traffic (the page has no prefix-cache counters: every prompt token counts as written): this Envoy's share is now next to nothing.
      for (const u of upstreams()) u.metrics = vllmPage({ waiting: 0, running: 0, kv: 0, blockSize: 16, numGpuBlocks: 40, promptTokens: 16_000_000 });
      expect(await waitFor(async () => (await Promise.all(upstreams().map(horizonOf))).every((h) => h === 1), 5000)).toBe(true);
      const home = (await sendPrompt()).upstream;
      expect(await sendPrompt()).toEqual({ upstream: home, matched: 10 });
      // One more prompt written at that server is past a one-block horizon.
      let landed = false;
      for (let i = 0; i < 100 && !landed; i++) landed = (await answer(chat(`another question ${i}`))) === home;
      expect(landed).toBe(true);
      expect((await sendPrompt()).matched).toBe(0);
    });
  },
);

describe.skipIf(SKIP_FILTER)(
  'default profile in Envoy: prefill a server did that nobody routed there counts as queued there (docs/routing.md "Prefill the server did not expect")',
  () => {
    /** Tokens the fake servers' counters count per 64-byte block of a request's body. */
    const TOKENS_PER_BLOCK = 16;
    const START = { queries: 1_000_000, hits: 500_000 };
    const pageOf = (c: { queries: number; hits: number }) =>
      vllmPage({ waiting: 0, running: 0, kv: 0, blockSize: 16, numGpuBlocks: 4096, prefixQueries: c.queries, prefixHits: c.hits });
    const { upstreams, arrivals, envoy } = useHoldingPool(pageOf(START), { profile: "default", debugHeaders: true });
    const counters = new Map<string, { queries: number; hits: number }>();
    const chat = (content: string) => JSON.stringify({ model: "m", stream: true, max_tokens: 8, messages: [{ role: "user", content }] });
    const blocksOf = (body: string) => Math.ceil(Buffer.byteLength(body) / 64);
    /** Ten hashed blocks (test/host/picking.evictions.test.ts). */
    const PROMPT = chat("Explain how a bicycle gearbox is serviced, in order. ".repeat(11));
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    /** `u`'s counters as its server admits a request: `missed` tokens looked up and not found, `found` found; its page then shows them. */
    function admit(u: FakeUpstream, missed: number, found: number): void {
      const c = counters.get(u.address)!;
      c.queries += missed + found;
      c.hits += found;
      u.metrics = pageOf(c);
    }
    function firstToken(a: HeldArrival): void {
      a.res.writeHead(200, { "content-type": "text/event-stream" });
      a.res.end('data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n');
    }
    /** The next request to arrive. */
    async function arrival(): Promise<HeldArrival> {
      expect(await waitFor(() => arrivals.length > 0, 5000)).toBe(true);
      return arrivals.shift()!;
    }
    /** The wait ahead per endpoint in the decision that sent `a` (x-llm-picker-scores). */
    const waitAheadOf = (a: HeldArrival): Record<string, number> => JSON.parse(String(a.request.headers["x-llm-picker-scores"])).waitAhead;
    const unexpectedOf = async (u: FakeUpstream) =>
      (await envoy().stats("llm_picker\\.endpoint\\.unexpected_prefill_blocks\\."))[
        `wasmcustom.llm_picker.endpoint.unexpected_prefill_blocks.${u.address.replace(/[.:]/g, "_")}`
      ] ?? 0;

    test("1,000 blocks the prompt's server prefilled unasked send the prompt elsewhere until its pace has done them", async () => {
      for (const u of upstreams()) counters.set(u.address, { ...START });
      expect(await scrapedAgain(upstreams(), 2)).toBe(true);
      // A long prompt per server (~1,125 blocks: 18,000 tokens close a learning window of the
      // prompt blocks per token), first tokens 2 s later: a pace of about half a block per ms.
      const longs = [0, 1, 2].map((i) =>
        postBodyOwnConnection(envoy().listenerUrl, chat(`Ledger ${i}. ${"The ledger lists every entry of the quarter. ".repeat(1600)}`)),
      );
      const held = [await arrival(), await arrival(), await arrival()];
      expect(new Set(held.map((a) => a.upstream)).size).toBe(3);
      for (const a of held) admit(a.upstream, TOKENS_PER_BLOCK * blocksOf(a.request.body), 0);
      await sleep(2000);
      for (const a of held) firstToken(a);
      for (const c of longs) expect((await c.done).status).toBe(200);
      expect(await scrapedAgain(upstreams(), 2)).toBe(true);
      // The prompt, then again: held there in full the second time.
      const routePrompt = async (cached: boolean): Promise<FakeUpstream> => {
        const client = postBodyOwnConnection(envoy().listenerUrl, PROMPT);
        const a = await arrival();
        const tokens = TOKENS_PER_BLOCK * blocksOf(PROMPT);
        admit(a.upstream, cached ? 0 : tokens, cached ? tokens : 0);
        await sleep(20);
        firstToken(a);
        expect((await client.done).status).toBe(200);
        return a.upstream;
      };
      const home = await routePrompt(false);
      expect(await routePrompt(true)).toBe(home);
      expect(await scrapedAgain(upstreams(), 2)).toBe(true);
      // Counters that match what was routed: nothing unexpected (a block at most: the filter
      // counts the rendered prompt, these counters the body).
      for (const u of upstreams()) expect(await unexpectedOf(u)).toBeLessThanOrEqual(2);
      const before = await unexpectedOf(home);
      // The prompt's server prefills 16,000 tokens nobody sent it (a false hit of another router's, say).
      admit(home, 16_000, 0);
      expect(await waitFor(async () => (await unexpectedOf(home)) > before, 5000)).toBe(true);
      // 16,000 tokens at the learned ~16 a block (the long prompts' rendered blocks over their body's).
      expect((await unexpectedOf(home)) - before).toBeGreaterThanOrEqual(950);
      expect((await unexpectedOf(home)) - before).toBeLessThanOrEqual(1050);
      // Most of it is still to prefill at about half a block per ms: the prompt goes elsewhere.
      const away = postBodyOwnConnection(envoy().listenerUrl, PROMPT);
      const a = await arrival();
      expect(a.upstream).not.toBe(home);
      expect(waitAheadOf(a)[home.address]).toBeGreaterThan(500);
      firstToken(a);
      expect((await away.done).status).toBe(200);
      // 4 s later the pace has done it all: nothing is left queued there.
      await sleep(4000);
      const later = postBodyOwnConnection(envoy().listenerUrl, chat("A question of its own."));
      const b = await arrival();
      expect(waitAheadOf(b)[home.address]).toBe(0);
      firstToken(b);
      expect((await later.done).status).toBe(200);
    });
  },
);

/** A conversation's turns in one API: 24 tools (~2.2 KB) first, then the task, the model's answer and a next step. */
interface PastHashedApi {
  name: string;
  path: string;
  firstTurn: (i: number) => string;
  nextTurn: (i: number) => string;
  /** The first streamed event of an answer (the first token). */
  firstEvent: string;
}
const task = (i: number) => ({ role: "user", content: `Task ${i}: reconcile the ledger of branch ${i} against its bank statements.` });
const chatApi: PastHashedApi = (() => {
  const tools = Array.from({ length: 24 }, (_, i) => ({ type: "function", function: { name: `lookup_${i}`, description: `Looks up record kind ${i}.` } }));
  const reply = { role: "assistant", content: "I looked the records up; two entries differ by the same amount. ".repeat(6) };
  const body = (messages: object[]) => JSON.stringify({ model: "m", stream: true, max_tokens: 8, messages, tools });
  return {
    name: "a chat's",
    path: "/v1/chat/completions",
    firstTurn: (i) => body([task(i)]),
    nextTurn: (i) => body([task(i), reply, { role: "user", content: "Now explain the difference." }]),
    firstEvent: 'data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n',
  };
})();
const responsesApi: PastHashedApi = (() => {
  const tools = Array.from({ length: 24 }, (_, i) => ({ type: "function", name: `lookup_${i}`, description: `Looks up record kind ${i}.` }));
  // The answer is a run of output items: reasoning, then a function call; the client adds the call's output.
  const answer = [
    { type: "reasoning", summary: [{ type: "summary_text", text: "The statements and the ledger must be compared entry by entry. ".repeat(3) }] },
    { type: "function_call", call_id: "call_1", name: "lookup_3", arguments: '{"branch":1}' },
  ];
  const output = { type: "function_call_output", call_id: "call_1", output: "Two entries differ by the same amount: 412.50 on the 3rd and on the 17th." };
  const body = (input: object[]) => JSON.stringify({ model: "m", stream: true, max_output_tokens: 8, input, tools });
  return {
    name: "a /v1/responses conversation's",
    path: "/v1/responses",
    firstTurn: (i) => body([task(i)]),
    nextTurn: (i) => body([task(i), ...answer, output]),
    firstEvent: 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"x"}\n\n',
  };
})();

describe.skipIf(SKIP_FILTER).each([chatApi, responsesApi])(
  'default profile in Envoy: past the hashed blocks, $name next turn follows its previous turn (docs/routing.md "Past the hashed blocks")',
  (api) => {
    const idle = vllmPage({ waiting: 0, running: 0, kv: 0, blockSize: 16, numGpuBlocks: 2048 });
    // Eight hashed blocks (512 bytes), all inside a ~2.2 KB tools array that every conversation sends first.
    const { upstreams, arrivals, envoy } = useHoldingPool(idle, { prefix: { maxBlocks: 8 } });
    const { firstTurn, nextTurn } = api;
    async function hold(b: string): Promise<{ upstream: FakeUpstream; res: ServerResponse; client: HeldRequest }> {
      const client = postBodyOwnConnection(envoy().listenerUrl, b, {}, api.path);
      expect(await waitFor(() => arrivals.length > 0, 5000)).toBe(true);
      const { upstream, res } = arrivals.shift()!;
      return { upstream, res, client };
    }
    async function answer(h: { res: ServerResponse; client: HeldRequest }): Promise<void> {
      h.res.writeHead(200, { "content-type": "text/event-stream" });
      h.res.end(api.firstEvent);
      expect((await h.client.done).status).toBe(200);
    }
    const routedTo = async (b: string) => {
      const h = await hold(b);
      await answer(h);
      return h.upstream;
    };

    test("two servers hold every hashed block; the one running a request gets the next turn whose previous turn ended there, not a first turn", async () => {
      expect(await scrapedAgain(upstreams(), 2)).toBe(true);
      // Conversation 1's first turn, then conversation 2's while the first one's prefill
      // runs: it starts on an idle server ("Prefill still running"). Both answered.
      const one = await hold(firstTurn(1));
      const two = await hold(firstTurn(2));
      const [x, y] = [one.upstream, two.upstream];
      expect(y).not.toBe(x);
      await answer(one);
      await answer(two);
      // X reports a request running: on the hashed blocks alone, Y is the better of the two.
      x.metrics = vllmPage({ waiting: 0, running: 1, kv: 0, blockSize: 16, numGpuBlocks: 2048 });
      expect(await scrapedAgain(upstreams(), 2)).toBe(true);
      expect(await routedTo(firstTurn(3))).toBe(y);
      expect(await routedTo(nextTurn(5))).toBe(y);
      // Conversation 1's next turn: X holds it past the tools, Y only the tools.
      expect(await routedTo(nextTurn(1))).toBe(x);
      expect(await routedTo(nextTurn(2))).toBe(y);
    });

    test("the filter logged no trap and no critical line", () => {
      expect(envoy().logs()).not.toMatch(/\[critical\]|Wasm VM failed|Uncaught|\[error\]\[wasm\]/);
    });
  },
);
