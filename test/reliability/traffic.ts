/**
 * Traffic for the reliability scenarios (docs/reliability.md): an open-loop
 * client at a steady rate over keep-alive HTTP/1.1 that checks every answer
 * against what the request should get, a request mix (sizes 1 KB–1 MB, the
 * three APIs, valid and invalid bodies, streaming and not, shared and unique
 * prefixes), and model servers cheap enough to serve it on a shared 2-core
 * machine (OpenAI-shaped answers, SSE for streams, a vLLM /metrics page).
 *
 * Node is the load generator on purpose: each answer is parsed and checked
 * (status, OpenAI error object, complete SSE stream), which wrk/h2load/oha do
 * not do, and the rates needed here (hundreds of requests per second) are
 * far below what one Node thread sends over keep-alive connections.
 */
import { randomBytes } from "node:crypto";
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type ApiPath = "/v1/chat/completions" | "/v1/completions" | "/v1/responses";

export interface Planned {
  path: ApiPath;
  body: string;
  stream: boolean;
  /** 200 from a server, or the filter's 400 for an invalid body. */
  expect: 200 | 400;
}

/** Deterministic PRNG (mulberry32): the mix is the same for a seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = "the quick brown fox jumps over a lazy dog while seven engineers review the routing tables of a large language model gateway".split(" ");

function filler(chars: number, random: () => number): string {
  const parts: string[] = [];
  let n = 0;
  while (n < chars) {
    const w = WORDS[Math.floor(random() * WORDS.length)];
    parts.push(w);
    n += w.length + 1;
  }
  return parts.join(" ").slice(0, chars);
}

/** Request sizes from 1 KB to 1 MB: mostly small, a long tail (mean ≈ 11 KB). */
export function sizeOf(random: () => number): number {
  const r = random();
  if (r < 0.85) return 1024 + Math.floor(random() * 3072);
  if (r < 0.97) return 4 * 1024 + Math.floor(random() * 28 * 1024);
  if (r < 0.995) return 32 * 1024 + Math.floor(random() * 224 * 1024);
  return 256 * 1024 + Math.floor(random() * 768 * 1024);
}

/**
 * The request mix. `documents` shared prefixes (a long first message many
 * requests start with) and a unique id after them, so the index keeps
 * receiving new blocks (it fills to its bound) while prefixes still match.
 */
export class Mix {
  private readonly random: () => number;
  private readonly docs: string[];
  /** 1 MB of words: request text is a slice of it at a random offset (cheap to make at any rate). */
  private readonly text: string;
  private seq = 0;
  constructor(
    seed: number,
    documents = 64,
    readonly invalidShare = 0.1,
    readonly streamShare = 0.3,
  ) {
    this.random = rng(seed);
    this.docs = Array.from({ length: documents }, (_, i) => `document ${i}: ${filler(2048, this.random)}`);
    this.text = filler(1024 * 1024, this.random);
  }

  private slice(chars: number): string {
    const n = Math.min(chars, this.text.length);
    const at = Math.floor(this.random() * (this.text.length - n + 1));
    return this.text.slice(at, at + n);
  }

  next(): Planned {
    const r = this.random;
    const n = this.seq++;
    const size = sizeOf(r);
    const shared = r() < 0.5 ? this.docs[Math.floor(r() * this.docs.length)] : "";
    const text = `${shared} request ${n} ${randomBytes(6).toString("hex")} ${this.slice(Math.max(0, size - shared.length - 40))}`;
    const a = r();
    const path: ApiPath = a < 0.6 ? "/v1/chat/completions" : a < 0.85 ? "/v1/completions" : "/v1/responses";
    const stream = r() < this.streamShare;
    let body: Record<string, unknown>;
    if (path === "/v1/chat/completions")
      body = {
        model: "m",
        messages: [
          { role: "system", content: "be brief" },
          { role: "user", content: text },
        ],
        stream,
      };
    else if (path === "/v1/completions") body = { model: "m", prompt: text, stream };
    else body = { model: "m", input: text, stream };
    if (r() < this.invalidShare) {
      const kind = Math.floor(r() * 3);
      if (kind === 0) return { path, body: JSON.stringify({ ...body, model: 7 }), stream: false, expect: 400 };
      if (kind === 1) return { path, body: JSON.stringify(body).slice(0, -1 - Math.floor(r() * 20)), stream: false, expect: 400 };
      const { model: _model, ...noModel } = body;
      return { path, body: JSON.stringify(noModel), stream: false, expect: 400 };
    }
    return { path, body: JSON.stringify(body), stream, expect: 200 };
  }
}

