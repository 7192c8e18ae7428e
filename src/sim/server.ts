// OpenAI-compatible HTTP front of a simulated vLLM server (node:http, 127.0.0.1).
//
//   POST /v1/chat/completions, /v1/completions, /v1/responses  (stream: true → SSE)
//   GET  /v1/models, /health, /metrics
//   POST /sim/reset                   empty cache, zero counters
//   POST /sim/prefix[?path=/v1/...]   {"cachedTokens","promptTokens"} for a request, without serving it;
//                                     body: the request body itself, or {"path": "...", "body": {...}}
//   GET  /sim/stats                   JSON counters, hit rate, TTFT summary, queue, KV usage
//   POST /sim/fail                    {"metrics"|"requests"|"health": "ok"|"500"|"503"|"429"|"timeout"|"close"}

import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { resolveSimConfig, type SimConfig } from "./config.js";
import { SimEngine, realClock, summarize, type Clock, type Job, type JobSpec, type Summary, type WarmupCounters } from "./engine.js";
import { chainHashes } from "./kvcache.js";
import { renderMetrics } from "./metrics.js";
import { fillerTokens, outputLength, requestRandom } from "./output.js";
import { apiForBody, apiForPath, parseRequest, promptChain, RequestError, type Api, type ParsedRequest } from "./prompt.js";
import { StoredResponses, type StoredResponse } from "./stored-responses.js";
import { fullResponse, responsesStreamStart, streamEnd, streamToken, type Generation } from "./responses.js";
import { preloadTokenizer } from "./tokenizer.js";

export const SIM_HOST = "127.0.0.1";
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Shortest real interval between decode timers of one request (streaming / not): bounds timer load. */
const STREAM_TICK_REAL_MS = 15;
const BATCH_TICK_REAL_MS = 100;

export type FailureMode = "ok" | "500" | "503" | "429" | "timeout" | "close";
const FAILURE_MODES: readonly FailureMode[] = ["ok", "500", "503", "429", "timeout", "close"];

export interface FailureModes {
  metrics: FailureMode;
  requests: FailureMode;
  health: FailureMode;
}

export interface SimStats {
  url: string;
  /** Requests admitted (prompt looked up in the cache). */
  requests: number;
  completed: number;
  cancelled: number;
  /** Requests answered with an error (4xx from validation, injected failures). */
  errors: number;
  promptTokens: number;
  /** Prompt tokens served from the prefix cache. */
  cachedTokens: number;
  /** cachedTokens / promptTokens (0 when no requests). */
  hitRate: number;
  generationTokens: number;
  /** Model ms of prefill work admitted (a serial-prefill server's busy time). */
  prefillMs: number;
  /** Time-weighted mean KV-cache usage since the last reset (0..1). */
  meanKvUsage: number;
  /** Time-weighted mean running requests / maxNumSeqs since the last reset. */
  meanSlotUsage: number;
  /** Time to first token in model milliseconds (real ms / timeScale), measured by the engine. */
  ttftMs: Summary;
  running: number;
  waiting: number;
  kvUsage: number;
  cachedBlocks: number;
  evictions: number;
  /** The warm-up requests' share of requests, promptTokens, cachedTokens and prefillMs (SIM_WARMUP_HEADER). */
  warmup: WarmupCounters;
}

export interface SimServer {
  url: string;
  port: number;
  config: SimConfig;
  engine: SimEngine;
  close(): Promise<void>;
  stats(): SimStats;
  reset(): void;
}

export interface StartOptions {
  /** 0 (default): a free port. */
  port?: number;
  /** Clock override (tests); default real time scaled by config.timeScale. */
  clock?: Clock;
}

export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`port ${port} on ${SIM_HOST} is already in use: stop what is using it, choose another port, or use port 0 for a free one`);
    this.name = "PortInUseError";
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  if (res.writableEnded || res.destroyed) return;
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, message: string, type?: string): void {
  const errorType = type ?? (status === 404 ? "NotFoundError" : status >= 500 ? "InternalServerError" : "BadRequestError");
  sendJson(res, status, { error: { message, type: errorType, param: null, code: status } });
}

