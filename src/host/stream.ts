/**
 * One HTTP stream through Envoy's filter manager with the Wasm filter followed by
 * the router (docs/reference/envoy-proxy-wasm.md#the-http-filter). Drivers (`sendRequestHeaders`, …)
 * feed the stream like a downstream client and an upstream server; inspectors
 * (`forwardedRequest`, `localResponse`, …) show what the router and the client see.
 */
import { DataStatus, HeadersStatus, MapType, TrailersStatus, concatBytes, headerByteSize, toBytes, toText, type HeaderPairs } from "./abi.js";
import { assign, mergeTrees, splitPath, type PropertyTree, type PropertyValue } from "./properties.js";
import type {
  BufferRef,
  DirName,
  FailurePolicy,
  ForwardedMessage,
  HeaderMapRef,
  LocalReply,
  LocalResponse,
  PhaseState,
  RootContext,
  StreamContext,
  StreamEndKind,
  StreamMode,
} from "./contexts.js";
import type { Vm } from "./vm.js";

export type { FailurePolicy, ForwardedMessage, LocalResponse, PhaseState, StreamEndKind, StreamMode } from "./contexts.js";

/** Per-direction filter-manager state. */
class Direction {
  headers: HeaderPairs | null = null;
  phase: PhaseState = "idle";
  /** StopAllIterationAndBuffer (413 past the limit) rather than …AndWatermark. */
  stopAllBuffer = false;
  /** Filter-manager buffer: body withheld (stop-all) or buffered for the filter. */
  held: Uint8Array[] = [];
  heldChunks = 0;
  /** The filter's last body status was StopIterationAndBuffer/Watermark. */
  buffering = false;
  /** Body visible to the filter during a body callback (`get_buffer_bytes`). */
  visible: Uint8Array | null = null;
  endSeen = false;
  trailers: HeaderPairs | null = null;
  trailersPending = false;
  trailersHeld = false;
  callback: "headers" | "body" | "trailers" | null = null;
  forwarded: { headers: HeaderPairs | null; chunks: Uint8Array[]; trailers: HeaderPairs | null; ended: boolean } = {
    headers: null,
    chunks: [],
    trailers: null,
    ended: false,
  };
  heldBytes(): number {
    return this.held.reduce((n, c) => n + c.length, 0);
  }
}

/** What the stream needs from its host. */
export interface StreamHost {
  failurePolicy: FailurePolicy;
  allowOnHeadersStopIteration: boolean;
  bufferLimitBytes: number;
  globalProperties(): PropertyTree;
  /** Run tasks posted during the last driver call (queue notifications, etc.). */
  drain(): void;
}

const lower = (pairs: HeaderPairs): HeaderPairs => pairs.map(([k, v]) => [k.toLowerCase(), v]);
const first = (pairs: HeaderPairs | null, key: string) => pairs?.find(([k]) => k === key)?.[1];

/** One HTTP stream. Create with `ProxyWasmHost.newHttpStream()`. */
export class HttpStream implements StreamContext {
  readonly kind = "stream" as const;
  /** Context id in the VM (0 when the filter does not run). */
  readonly id: number;
  readonly root: RootContext;
  readonly worker: number;
  readonly mode: StreamMode;
  /** Filter state written by `proxy_set_property`, keyed by the path the plugin gave. */
  readonly filterStateMap = new Map<string, Uint8Array>();
  /** True once on_delete ran (or the stream ended). */
  destroyed = false;
  /** Callbacks run on this stream, in order (e.g. "proxy_on_log"). */
  readonly calls: string[] = [];
  private readonly vm: Vm | null;
  private readonly host: StreamHost;
  private readonly request = new Direction();
  private readonly response = new Direction();
  private created = false;
  private streamFailed = false;
  private local: LocalResponse | null = null;
  private endKind: StreamEndKind | null = null;
  private inLogPhase = false;
  private properties: PropertyTree = {};

  /** @internal Use `ProxyWasmHost.newHttpStream()`. */
  constructor(host: StreamHost, vm: Vm | null, root: RootContext, worker: number, mode: StreamMode) {
    this.host = host;
    this.vm = vm;
    this.root = root;
    this.worker = worker;
    this.mode = mode;
    this.id = vm && mode === "filter" ? vm.allocContextId() : 0;
    if (vm && this.id) vm.contexts.set(this.id, this);
  }

  // ------------------------------------------------------------------ drivers

  /** Downstream request headers arrive (`decodeHeaders`). Keys are lower-cased. */
  sendRequestHeaders(headers: HeaderPairs, endOfStream: boolean): this {
    return this.driver(() => this.onHeaders("request", headers, endOfStream));
  }