export interface Outcome {
  ok: boolean;
  /** "ok", or why not: status_<n>, bad_error_body, truncated_stream, reset, timeout. */
  cause: string;
  status: number;
  ms: number;
}

/** Sends one request and checks the answer against what it should be. */
export function sendChecked(agent: Agent, base: URL, p: Planned, timeoutMs = 60_000): Promise<Outcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (cause: string, status: number) => {
      if (settled) return;
      settled = true;
      resolve({ ok: cause === "ok", cause, status, ms: performance.now() - t0 });
    };
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        path: p.path,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(p.body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", () => done("reset", res.statusCode ?? 0));
        res.on("aborted", () => done("reset", res.statusCode ?? 0));
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString("utf8");
          if (status !== p.expect) {
            // Envoy's own errors say why in error.code (local_reply_config): keep it.
            let code = "";
            try {
              const c = JSON.parse(text)?.error?.code;
              if (typeof c === "string" && status >= 500) code = `:${c}`;
            } catch {
              // not JSON
            }
            return done(`status_${status}${code}`, status);
          }
          if (status === 400) {
            try {
              const e = JSON.parse(text).error;
              if (res.headers["content-type"] !== "application/json" || e?.type !== "invalid_request_error" || typeof e.code !== "string")
                return done("bad_error_body", status);
            } catch {
              return done("bad_error_body", status);
            }
            return done("ok", status);
          }
          if (p.stream && !text.endsWith("data: [DONE]\n\n")) return done("truncated_stream", status);
          done("ok", status);
        });
      },
    );
    req.setTimeout(timeoutMs, () => {
      done("timeout", 0);
      req.destroy();
    });
    req.on("error", () => done("reset", 0));
    req.end(p.body);
  });
}

export interface LoadResult {
  sent: number;
  ok: number;
  /** Requests that did not get what they should, by cause. */
  errors: Record<string, number>;
  expected400: number;
  streams: number;
  bytes: number;
  seconds: number;
  /** Client-side latency percentiles (ms), all requests. */
  p50: number;
  p99: number;
  /** Most requests in flight at once (the open loop never waits for answers). */
  maxInFlight: number;
}

export interface LoadOptions {
  url: string;
  /** Requests per second, steady (open loop). */
  rate: number;
  total: number;
  mix: Mix;
  /** Keep-alive connections (default 64). */
  connections?: number;
  /**
   * Most requests outstanding (default 256): when the machine cannot keep
   * up, the client waits instead of queueing without bound (which would end
   * in client-side timeouts that say nothing about the gateway); the
   * achieved rate is reported.
   */
  maxOutstanding?: number;
  /** Called about once a second with progress (sent, ok, errors so far). */
  onProgress?: (r: LoadResult) => void;
  /** Called after each answer (e.g. to count per phase). */
  onOutcome?: (o: Outcome, p: Planned) => void;
  /** Stop early when this returns true. */
  stop?: () => boolean;
  /** Client timeout per request (default 60 s). */
  timeoutMs?: number;
}

