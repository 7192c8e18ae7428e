// One HTTP stream: strips the client's routing header, holds the headers
// while the body is buffered, asks the Router, then sets the routing header
// (or answers with an OpenAI-style error). Envoy semantics this relies on:
// StopIteration at headers needs allow_on_headers_stop_iteration; the body
// accumulates while paused and is read once at end_of_stream; header maps
// are writable only while paused; requests without a body must continue at
// headers or they hang.
import {
  BufferType,
  CONTINUE,
  STOP_AND_BUFFER,
  STOP_ITERATION,
  getBufferBytes,
  getHeader,
  getHeadersAs,
  getProperty,
  HeaderPair,
  log,
  LogLevel,
  MapType,
  nowNs,
  removeHeader,
  replaceHeader,
  replaceHeaderName,
  sendLocalResponse,
  setBufferBytes,
  setProperty,
  nowMs,
  logEnabled,
} from "./host";
import { DESTINATION_HEADER, HOP_HEADER, INSPECT_PROPERTY, ROUTE_HEADER, SCORES_HEADER, SESSION_HEADER } from "./headers";
import { RootContext } from "./root";
import { ByteWriter } from "../util/bytes";
import { HEX_DIGITS } from "../util/hex";
import { Header, RequestError } from "../request/types";
import { API_NOT_INFERENCE } from "../request/api";
import { HEADER_REQUEST_ID } from "../request/headers";
import { errorJson } from "../request/output";
import { inspectLine, Outcome, RouteResult, Router } from "../picker/route";
import { writeDecisionFields } from "../scoring/decide";


export class StreamContext {
  private decided: bool = false;
  private api: i32 = API_NOT_INFERENCE;
  /** What finish() needs once the stream ends. */
  private endpoint: string = "";
  private hashes: StaticArray<u64> = new StaticArray<u64>(0);
  private matchedBlocks: i32 = 0;
  /** Prompt blocks counted as queued prefill at the endpoint until the first response byte. */
  private pendingBlocks: i32 = 0;
  private responseStatus: i32 = 0;
  /** Fleet: a replica forwarded this request here (it carried fleet.secret): decide, never forward again. */
  private hopped: bool = false;

  constructor(public id: u32, public root: RootContext) {}

  onRequestHeaders(endOfStream: bool): u32 {
    // Never trust a client-sent routing header: it would choose the server.
    removeHeader(MapType.RequestHeaders, DESTINATION_HEADER);
    // Nor a client-made scores header: upstream it would pass for our decision.
    removeHeader(MapType.RequestHeaders, SCORES_HEADER);
    const router = this.root.router;
    if (!this.root.configured || router == null) {
      this.decided = true;
      return CONTINUE;
    }
    if (router.replicas != null) this.readHop();
    const method = getHeader(MapType.RequestHeaders, ":method");
    const path = getHeader(MapType.RequestHeaders, ":path");
    this.api = router.apiOf(method != null ? method! : "", path != null ? path! : "");
    if (endOfStream || this.api == API_NOT_INFERENCE) {
      this.decided = true;
      this.apply(router.routePassThrough(nowMs()), router);
      return CONTINUE;
    }
    return STOP_ITERATION;
  }

  onRequestBody(bodySize: u32, endOfStream: bool): u32 {
    if (this.decided) return CONTINUE;
    const router = this.root.router;
    if (router == null) return CONTINUE;
    if (<i64>bodySize > <i64>this.root.config.maxBodyBytes) {
      // Refuse as soon as the limit is passed instead of buffering on.
      this.decided = true;
      this.apply(router.tooLarge(), router);
      return STOP_AND_BUFFER;
    }
    if (!endOfStream) return STOP_AND_BUFFER;
    return this.decideBody(bodySize);
  }

  /**
   * Fleet headers: a forwarded request carries fleet.secret in the hop
   * header; any client copy of the fleet headers is removed (a client can
   * neither pose as a replica nor pick the replicas route).
   */
  private readHop(): void {
    const hop = getHeader(MapType.RequestHeaders, HOP_HEADER);
    this.hopped = hop != null && hop! == this.root.config.fleet.secret;
    if (hop != null) removeHeader(MapType.RequestHeaders, HOP_HEADER);
    removeHeader(MapType.RequestHeaders, ROUTE_HEADER);
    if (!this.hopped) removeHeader(MapType.RequestHeaders, SESSION_HEADER);
  }

  /** This replica's address as its peers know it: the address the request came in on. */
  private selfAddress(): string {
    const v = getProperty(["destination", "address"]);
    return v != null ? String.UTF8.decodeUnsafe(v!.dataStart, v!.length) : "";
  }

  /** With trailers the body never reports end_of_stream: decide here. */
  onRequestTrailers(): u32 {
    if (this.decided) return CONTINUE;
    return this.decideBody(u32.MAX_VALUE);
  }

  private decideBody(bodySize: u32): u32 {
    this.decided = true;
    const router = this.root.router;
    if (router == null) return CONTINUE;
    const started = nowNs();
    const body = getBufferBytes(BufferType.RequestBody, 0, bodySize);
    const headers = this.requestHeaders();
    const self = router.replicas != null && !this.hopped ? this.selfAddress() : "";
    const r = router.routeBody(this.api, body != null ? body! : new Uint8Array(0), headers, this.generatedRequestId(headers), nowMs(), self);
    if (r.outcome != Outcome.Reject && r.newBody != null && body != null) {
      setBufferBytes(BufferType.RequestBody, 0, body!.length, r.newBody!);
      replaceHeader(MapType.RequestHeaders, "content-length", r.newBody!.length.toString());
    }
    this.apply(r, router);
    const stats = this.root.stats;
    if (stats != null) {
      stats.decisionTime((nowNs() - started) / 1000);
      stats.syncIndexWritesAbandoned(router.index.stats.failedWrites);
    }
    return r.outcome == Outcome.Reject ? STOP_AND_BUFFER : CONTINUE;
  }