/** A request header whose value the server keeps in its served-request log (SimEngine.servedLog): a benchmark names each request so. */
export const SIM_TAG_HEADER = "x-sim-tag";

/** The filter's scores header (its `debugHeaders` option), kept in the served-request log as the request's decision. */
const PICKER_SCORES_HEADER = "x-llm-picker-scores";

/** A request header that marks a benchmark's warm-up request (JobSpec.warmup) when its value is "1". */
export const SIM_WARMUP_HEADER = "x-sim-warmup";

type ServedLabels = Pick<JobSpec, "tag" | "decision" | "warmup">;

/** What the engine keeps of a request's headers: its SIM_TAG_HEADER (at most 200 characters), the filter's decision (at most 4,000) and SIM_WARMUP_HEADER. */
function servedLabels(req: IncomingMessage): ServedLabels {
  const tag = req.headers[SIM_TAG_HEADER];
  const decision = req.headers[PICKER_SCORES_HEADER];
  return {
    ...(typeof tag === "string" ? { tag: tag.slice(0, 200) } : {}),
    ...(typeof decision === "string" ? { decision: decision.slice(0, 4000) } : {}),
    ...(req.headers[SIM_WARMUP_HEADER] === "1" ? { warmup: true } : {}),
  };
}

/** GET /v1/responses/{id} reads a stored answer. */
const STORED_PATH = "/v1/responses/";

