/**
 * Responses that continue a stored one (docs/routing.md "Responses that
 * continue a stored one"): a server keeps the /v1/responses answers it
 * stored in its own memory and answers 404 to a `previous_response_id` it
 * does not hold, so the filter reads each answer's id and sends a request
 * naming it (a continuation, or a GET, cancel or delete of it) to the server
 * that gave it, while that server is healthy, whatever the load elsewhere.
 * Through the built filter (emulated Envoy), default profile, three idle
 * servers: without the rule, requests with new text spread over all three.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { HttpStream, ProxyWasmHost } from "../../src/host/index.js";
import { ensureBuilt } from "../support";
import { A, B, C, IDLE_PAGE, newPool, scrapeRound, send, stat, type Sent } from "./fixtures/vllm.js";

beforeAll(() => ensureBuilt("debug"));

const INTERVAL = 50;
const PATH = "/v1/responses";
const IDLE = { [A]: IDLE_PAGE, [B]: IDLE_PAGE, [C]: IDLE_PAGE };

async function idlePool(o: { workers?: number; extra?: Record<string, unknown> } = {}): Promise<ProxyWasmHost> {
  const host = await newPool({
    workers: o.workers ?? 1,
    extra: { profile: "default", metrics: { intervalMs: INTERVAL, idleIntervalMs: INTERVAL }, ...o.extra },
  });
  scrapeRound(host, INTERVAL, IDLE);
  return host;
}

/** A /v1/responses body with its own text (no prefix shared with any other). */
function responsesBody(i: number, previous?: string, stream = false): string {
  return JSON.stringify({
    model: "m",
    instructions: `Request ${i}: answer in one line.`,
    input: `Question number ${i}, about ${"gears ".repeat(i % 7)}and chains.`,
    ...(previous !== undefined ? { previous_response_id: previous } : {}),
    ...(stream ? { stream: true } : {}),
  });
}

/** A whole (non-streamed) answer whose id is `id`, then the stream's end. */
function answerWhole(s: HttpStream, id: string, status = 200, extraHeaders: Array<[string, string]> = []): void {
  s.sendResponseHeaders([[":status", String(status)], ["content-type", "application/json"], ...extraHeaders], false);
  s.sendResponseBody(JSON.stringify({ id, object: "response", status: "completed", output: [{ id: "msg_1", type: "message", role: "assistant" }] }), true);
  s.end("complete");
}

const count = (host: ProxyWasmHost, name: string) => stat(host, `llm_picker.responses.${name}`) ?? 0;

function tallyOf(sent: Sent[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const s of sent) t[s.endpoint ?? "none"] = (t[s.endpoint ?? "none"] ?? 0) + 1;
  return t;
}