  /** A request body chunk arrives (`decodeData`). */
  sendRequestBody(chunk: string | Uint8Array, endOfStream: boolean): this {
    return this.driver(() => this.onBody("request", toBytes(chunk), endOfStream));
  }

  /** Request trailers arrive (`decodeTrailers`); they end the request. */
  sendRequestTrailers(trailers: HeaderPairs): this {
    return this.driver(() => this.onTrailers("request", trailers));
  }

  /** Upstream response headers arrive (`encodeHeaders`). */
  sendResponseHeaders(headers: HeaderPairs, endOfStream: boolean): this {
    return this.driver(() => this.onHeaders("response", headers, endOfStream));
  }

  /** An upstream response body chunk arrives (`encodeData`). */
  sendResponseBody(chunk: string | Uint8Array, endOfStream: boolean): this {
    return this.driver(() => this.onBody("response", toBytes(chunk), endOfStream));
  }

  /** Upstream response trailers arrive (`encodeTrailers`). */
  sendResponseTrailers(trailers: HeaderPairs): this {
    return this.driver(() => this.onTrailers("response", trailers));
  }

  /**
   * The stream ends: access log then destruction, so the plugin sees on_log →
   * on_done → on_delete (`conn_manager_impl.cc doDeferredStreamDestroy`). An
   * upstream reset or timeout before any response produces Envoy's 503 / 504.
   */
  end(kind: StreamEndKind = "complete"): this {
    return this.driver(() => {
      if (this.endKind) return;
      this.endKind = kind;
      const responded = this.local !== null || this.response.forwarded.headers !== null;
      if (!responded && kind === "upstream_reset")
        this.setLocal(503, [], toBytes("upstream connect error or disconnect/reset before headers"), "upstream_reset_before_response_started");
      if (!responded && kind === "timeout") this.setLocal(504, [], toBytes("upstream request timeout"), "upstream_response_timeout");
      if (this.vm && this.created && !this.vm.failed) {
        this.inLogPhase = true;
        this.call("proxy_on_log", this.id);
        this.inLogPhase = false;
        this.call("proxy_on_done", this.id);
        this.call("proxy_on_delete", this.id);
      }
      this.destroyed = true;
      if (this.vm && this.id) this.vm.contexts.delete(this.id);
    });
  }

  // ------------------------------------------------------------------ inspectors

  /** What the router received so far (null until the filter let the request headers through). */
  forwardedRequest(): ForwardedMessage | null {
    return this.forwardedOf(this.request);
  }

  /** What the client received from the upstream through the filter (null until response headers passed). */
  forwardedResponse(): ForwardedMessage | null {
    return this.forwardedOf(this.response);
  }

  /** The local reply sent instead of the upstream's response (plugin, 413, 503 …), or null. */
  localResponse(): LocalResponse | null {
    return this.local;
  }

  /** The request headers as the filter currently sees them (null before headers). */
  requestHeaders(): HeaderPairs | null {
    return this.request.headers;
  }

  /** The response headers as the filter currently sees them. */
  responseHeaders(): HeaderPairs | null {
    return this.response.headers;
  }

  /** A value written by `proxy_set_property(name, …)` (Envoy filter state `wasm.<name>`). */
  filterState(name: string): Uint8Array | undefined {
    return this.filterStateMap.get(name) ?? this.filterStateMap.get(name.replace(/^wasm\./, ""));
  }

  /** Set a stream property, e.g. `setProperty(["source", "address"], "10.0.0.1:5000")`. */
  setProperty(path: string[] | string, value: PropertyValue): this {
    assign(this.properties, typeof path === "string" ? splitPath(path) : path, value);
    return this;
  }

  /** Where the stream stands. */
  state(): {
    mode: StreamMode;
    request: PhaseState;
    response: PhaseState;
    buffering: boolean;
    bufferedBytes: number;
    localReply: boolean;
    ended: StreamEndKind | null;
  } {
    return {
      mode: this.mode,
      request: this.request.phase,
      response: this.response.phase,
      buffering: this.request.buffering,
      bufferedBytes: this.request.heldBytes(),
      localReply: this.local !== null,
      ended: this.endKind,
    };
  }

  // ------------------------------------------------------------------ VM-facing (used by Vm)