function storedResponseObject(r: StoredResponse) {
  return {
    id: r.id,
    object: "response",
    model: r.model,
    status: "completed",
    output: [{ id: `msg_${r.id}`, type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: r.text, annotations: [] }] }],
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new RequestError(413, `request body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

class SimHttpServer {
  readonly engine: SimEngine;
  readonly failures: FailureModes = { metrics: "ok", requests: "ok", health: "ok" };
  private held = new Set<ServerResponse>();
  private createdSeconds = Date.now() / 1000;
  private seq = 0;
  /** Makes this server's answer ids unique across a pool, as vLLM's random ones are (a response id names one server's answer). */
  private readonly idTag = `sim${randomBytes(4).toString("hex")}-`;
  /** The responses this server answered and stored (previous_response_id continues them here only). */
  private stored = new StoredResponses();
  errors = 0;
  url = "";

  constructor(
    readonly config: SimConfig,
    clock: Clock,
  ) {
    this.engine = new SimEngine(config, clock);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sim");
    const route = `${req.method} ${url.pathname}`;
    try {
      switch (route) {
        case "GET /health":
          if (this.failed(res, this.failures.health)) return;
          res.writeHead(200, { "content-length": 0 }).end();
          return;
        case "GET /metrics":
          if (this.failed(res, this.failures.metrics)) return;
          this.metrics(res);
          return;
        case "GET /v1/models":
          this.models(res);
          return;
        case "POST /v1/chat/completions":
        case "POST /v1/completions": {
          const body = await readBody(req);
          if (this.failed(res, this.failures.requests)) return;
          this.generate(apiForPath(url.pathname)!, body, res, servedLabels(req));
          return;
        }
        case "POST /v1/responses": {
          const body = await readBody(req);
          if (this.failed(res, this.failures.requests)) return;
          const turn = this.stored.turn(body);
          const remember = turn.store ? (id: string, model: string, text: string) => this.stored.remember({ id, model, items: turn.items, text }) : undefined;
          this.generate("responses", turn.bodyText, res, servedLabels(req), remember);
          return;
        }
        case "POST /sim/reset":
          await readBody(req);
          this.reset();
          sendJson(res, 200, { ok: true });
          return;
        case "POST /sim/prefix":
          sendJson(res, 200, this.prefix(await readBody(req), url.searchParams.get("path")));
          return;
        case "GET /sim/stats":
          sendJson(res, 200, this.stats());
          return;
        case "POST /sim/fail":
          sendJson(res, 200, this.setFailures(await readBody(req)));
          return;
        default:
          if (req.method === "GET" && url.pathname.startsWith(STORED_PATH) && !url.pathname.slice(STORED_PATH.length).includes("/")) {
            sendJson(res, 200, storedResponseObject(this.stored.get(decodeURIComponent(url.pathname.slice(STORED_PATH.length)))));
            return;
          }
          sendError(res, 404, `no route ${route}`);
      }
    } catch (err) {
      this.errors++;
      if (err instanceof RequestError) sendError(res, err.status, err.message, err.type);
      else sendError(res, 500, (err as Error).message ?? String(err));
    }
  }

  /** Applies an injected failure; true if the request was answered (or swallowed) by it. */
  private failed(res: ServerResponse, mode: FailureMode): boolean {
    switch (mode) {
      case "ok":
        return false;
      case "timeout":
        this.errors++;
        this.held.add(res); // never answered; dropped when the client gives up or the server closes
        res.on("close", () => this.held.delete(res));
        return true;
      case "close":
        this.errors++;
        res.socket?.destroy();
        return true;
      default:
        this.errors++;
        sendError(res, Number(mode), `injected failure ${mode}`);
        return true;
    }
  }

  private metrics(res: ServerResponse): void {
    const body = renderMetrics({
      config: this.config,
      engine: this.engine,
      createdSeconds: this.createdSeconds,
      nowSeconds: Date.now() / 1000,
    });
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
  }

  private models(res: ServerResponse): void {
    const created = Math.floor(this.createdSeconds);
    const card = (id: string, parent: string | null) => ({
      id,
      object: "model",
      created,
      owned_by: "vllm",
      root: parent === null ? id : id,
      parent,
      max_model_len: this.config.maxModelLen,
    });
    sendJson(res, 200, {
      object: "list",
      data: [card(this.config.model, null), ...this.config.loraAdapters.map((name) => card(name, this.config.model))],
    });
  }

  /** Model name, LoRA adapter and cache root of a request; 404 for an unknown model unless acceptAnyModel. */
  private resolveModel(parsed: ParsedRequest): { model: string; lora: string | null; root: string } {
    const model = parsed.model ?? this.config.model;
    const lora = this.config.loraAdapters.includes(model) ? model : null;
    if (!this.config.acceptAnyModel && model !== this.config.model && lora === null) {
      throw new RequestError(404, `The model \`${model}\` does not exist.`);
    }
    // vLLM puts the LoRA name and cache_salt into the block hashes' extra keys: no sharing across them.
    const root = (lora === null ? "" : `lora:${lora}`) + (parsed.cacheSalt === null ? "" : `\0salt:${parsed.cacheSalt}`);
    return { model, lora, root };
  }

  private prefix(bodyText: string, pathParam: string | null): { cachedTokens: number; promptTokens: number } {
    let parsed: ParsedRequest;
    const pathApi = pathParam === null ? null : apiForPath(pathParam);
    if (pathParam !== null && pathApi === null) throw new RequestError(400, `unknown path ${pathParam}`);
    if (pathApi !== null) {
      parsed = parseRequest(pathApi, bodyText, this.config.maxModelLen);
    } else {
      let outer: unknown;
      try {
        outer = JSON.parse(bodyText);
      } catch {
        throw new RequestError(400, "request body is not valid JSON");
      }
      if (outer === null || typeof outer !== "object" || Array.isArray(outer)) throw new RequestError(400, "body must be a JSON object");
      const wrapper = outer as Record<string, unknown>;
      if (wrapper.body !== null && typeof wrapper.body === "object" && !Array.isArray(wrapper.body)) {
        const inner = wrapper.body as Record<string, unknown>;
        const api = typeof wrapper.path === "string" ? apiForPath(wrapper.path) : apiForBody(inner);
        if (api === null) throw new RequestError(400, `unknown path ${String(wrapper.path)}`);
        parsed = parseRequest(api, JSON.stringify(inner), this.config.maxModelLen);
      } else {
        parsed = parseRequest(apiForBody(wrapper), bodyText, this.config.maxModelLen);
      }
    }
    const { root } = this.resolveModel(parsed);
    const chain = promptChain(parsed, root, this.config.blockSize);
    return { cachedTokens: this.engine.cache.cachedTokens(chain.hashes, parsed.tokens.length), promptTokens: parsed.tokens.length };
  }

  /** `onAnswered`: called with the answer's id, model and text once it is complete (a stored response). */
  private generate(
    api: Api,
    bodyText: string,
    res: ServerResponse,
    labels: ServedLabels = {},
    onAnswered?: (id: string, model: string, text: string) => void,
  ): void {
    const parsed = parseRequest(api, bodyText, this.config.maxModelLen);
    const { model, lora, root } = this.resolveModel(parsed);
    const config = this.config;
    const promptTokens = parsed.tokens.length;
    const chain = promptChain(parsed, root, config.blockSize);

    const room = config.maxModelLen - promptTokens;
    if (room < 1 || (parsed.maxTokens !== null && parsed.maxTokens > room)) {
      throw new RequestError(
        400,
        `This model's maximum context length is ${config.maxModelLen} tokens. However, you requested ` +
          `${promptTokens + (parsed.maxTokens ?? 1)} tokens (${promptTokens} in the messages, ${parsed.maxTokens ?? 1} in the completion).`,
      );
    }
    const random = requestRandom(config.seed, parsed.contentKey);
    const outputTokens = outputLength(config, parsed.maxTokens, room, random);
    if (!this.engine.fits(promptTokens, outputTokens)) {
      throw new RequestError(
        400,
        `prompt (${promptTokens} tokens) + output (${outputTokens} tokens) need more than the ${config.numGpuBlocks} KV blocks of this server`,
      );
    }
    const filler = fillerTokens(outputTokens, random);
    const fullPromptBlocks = chain.hashes.length;
    const outputHashes = () => {
      const tail = [...parsed.tokens.subarray(fullPromptBlocks * config.blockSize), ...filler.ids];
      return chainHashes(tail, 0, tail.length, config.blockSize, chain.last).hashes;
    };

    const prefix = api === "chat" ? "chatcmpl-" : api === "completions" ? "cmpl-" : "resp_";
    const gen: Generation = {
      api,
      parsed,
      model,
      id: `${prefix}${this.idTag}${this.seq++}`,
      created: Math.floor(Date.now() / 1000),
      pieces: filler.pieces,
      finishReason: parsed.maxTokens !== null && outputTokens >= parsed.maxTokens ? "length" : "stop",
      promptTokens,
    };

    const tickRealMs = parsed.stream ? STREAM_TICK_REAL_MS : BATCH_TICK_REAL_MS;
    let sent = 0;
    if (parsed.stream) {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      if (api === "responses") responsesStreamStart(res, gen);
    }
    const job: Job = this.engine.submit(
      {
        promptTokens,
        hashes: chain.hashes,
        outputTokens,
        lora,
        outputHashes,
        minTickMs: tickRealMs / config.timeScale,
        finishReason: gen.finishReason,
        ...labels,
      },
      {
        onTokens: (_job, emitted) => {
          if (!parsed.stream) return;
          for (; sent < emitted; sent++) streamToken(res, gen, sent);
        },
        onDone: (j) => {
          onAnswered?.(gen.id, gen.model, gen.pieces.join(""));
          if (parsed.stream) streamEnd(res, gen, j);
          else sendJson(res, 200, fullResponse(gen, j));
        },
      },
    );
    res.on("close", () => {
      if (job.state === "waiting" || job.state === "running") this.engine.cancel(job);
    });
  }

  private setFailures(bodyText: string): FailureModes {
    let body: unknown;
    try {
      body = JSON.parse(bodyText);
    } catch {
      throw new RequestError(400, "request body is not valid JSON");
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw new RequestError(400, "body must be a JSON object");
    const entries = Object.entries(body as Record<string, unknown>);
    for (const [key, value] of entries) {
      if (key !== "metrics" && key !== "requests" && key !== "health") {
        throw new RequestError(400, `unknown failure target "${key}" (metrics, requests, health)`);
      }
      if (!FAILURE_MODES.includes(value as FailureMode)) {
        throw new RequestError(400, `${key}: mode must be one of ${FAILURE_MODES.join(", ")}`);
      }
    }
    for (const [key, value] of entries) this.failures[key as keyof FailureModes] = value as FailureMode;
    return { ...this.failures };
  }

  stats(): SimStats {
    const c = this.engine.counters;
    return {
      url: this.url,
      requests: c.requests,
      completed: c.completed,
      cancelled: c.cancelled,
      errors: this.errors,
      promptTokens: c.promptTokens,
      cachedTokens: c.cachedTokens,
      hitRate: c.promptTokens === 0 ? 0 : c.cachedTokens / c.promptTokens,
      generationTokens: c.generationTokens,
      prefillMs: c.prefillMs,
      meanKvUsage: this.engine.meanKvUsage,
      meanSlotUsage: this.engine.meanSlotUsage,
      ttftMs: summarize(this.engine.ttftSamples),
      running: this.engine.running,
      waiting: this.engine.waiting,
      kvUsage: this.engine.cache.usage,
      cachedBlocks: this.engine.cache.cachedBlockCount,
      evictions: this.engine.cache.evictions,
      warmup: { ...c.warmup },
    };
  }

  reset(): void {
    this.engine.reset();
    this.stored.clear();
    this.errors = 0;
    this.createdSeconds = Date.now() / 1000;
  }

  releaseHeld(): void {
    for (const res of this.held) res.socket?.destroy();
    this.held.clear();
  }
}

