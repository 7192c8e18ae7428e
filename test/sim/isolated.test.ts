/**
 * Simulated servers are bounded and independent:
 * - a prompt that cannot fit the context is refused with vLLM's 400 before it
 *   is fully tokenized (an 8 MB run of one letter used to take the tokenizer
 *   minutes and the Node heap with it);
 * - each server of `npm start` / `npm run sim` runs in its own worker thread,
 *   so one server busy tokenizing does not stall another's /metrics (in one
 *   thread it does: the contrast below shows what the test would catch).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startIsolatedSimPool, type IsolatedSimPool } from "../../src/sim/isolated.js";
import { startSimPool, type SimPool } from "../../src/sim/server.js";
import { PortInUseError } from "../../src/sim/server.js";

const FAST = { timeScale: 0.01, overheadMs: 50, prefillMsPerToken: 1, decodeMsPerToken: 10 };

function chat(content: string, extra: Record<string, unknown> = {}): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "meta-llama/Llama-3.1-8B-Instruct", messages: [{ role: "user", content }], max_tokens: 4, ...extra }),
  };
}

/**
 * The longest time (ms) without a /metrics answer from `url` while `busy`
 * runs (answers are requested back to back, 20 ms apart), and how long
 * `busy` took. Gaps between answers, not single latencies: with in-process
 * servers the test's own loop shares the blocked thread, so a request that
 * cannot be sent is as stalled as one that is not answered.
 */
async function metricsLatencyDuring(url: string, busy: () => Promise<unknown>): Promise<{ worst: number; busyMs: number }> {
  let done = false;
  const t0 = performance.now();
  let busyMs = 0;
  void busy().finally(() => {
    busyMs = performance.now() - t0;
    done = true;
  });
  let worst = 0;
  let last = performance.now();
  while (!done) {
    const res = await fetch(`${url}/metrics`);
    await res.text();
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
    await new Promise((r) => setTimeout(r, 20));
  }
  return { worst, busyMs };
}

// Hundreds of milliseconds to seconds of tokenizer work on one thread, depending on the machine.
const HEAVY = "a".repeat(1_000_000);

describe("simulated servers in worker threads", () => {
  let pool: IsolatedSimPool;
  beforeAll(async () => {
    pool = await startIsolatedSimPool(2, { ...FAST, maxModelLen: 131072 });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it("serve requests and report stats from their threads", async () => {
    const res = await fetch(`${pool.urls[0]}/v1/chat/completions`, chat("hello"));
    expect(res.status).toBe(200);
    expect((await res.json()).object).toBe("chat.completion");
    const [a, b] = await pool.stats();
    expect(a.requests).toBe(1);
    expect(b.requests).toBe(0);
    await pool.reset();
    expect((await pool.stats())[0].requests).toBe(0);
  });

  it("one server tokenizing a long prompt does not stall the other's /metrics", async () => {
    // Heavy requests back to back for at least 600 ms, however fast the machine tokenizes one.
    const busy = async () => {
      const start = performance.now();
      do await fetch(`${pool.urls[0]}/v1/chat/completions`, chat(HEAVY)).then((r) => r.text());
      while (performance.now() - start < 600);
    };
    const { worst, busyMs } = await metricsLatencyDuring(pool.urls[1], busy);
    console.log(`[isolated] longest gap ${Math.round(worst)} ms, heavy request ${Math.round(busyMs)} ms`);
    // The other server kept answering while this one was busy (a shared thread: the whole time, below).
    expect(busyMs).toBeGreaterThan(300);
    expect(worst).toBeLessThan(busyMs / 3);
  }, 120_000);

  it("a port in use is reported as in-process", async () => {
    await expect(startIsolatedSimPool(1, FAST, pool.servers[0].port)).rejects.toBeInstanceOf(PortInUseError);
  });
});

describe("contrast: servers sharing one thread stall each other", () => {
  let pool: SimPool;
  beforeAll(async () => {
    pool = await startSimPool(2, { ...FAST, maxModelLen: 131072 });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it("the other server's /metrics waits for the tokenizer", async () => {
    const { worst, busyMs } = await metricsLatencyDuring(pool.urls[1], () =>
      fetch(`${pool.urls[0]}/v1/chat/completions`, chat(`${HEAVY}b`)).then((r) => r.text()),
    );
    console.log(`[contrast] longest gap ${Math.round(worst)} ms, heavy request ${Math.round(busyMs)} ms`);
    // The other server answers only when the tokenizer is done: most of the heavy request's time.
    expect(worst).toBeGreaterThan(busyMs / 2);
  }, 120_000);
});

describe("prompts past the context are refused before full tokenization", () => {
  let pool: SimPool;
  beforeAll(async () => {
    pool = await startSimPool(1, { ...FAST, maxModelLen: 2048 });
  });
  afterAll(async () => {
    await pool?.close();
  });

  const cases: Array<[string, string, string]> = [
    // 8.39 MB: past 2048 × 128 characters, refused on its length alone.
    ["an 8.39 MB run of one letter (chat)", "chat", "a".repeat(8_390_000)],
    // 200 KB: within the length bound, refused after ~16 K characters of tokens.
    ["a 200 KB run of one letter (chat)", "chat", "a".repeat(200_000)],
    ["a 200 KB run of one letter (completions)", "completions", "x".repeat(200_000)],
  ];
  for (const [name, api, content] of cases) {
    it(`${name}: 400 naming the context, within a second`, async () => {
      const t0 = performance.now();
      const init =
        api === "chat"
          ? chat(content)
          : {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ model: "meta-llama/Llama-3.1-8B-Instruct", prompt: content, max_tokens: 4 }),
            };
      const res = await fetch(`${pool.urls[0]}/v1/${api === "chat" ? "chat/completions" : "completions"}`, init);
      const body = await res.json();
      expect(res.status).toBe(400);
      expect(body.error.message).toBe("This model's maximum context length is 2048 tokens. However, your prompt has more than 2048 tokens.");
      expect(performance.now() - t0).toBeLessThan(1000);
    });
  }

  it("a prompt that fits is served as before", async () => {
    const res = await fetch(`${pool.urls[0]}/v1/chat/completions`, chat("short and fine"));
    expect(res.status).toBe(200);
  });
});