  /** @internal Header map `type` for host calls; null ⇒ BAD_ARGUMENT. */
  headerMap(type: number): HeaderMapRef | null {
    if (type === MapType.RequestHeaders || type === MapType.ResponseHeaders) {
      const dir = type === MapType.RequestHeaders ? this.request : this.response;
      if (!dir.headers) return null;
      if (this.inLogPhase) return { pairs: dir.headers, writable: false };
      // After Continue Envoy nulls the map (`Context::decodeHeaders`): BAD_ARGUMENT.
      if (dir.phase === "continued" || this.local) return null;
      return { pairs: dir.headers, writable: true };
    }
    if (type === MapType.RequestTrailers || type === MapType.ResponseTrailers) {
      const dir = type === MapType.RequestTrailers ? this.request : this.response;
      if (this.inLogPhase) return dir.trailers ? { pairs: dir.trailers, writable: false } : null;
      if (dir.callback === "trailers" && dir.trailers) return { pairs: dir.trailers, writable: true };
      // Trailers can be added from the last body callback (`addDecodedTrailers`).
      if (dir.callback === "body" && dir.endSeen) {
        dir.trailers ??= [];
        return { pairs: dir.trailers, writable: true };
      }
      return null;
    }
    return null;
  }

  /** @internal Body buffer for host calls (buffer types 0 and 1); null ⇒ NOT_FOUND. */
  bodyBuffer(type: number): BufferRef | null {
    const dir = type === 0 ? this.request : this.response;
    if (dir.visible !== null) {
      return { bytes: () => dir.visible!, replace: (b) => (dir.visible = b) };
    }
    if (dir.buffering) {
      return { bytes: () => concatBytes(dir.held), replace: (b) => (dir.held = [b]) };
    }
    return null;
  }

  /** @internal Deferred `proxy_continue_stream` (`continueDecoding` / `continueEncoding`). */
  resume(name: DirName): void {
    if (this.local || this.endKind) return;
    const dir = this.dir(name);
    const wasStopAll = dir.phase === "stopped_all";
    if (dir.phase === "idle") return;
    if (dir.phase !== "continued") this.forwardHeaders(dir, false);
    if (wasStopAll) {
      // Stop-all withheld the body from this filter too: it gets it now
      // (`iterate_from_current_filter_`).
      if (dir.heldChunks > 0) {
        const withheld = concatBytes(dir.held);
        dir.held = [];
        dir.heldChunks = 0;
        this.deliverBody(name, withheld, dir.endSeen && !dir.trailersPending && dir.trailers === null);
        if (this.local || dir.phase !== "continued") return;
      }
      if (dir.trailersPending) {
        dir.trailersPending = false;
        this.deliverTrailers(name);
        return;
      }
      if (dir.endSeen && !dir.buffering) dir.forwarded.ended = true;
      return;
    }
    if (dir.buffering) {
      this.forwardBody(dir, concatBytes(dir.held));
      dir.held = [];
      dir.buffering = false;
    }
    if (dir.trailersHeld || (dir.trailers && dir.endSeen && !dir.trailersPending)) {
      dir.trailersHeld = false;
      dir.forwarded.trailers = dir.trailers;
      dir.forwarded.ended = true;
    } else if (dir.endSeen) {
      dir.forwarded.ended = true;
    }
  }

  /** @internal Deferred `proxy_close_stream`: Envoy resets the stream. */
  closeFromPlugin(): void {
    if (!this.local && !this.endKind) this.setLocal(0, [], new Uint8Array(0), "closed_by_plugin");
  }

  /** @internal Deferred `proxy_send_local_response`. */
  sendLocalReply(reply: LocalReply): void {
    if (this.local || this.response.forwarded.headers) return;
    this.setLocal(reply.status, reply.headers, reply.body, reply.details, reply.grpcStatus);
  }

  /** @internal The property tree for `proxy_get_property` on this stream. */
  propertyTree(): PropertyTree {
    const req = this.request.headers ?? [];
    const path = first(req, ":path") ?? "";
    const derived: PropertyTree = {
      request: {
        path,
        url_path: path.split("?")[0],
        host: first(req, ":authority") ?? "",
        scheme: first(req, ":scheme") ?? "http",
        method: first(req, ":method") ?? "",
        headers: req,
        protocol: "HTTP/1.1",
        total_size: BigInt(headerByteSize(req) + this.request.heldBytes()),
      },
    };
    const id = first(req, "x-request-id");
    if (id !== undefined) (derived.request as PropertyTree).id = id;
    const status = this.local?.status ?? Number(first(this.response.headers, ":status") ?? NaN);
    if (!Number.isNaN(status)) {
      derived.response = { code: BigInt(status), headers: this.response.headers ?? [] };
      if (this.local) (derived.response as PropertyTree).code_details = this.local.details;
    }
    return mergeTrees(mergeTrees(this.host.globalProperties(), derived), this.properties);
  }

  // ------------------------------------------------------------------ filter-manager emulation