  /** Request headers for the structured request (names are lower-case in Envoy). */
  private requestHeaders(): Array<Header> {
    return getHeadersAs<Header>(MapType.RequestHeaders);
  }

  /** A request id when the client sent none (generated and set upstream, as the upstream picker does). */
  private generatedRequestId(headers: Array<Header>): string {
    for (let i = 0; i < headers.length; i++) if (unchecked(headers[i]).name == HEADER_REQUEST_ID && unchecked(headers[i]).value.length > 0) return "";
    const id = uuid4();
    replaceHeader(MapType.RequestHeaders, HEADER_REQUEST_ID, id);
    return id;
  }

  private apply(r: RouteResult, router: Router): void {
    const stats = this.root.stats;
    if (this.root.config.inspect) {
      const w = new ByteWriter(1024);
      inspectLine(r, router.blocks.blockSize, w);
      setProperty(INSPECT_PROPERTY, w.view());
    }
    if (r.outcome == Outcome.Reject) {
      if (stats != null) stats.rejected(r.status);
      this.sendError(r.status, r.error!);
      return;
    }
    if (r.outcome == Outcome.Forward) {
      // To the owning replica through the replicas route (Maglev on the session header).
      replaceHeaderName(MapType.RequestHeaders, SESSION_HEADER, r.sessionKey);
      replaceHeaderName(MapType.RequestHeaders, HOP_HEADER, this.root.config.fleet.secret);
      replaceHeaderName(MapType.RequestHeaders, ROUTE_HEADER, "fleet");
      if (stats != null) stats.forwarded();
      return;
    }
    if (r.endpoint.length == 0) {
      // No decision (pool membership not known yet): Envoy's fallback balancing routes it.
      if (stats != null) stats.passedTo("");
      return;
    }
    replaceHeaderName(MapType.RequestHeaders, DESTINATION_HEADER, r.endpoint);
    this.endpoint = r.endpoint;
    this.hashes = r.hashes;
    this.matchedBlocks = r.matchedBlocks;
    this.pendingBlocks = r.pendingBlocks;
    if (this.root.config.debugHeaders && r.decision != null) {
      const w = new ByteWriter(512);
      w.byte(0x7b);
      writeDecisionFields(w, r.decision!, r.states);
      w.byte(0x7d);
      replaceHeader(MapType.RequestHeaders, SCORES_HEADER, String.UTF8.decodeUnsafe(w.view().dataStart, w.length));
    }
    if (stats == null) return;
    if (r.outcome == Outcome.Pass) stats.passedTo(r.endpoint);
    else {
      const d = r.decision;
      stats.routedTo(r.endpoint, r.matchedBlocks, r.hashes.length, d != null && d.guardFired, d != null && d.loadOverrodeAffinity);
    }
    if (logEnabled(LogLevel.Debug)) log(LogLevel.Debug, "llm_picker: routed to " + r.endpoint + " (" + r.matchedBlocks.toString() + "/" + r.hashes.length.toString() + " prefix blocks held)");
  }

  private sendError(status: i32, err: RequestError): void {
    const w = new ByteWriter(256);
    errorJson(err, w);
    const headers = new Array<HeaderPair>();
    headers.push(new HeaderPair("content-type", "application/json"));
    sendLocalResponse(<u32>status, "llm_picker_" + err.code, w.toBytes(), headers);
  }

  onResponseHeaders(endOfStream: bool): u32 {
    const s = getHeader(MapType.ResponseHeaders, ":status");
    if (s != null) this.responseStatus = I32.parseInt(s!);
    return CONTINUE;
  }

  /**
   * The first response byte means the server has finished this request's
   * prefill (a stream's first event carries the first token); a body-less or
   * non-streamed response gets there at its end instead (onDone).
   */
  onResponseBody(bodySize: u32, endOfStream: bool): u32 {
    if (bodySize > 0 && this.pendingBlocks > 0) {
      const router = this.root.router;
      if (router != null) router.prefillDone(this.endpoint, this.pendingBlocks);
      this.pendingBlocks = 0;
    }
    return CONTINUE;
  }

  onLog(): void {}

  /** Every way a stream ends comes here once (completion, resets, timeouts, local replies). */
  onDone(): void {
    const router = this.root.router;
    if (router == null || this.endpoint.length == 0) return;
    // 5xx, or no response at all (reset before headers): no credit for new blocks.
    const failed = this.responseStatus == 0 || this.responseStatus >= 500;
    router.finish(this.endpoint, this.hashes, this.matchedBlocks, failed, this.pendingBlocks);
    this.pendingBlocks = 0;
    const stats = this.root.stats;
    if (stats != null) stats.syncIndexWritesAbandoned(router.index.stats.failedWrites);
    this.endpoint = "";
  }

  onDelete(): void {}
}

const UUID_BYTES = memory.data(36);

/** A random (version 4) UUID; Math.random is seeded from WASI random_get. Built in place: one string per id. */
function uuid4(): string {
  for (let i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      store<u8>(UUID_BYTES + <usize>i, 0x2d);
      continue;
    }
    let v = <i32>(Math.random() * 16.0) & 15;
    if (i == 14) v = 4;
    else if (i == 19) v = (v & 3) | 8;
    store<u8>(UUID_BYTES + <usize>i, <u8>HEX_DIGITS.charCodeAt(v));
  }
  return String.UTF8.decodeUnsafe(UUID_BYTES, 36);
}