/** Starts one simulated server on 127.0.0.1. `config` is a full or partial SimConfig (validated). */
export async function startSimServer(config: Partial<SimConfig> = {}, options: StartOptions = {}): Promise<SimServer> {
  const resolved = resolveSimConfig(config);
  preloadTokenizer();
  const sim = new SimHttpServer(resolved, options.clock ?? realClock(resolved.timeScale));
  const server: Server = createServer((req, res) => {
    void sim.handle(req, res);
  });
  // Envoy keeps upstream connections for up to an hour; a server closing idle
  // keep-alive connections after Node's default 5 s races with Envoy reusing
  // them (503 "upstream reset"). Keep them open.
  server.keepAliveTimeout = 0;
  const wanted = options.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(err.code === "EADDRINUSE" ? new PortInUseError(wanted) : err);
    };
    server.once("error", onError);
    server.listen(wanted, SIM_HOST, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${SIM_HOST}:${port}`;
  sim.url = url;
  let closed: Promise<void> | null = null;
  return {
    url,
    port,
    config: resolved,
    engine: sim.engine,
    stats: () => sim.stats(),
    reset: () => sim.reset(),
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        sim.releaseHeld();
        sim.engine.cancelAll();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

export interface SimPool {
  servers: SimServer[];
  urls: string[];
  close(): Promise<void>;
  reset(): void;
  stats(): SimStats[];
}

/**
 * Starts `n` servers with the same config. With `basePort`, they listen on
 * basePort, basePort+1, ...; otherwise on free ports. If one fails to start,
 * the others are closed and the error is thrown.
 */
export async function startSimPool(n: number, config: Partial<SimConfig> = {}, basePort?: number): Promise<SimPool> {
  const servers: SimServer[] = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await startSimServer(config, { port: basePort === undefined ? 0 : basePort + i }));
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }
  return {
    servers,
    urls: servers.map((s) => s.url),
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
    reset: () => {
      for (const s of servers) s.reset();
    },
    stats: () => servers.map((s) => s.stats()),
  };
}