  private dir(name: DirName): Direction {
    return name === "request" ? this.request : this.response;
  }

  private driver(fn: () => void): this {
    fn();
    this.host.drain();
    return this;
  }

  private call(name: string, ...args: number[]): number | undefined {
    this.calls.push(name);
    return this.vm!.invoke(name, this.id, ...args);
  }

  private ensureCreated(): void {
    if (this.created || !this.vm) return;
    this.created = true;
    this.call("proxy_on_context_create", this.id, this.root.id);
  }

  private finished(): boolean {
    return this.local !== null || this.endKind !== null || this.destroyed;
  }

  /**
   * CHECK_FAIL_HTTP: true when the filter is out of the way for this callback.
   * FAIL_OPEN lets the data through; otherwise the stream gets one 503.
   */
  private filterBypassed(): "run" | "open" | "closed" {
    if (this.mode === "skipped") return "open";
    if (this.mode === "failed_closed") {
      this.failStream();
      return "closed";
    }
    if (!this.vm!.failed) return "run";
    if (this.host.failurePolicy === "FAIL_OPEN") return "open";
    this.failStream();
    return "closed";
  }

  /** Envoy `Context::failStream`: 503 with details `wasm_fail_stream`. */
  private failStream(): void {
    if (this.streamFailed) return;
    this.streamFailed = true;
    if (!this.local && !this.response.forwarded.headers) this.setLocal(503, [], new Uint8Array(0), "wasm_fail_stream");
  }

  private setLocal(status: number, headers: HeaderPairs, body: Uint8Array, details: string, grpcStatus = -1): void {
    const out = lower(headers);
    if (body.length > 0 && !out.some(([k]) => k === "content-type")) out.push(["content-type", "text/plain"]);
    if (status) out.unshift([":status", String(status)]);
    this.local = { status, headers: out, body, bodyText: toText(body), details, grpcStatus };
  }

  /** After a callback: apply the deferred actions (local reply, continue) and pending posts. */
  private settle(): void {
    this.vm?.runAfterCallActions();
  }

  private takeStop(): boolean {
    const stop = this.vm!.stopNextIteration;
    this.vm!.stopNextIteration = false;
    return stop;
  }

  private onHeaders(name: DirName, headers: HeaderPairs, eos: boolean): void {
    if (this.finished()) return;
    const dir = this.dir(name);
    dir.headers = lower(headers);
    dir.endSeen = eos;
    if (this.mode === "filter") this.ensureCreated();
    const gate = this.filterBypassed();
    if (gate === "open") {
      this.forwardHeaders(dir, eos);
      return;
    }
    if (gate === "closed") return;
    dir.callback = "headers";
    const cb = name === "request" ? "proxy_on_request_headers" : "proxy_on_response_headers";
    const result = this.call(cb, this.id, dir.headers.length, eos ? 1 : 0);
    dir.callback = null;
    if (result === undefined) {
      if (this.filterBypassed() === "open") this.forwardHeaders(dir, eos);
      return;
    }
    let status = this.takeStop() ? HeadersStatus.StopAllIterationAndWatermark : Math.min(result, HeadersStatus.StopAllIterationAndWatermark);
    if (status === HeadersStatus.StopIteration && !this.host.allowOnHeadersStopIteration) {
      // cpp-host #143: without the knob StopIteration becomes StopAllIterationAndWatermark.
      status = HeadersStatus.StopAllIterationAndWatermark;
    }
    if (status === HeadersStatus.Continue) this.forwardHeaders(dir, eos);
    else if (status === HeadersStatus.ContinueAndEndStream) this.forwardHeaders(dir, true);
    else if (status === HeadersStatus.StopIteration) dir.phase = "stopped";
    else {
      dir.phase = "stopped_all";
      dir.stopAllBuffer = status === HeadersStatus.StopAllIterationAndBuffer;
    }
    this.settle();
  }

  private onBody(name: DirName, chunk: Uint8Array, eos: boolean): void {
    if (this.finished()) return;
    const dir = this.dir(name);
    if (dir.forwarded.ended) return;
    if (eos) dir.endSeen = true;
    if (this.mode === "skipped") {
      this.forwardBody(dir, chunk);
      if (eos) dir.forwarded.ended = true;
      return;
    }
    if (dir.phase === "stopped_all") {
      dir.held.push(chunk);
      dir.heldChunks++;
      if (dir.stopAllBuffer) this.checkBufferLimit(name, dir);
      return;
    }
    this.deliverBody(name, chunk, eos);
  }