/** Sends `total` requests at `rate` per second and checks every answer. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections ?? 64 });
  const base = new URL(o.url);
  const lat: number[] = [];
  const r: LoadResult = { sent: 0, ok: 0, errors: {}, expected400: 0, streams: 0, bytes: 0, seconds: 0, p50: 0, p99: 0, maxInFlight: 0 };
  let inFlight = 0;
  const t0 = performance.now();
  let lastProgress = t0;
  const pending = new Set<Promise<void>>();
  while (r.sent < o.total && !o.stop?.()) {
    const due = Math.min(o.total, Math.floor(((performance.now() - t0) / 1000) * o.rate) + 1);
    const cap = o.maxOutstanding ?? 256;
    while (r.sent < due && inFlight < cap) {
      const p = o.mix.next();
      r.sent++;
      r.bytes += p.body.length;
      if (p.stream) r.streams++;
      inFlight++;
      r.maxInFlight = Math.max(r.maxInFlight, inFlight);
      const job = sendChecked(agent, base, p, o.timeoutMs).then((out) => {
        inFlight--;
        if (lat.length < 2_000_000) lat.push(out.ms);
        if (out.ok) {
          r.ok++;
          if (p.expect === 400) r.expected400++;
        } else r.errors[out.cause] = (r.errors[out.cause] ?? 0) + 1;
        o.onOutcome?.(out, p);
      });
      pending.add(job);
      void job.finally(() => pending.delete(job));
    }
    if (o.onProgress && performance.now() - lastProgress > 1000) {
      lastProgress = performance.now();
      o.onProgress({ ...r, seconds: (lastProgress - t0) / 1000 });
    }
    await new Promise((res) => setTimeout(res, 5));
  }
  await Promise.all(pending);
  agent.destroy();
  r.seconds = (performance.now() - t0) / 1000;
  lat.sort((x, y) => x - y);
  r.p50 = lat[Math.floor(lat.length * 0.5)] ?? 0;
  r.p99 = lat[Math.floor(lat.length * 0.99)] ?? 0;
  return r;
}

// ---- model servers -----------------------------------------------------------

export interface LoadServer {
  address: string;
  port: number;
  served: number;
  /** Arrival times (Date.now()) of inference requests, faults included. */
  arrivals: number[];
  /** Prometheus text on /metrics; a function is called per scrape. */
  metrics: () => string;
  /** Replaces the answer to inference requests (faults); return true when handled. */
  fault: ((req: IncomingMessage, res: ServerResponse, body: Buffer) => boolean) | null;
  /** Replaces the /metrics answer (faults); return true when handled. */
  metricsFault: ((req: IncomingMessage, res: ServerResponse) => boolean) | null;
  close(): Promise<void>;
}

export function vllmMetrics(waiting: number, running: number, kv: number): string {
  return (
    `# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name="m"} ${waiting}\n` +
    `# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name="m"} ${running}\n` +
    `# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{model_name="m"} ${kv}\n`
  );
}

function answer(stream: boolean, res: ServerResponse, address: string): void {
  if (!stream) {
    const body = JSON.stringify({
      id: "cmpl-load",
      object: "chat.completion",
      model: "m",
      choices: [{ index: 0, message: { role: "assistant", content: `ok from ${address}` }, finish_reason: "stop" }],
    });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "x-upstream": address });
    res.end(body);
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "x-upstream": address });
  for (const piece of ["ok", " from", ` ${address}`])
    res.write(`data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: piece } }] })}\n\n`);
  res.end("data: [DONE]\n\n");
}

/** A model server on 127.0.0.1 (port 0: any free port). */
export async function startLoadServer(port = 0): Promise<LoadServer> {
  let server: Server;
  const s: LoadServer = {
    address: "",
    port: 0,
    served: 0,
    arrivals: [],
    metrics: () => vllmMetrics(0, 1, 0.2),
    fault: null,
    metricsFault: null,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => undefined);
    req.on("end", () => {
      if (req.url === "/metrics") {
        if (s.metricsFault?.(req, res)) return;
        const text = s.metrics();
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      const body = Buffer.concat(chunks);
      s.arrivals.push(Date.now());
      if (s.fault?.(req, res, body)) return;
      s.served++;
      // Streams are recognised without parsing the body: the mix writes "stream":true last-level.
      answer(body.includes('"stream":true'), res, s.address);
    });
  });
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  s.port = (server.address() as AddressInfo).port;
  s.address = `127.0.0.1:${s.port}`;
  return s;
}

export function startLoadServers(n: number): Promise<LoadServer[]> {
  return Promise.all(Array.from({ length: n }, () => startLoadServer()));
}
