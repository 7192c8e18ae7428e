/**
 * Fake model servers for the Envoy tier: small HTTP servers on 127.0.0.1 that
 * record every request they receive (method, path, headers, body) and answer
 * with an OpenAI-shaped JSON naming themselves. `/metrics` serves whatever
 * Prometheus text the test set, or fails on demand.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  /** Lower-cased header names; repeated headers joined as Node does. */
  headers: Record<string, string | string[] | undefined>;
  body: string;
  at: number;
}

export type UpstreamHandler = (req: RecordedRequest, res: ServerResponse, upstream: FakeUpstream) => void | Promise<void>;

export interface FakeUpstream {
  /** "127.0.0.1:port": the member address Envoy knows it by. */
  address: string;
  port: number;
  /** Everything received, in arrival order (including /metrics scrapes). */
  requests: RecordedRequest[];
  /** Requests other than `/metrics` scrapes. */
  traffic(): RecordedRequest[];
  /** Prometheus text served on GET /metrics (default: empty body, 200). */
  metrics: string;
  /** When set, GET /metrics answers this status (e.g. 500) instead. */
  metricsStatus: number | null;
  /** When > 0, GET /metrics answers only after this many ms (a hung or slow server; default 0). */
  metricsDelayMs: number;
  /** Replaces the default reply for non-/metrics requests. */
  handler: UpstreamHandler | null;
  clear(): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function defaultReply(res: ServerResponse, upstream: FakeUpstream): void {
  const body = JSON.stringify({
    id: "chatcmpl-fake",
    object: "chat.completion",
    model: "fake",
    upstream: upstream.address,
    choices: [{ index: 0, message: { role: "assistant", content: `served by ${upstream.address}` }, finish_reason: "stop" }],
  });
  res.writeHead(200, { "content-type": "application/json", "x-upstream": upstream.address });
  res.end(body);
}

export async function startUpstream(): Promise<FakeUpstream> {
  return startUpstreamOnPort(0);
}

/**
 * A fake upstream on a given port (0: any free port). Tests of a server that
 * goes away and comes back close one and start another on its port.
 */
export async function startUpstreamOnPort(port: number): Promise<FakeUpstream> {
  let server: Server;
  const upstream: FakeUpstream = {
    address: "",
    port: 0,
    requests: [],
    traffic: () => upstream.requests.filter((r) => r.path !== "/metrics"),
    metrics: "",
    metricsStatus: null,
    metricsDelayMs: 0,
    handler: null,
    clear: () => {
      upstream.requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server = createServer(async (req, res) => {
    const rec: RecordedRequest = {
      method: req.method ?? "",
      path: req.url ?? "",
      headers: { ...req.headers },
      body: await readBody(req),
      at: Date.now(),
    };
    upstream.requests.push(rec);
    if (rec.path === "/metrics" && rec.method === "GET") {
      if (upstream.metricsDelayMs > 0) await new Promise((r) => setTimeout(r, upstream.metricsDelayMs));
      if (res.destroyed) return; // the scraper gave up (timeout) and reset the stream
      res.writeHead(upstream.metricsStatus ?? 200, { "content-type": "text/plain; version=0.0.4" });
      res.end(upstream.metricsStatus === null ? upstream.metrics : "metrics unavailable\n");
      return;
    }
    if (upstream.handler) await upstream.handler(rec, res, upstream);
    else defaultReply(res, upstream);
  });
  // Envoy keeps upstream connections open; Node closing an idle keep-alive
  // connection after its default 5 s races with Envoy reusing it (503
  // "upstream connect error ... connection termination"), as for src/sim.
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  upstream.port = (server.address() as AddressInfo).port;
  upstream.address = `127.0.0.1:${upstream.port}`;
  return upstream;
}

export async function startUpstreams(n: number): Promise<FakeUpstream[]> {
  return Promise.all(Array.from({ length: n }, () => startUpstream()));
}

/** A request an upstream received and has not answered: the test answers `res` when it wants. */
export interface HeldArrival {
  upstream: FakeUpstream;
  res: ServerResponse;
  /** The request as it arrived (headers, body). */
  request: RecordedRequest;
}

/**
 * `n` upstreams reporting an idle vLLM server that answer no request by
 * themselves: each one lands in `arrivals`, in order, for the test to answer
 * (or leave open, to keep it in flight).
 */
export async function startHoldingUpstreams(n: number, idleMetrics: string, arrivals: HeldArrival[]): Promise<FakeUpstream[]> {
  const upstreams = await startUpstreams(n);
  for (const u of upstreams) {
    u.metrics = idleMetrics;
    u.handler = (request, res, upstream) => {
      arrivals.push({ upstream, res, request });
    };
  }
  return upstreams;
}