  private deliverBody(name: DirName, chunk: Uint8Array, eos: boolean): void {
    const dir = this.dir(name);
    const gate = this.filterBypassed();
    if (gate === "open") {
      this.passBody(dir, chunk, eos);
      return;
    }
    if (gate === "closed") return;
    if (dir.buffering) {
      dir.held.push(chunk);
      dir.visible = concatBytes(dir.held);
    } else {
      dir.visible = chunk;
    }
    dir.callback = "body";
    const cb = name === "request" ? "proxy_on_request_body" : "proxy_on_response_body";
    const result = this.call(cb, this.id, dir.visible.length, eos ? 1 : 0);
    dir.callback = null;
    const data = dir.visible;
    dir.visible = null;
    if (result === undefined) {
      if (this.filterBypassed() === "open") this.passBody(dir, data, eos);
      return;
    }
    const status = this.takeStop() ? DataStatus.StopIterationNoBuffer : Math.min(result, DataStatus.StopIterationNoBuffer);
    if (status === DataStatus.Continue) {
      dir.held = [];
      dir.buffering = false;
      this.passBody(dir, data, eos);
    } else if (status === DataStatus.StopIterationAndBuffer || status === DataStatus.StopIterationAndWatermark) {
      dir.buffering = true;
      dir.held = [data];
      if (status === DataStatus.StopIterationAndBuffer && dir.phase !== "continued") this.checkBufferLimit(name, dir);
    } else {
      dir.buffering = false;
      dir.held = [];
    }
    this.settle();
  }

  /** Let a body chunk through: headers first if still held, then the data (and end). */
  private passBody(dir: Direction, data: Uint8Array, eos: boolean): void {
    if (dir.phase !== "continued") this.forwardHeaders(dir, false);
    this.forwardBody(dir, data);
    if (eos) {
      if (dir.trailers) dir.forwarded.trailers = dir.trailers;
      dir.forwarded.ended = true;
    }
  }

  /** Over the buffer limit with headers not continued: 413 (request) / 500 (response). */
  private checkBufferLimit(name: DirName, dir: Direction): void {
    if (dir.heldBytes() <= this.host.bufferLimitBytes) return;
    if (name === "request") this.setLocal(413, [], toBytes("Payload Too Large"), "request_payload_too_large");
    else this.setLocal(500, [], toBytes("Internal Server Error"), "response_payload_too_large");
  }

  private onTrailers(name: DirName, trailers: HeaderPairs): void {
    if (this.finished()) return;
    const dir = this.dir(name);
    if (dir.forwarded.ended) return;
    dir.trailers = lower(trailers);
    dir.endSeen = true;
    if (this.mode === "skipped") {
      dir.forwarded.trailers = dir.trailers;
      dir.forwarded.ended = true;
      return;
    }
    if (dir.phase === "stopped_all") {
      dir.trailersPending = true;
      return;
    }
    this.deliverTrailers(name);
  }

  private deliverTrailers(name: DirName): void {
    const dir = this.dir(name);
    const pass = () => {
      if (dir.phase !== "continued") this.forwardHeaders(dir, false);
      if (dir.buffering) {
        this.forwardBody(dir, concatBytes(dir.held));
        dir.held = [];
        dir.buffering = false;
      }
      dir.forwarded.trailers = dir.trailers;
      dir.forwarded.ended = true;
    };
    const gate = this.filterBypassed();
    if (gate === "open") {
      pass();
      return;
    }
    if (gate === "closed") return;
    dir.callback = "trailers";
    const cb = name === "request" ? "proxy_on_request_trailers" : "proxy_on_response_trailers";
    const result = this.call(cb, this.id, dir.trailers!.length);
    dir.callback = null;
    if (result === undefined) {
      if (this.filterBypassed() === "open") pass();
      return;
    }
    const status = this.takeStop() ? TrailersStatus.StopIteration : Math.min(result, TrailersStatus.StopIteration);
    if (status === TrailersStatus.Continue) pass();
    else dir.trailersHeld = true;
    this.settle();
  }

  private forwardHeaders(dir: Direction, endStream: boolean): void {
    dir.phase = "continued";
    dir.forwarded.headers = (dir.headers ?? []).map(([k, v]) => [k, v]);
    if (endStream) dir.forwarded.ended = true;
  }

  private forwardBody(dir: Direction, data: Uint8Array): void {
    if (data.length > 0) dir.forwarded.chunks.push(data);
  }

  private forwardedOf(dir: Direction): ForwardedMessage | null {
    if (!dir.forwarded.headers) return null;
    const body = concatBytes(dir.forwarded.chunks);
    return { headers: dir.forwarded.headers, body, bodyText: toText(body), trailers: dir.forwarded.trailers, ended: dir.forwarded.ended };
  }
}