describe("a /v1/responses request continuing a stored response goes where it is stored", () => {
  it("nine held continuations all go to the answering server; the same requests naming an unseen id spread over the pool", async () => {
    const host = await idlePool();
    const first = send(host, responsesBody(0), { path: PATH });
    const home = first.endpoint!;
    answerWhole(first.stream, "resp_home");
    const followed = Array.from({ length: 9 }, (_, i) => send(host, responsesBody(i + 1, "resp_home"), { path: PATH }));
    expect(tallyOf(followed)).toEqual({ [home]: 9 });
    expect(count(host, "followed")).toBe(9);
    // Held there (in flight, queued): requests naming an id this Envoy never saw answered balance on load.
    const unseen = Array.from({ length: 9 }, (_, i) => send(host, responsesBody(i + 20, "resp_elsewhere"), { path: PATH }));
    const spread = tallyOf(unseen);
    expect(spread[home]).toBeUndefined();
    expect(Object.keys(spread).sort()).toEqual([A, B, C].filter((e) => e !== home).sort());
    expect(count(host, "unknown")).toBe(9);
    for (const s of [...followed, ...unseen]) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a streamed answer's id, split across chunks inside the id, is read; a continuation sent on another worker follows it", async () => {
    const host = await idlePool({ workers: 2 });
    const first = send(host, responsesBody(1, undefined, true), { path: PATH, worker: 0 });
    const home = first.endpoint!;
    const created = `event: response.created\ndata: ${JSON.stringify({ type: "response.created", sequence_number: 0, response: { id: "resp_streamed_42", object: "response", status: "in_progress", output: [] } })}\n\n`;
    const cut = created.indexOf("streamed_") + 4;
    first.stream.sendResponseHeaders(
      [
        [":status", "200"],
        ["content-type", "text/event-stream"],
      ],
      false,
    );
    first.stream.sendResponseBody(created.slice(0, cut), false);
    first.stream.sendResponseBody(created.slice(cut), false);
    first.stream.sendResponseBody('event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"x"}\n\n', true);
    first.stream.end("complete");
    // Another request loads the home server first, so load alone would go elsewhere.
    const busy = send(host, responsesBody(2), { path: PATH, worker: 1 });
    const onHome = busy.endpoint === home ? [] : [send(host, responsesBody(3), { path: PATH, worker: 1 })];
    const next = send(host, responsesBody(4, "resp_streamed_42", true), { path: PATH, worker: 1 });
    expect(next.endpoint).toBe(home);
    expect(count(host, "followed")).toBe(1);
    for (const s of [busy, ...onHome, next]) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("an answer retried on another member is recorded where it was served (the upstream header), not where it was first sent", async () => {
    const host = await idlePool();
    const first = send(host, responsesBody(5), { path: PATH });
    const other = [A, B, C].find((e) => e !== first.endpoint)!;
    answerWhole(first.stream, "resp_retried", 200, [["x-llm-picker-upstream", other]]);
    const next = send(host, responsesBody(6, "resp_retried"), { path: PATH });
    expect(next.endpoint).toBe(other);
    next.stream.end("complete");
    host.close();
  });

  it("an error answer records nothing, even with an id in its body: a request naming that id is routed as any other", async () => {
    const host = await idlePool();
    const first = send(host, responsesBody(7), { path: PATH });
    answerWhole(first.stream, "resp_failed", 400);
    const next = send(host, responsesBody(8, "resp_failed"), { path: PATH });
    expect(count(host, "followed")).toBe(0);
    expect(count(host, "unknown")).toBe(1);
    next.stream.end("complete");
    host.close();
  });

  it("once its server is unhealthy, a continuation is routed as any other (counted unknown); once healthy again, it follows", async () => {
    const host = await idlePool();
    const first = send(host, responsesBody(9), { path: PATH });
    const home = first.endpoint!;
    answerWhole(first.stream, "resp_sick");
    scrapeRound(host, INTERVAL, { ...IDLE, [home]: "fail" });
    scrapeRound(host, INTERVAL, { ...IDLE, [home]: "fail" });
    const away = send(host, responsesBody(10, "resp_sick"), { path: PATH });
    expect(away.endpoint).not.toBe(home);
    expect(count(host, "unknown")).toBe(1);
    away.stream.end("complete");
    scrapeRound(host, INTERVAL, IDLE);
    const back = send(host, responsesBody(11, "resp_sick"), { path: PATH });
    expect(back.endpoint).toBe(home);
    expect(count(host, "followed")).toBe(1);
    back.stream.end("complete");
    host.close();
  });

  it("the decision header says so", async () => {
    const host = await idlePool({ extra: { debugHeaders: true } });
    const first = send(host, responsesBody(12), { path: PATH });
    answerWhole(first.stream, "resp_dbg");
    const next = send(host, responsesBody(13, "resp_dbg"), { path: PATH });
    const scores = JSON.parse(next.headers.find(([k]) => k === "x-llm-picker-scores")![1]);
    expect(scores.endpoint).toBe(first.endpoint);
    expect(scores.followedStored).toBe(true);
    expect(Object.keys(scores.total)).toEqual([first.endpoint]);
    next.stream.end("complete");
    host.close();
  });
});

describe("reading, cancelling or deleting a stored response goes where it is stored", () => {
  /** A request without a body on `path` (the stream stays open); the endpoint it was sent to. */
  function bodiless(host: ProxyWasmHost, method: string, path: string): { stream: HttpStream; endpoint: string | undefined } {
    const stream = host.newHttpStream();
    stream.sendRequestHeaders(
      [
        [":method", method],
        [":path", path],
        [":authority", "gw"],
      ],
      true,
    );
    return { stream, endpoint: stream.forwardedRequest()?.headers.find(([k]) => k === "x-gateway-destination-endpoint")?.[1] };
  }

  it.each([
    ["GET", "/v1/responses/resp_get"],
    ["GET", "/v1/responses/resp_get/input_items?limit=2"],
    ["POST", "/v1/responses/resp_get/cancel"],
    ["DELETE", "/v1/responses/resp_get"],
  ])("%s %s, while other requests load its server", async (method, path) => {
    const host = await idlePool();
    const first = send(host, responsesBody(14), { path: PATH });
    const home = first.endpoint!;
    answerWhole(first.stream, "resp_get");
    const load = Array.from({ length: 4 }, (_, i) => send(host, responsesBody(30 + i, "resp_get"), { path: PATH }));
    expect(tallyOf(load)).toEqual({ [home]: 4 });
    const read = bodiless(host, method, path);
    expect(read.endpoint).toBe(home);
    expect(count(host, "followed")).toBe(5);
    // An id never answered here: picked on load, away from the loaded server.
    const unknown = bodiless(host, method, path.replace("resp_get", "resp_other"));
    expect(unknown.endpoint).not.toBe(home);
    expect(count(host, "unknown")).toBe(1);
    for (const s of [...load.map((l) => l.stream), read.stream, unknown.stream]) s.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
