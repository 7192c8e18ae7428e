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
  getBufferBytesScratch,
  getHeader,
  getHeadersNamedAs,
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
import { DESTINATION_HEADER, HOP_HEADER, INSPECT_PROPERTY, LOCAL_REPLY_MARKER, PLACEMENT_HEADER, ROUTE_HEADER, SCORES_HEADER, SESSION_HEADER, UPSTREAM_HEADER } from "./headers";
import { RootContext } from "./root";
import { ByteWriter } from "../util/bytes";
import { hexDigit } from "../util/hex";
import { Header, RequestError } from "../request/types";
import { FirstTokenScanner } from "../request/first_token";
import { ResponseIdScanner } from "../request/response_id";
import { API_NOT_INFERENCE } from "../request/api";
import { HEADER_REQUEST_ID, PICKER_HEADERS } from "../request/headers";
import { errorJson } from "../request/output";
import { Router } from "../picker/route";
import { Hop, NO_HASHES, Outcome, RouteResult } from "../picker/route_result";
import { inspectLine } from "../picker/inspect";
import { parsePlacement } from "../fleet/placements";
import { writeDecisionFields } from "../scoring/decide";
import { Pcg32 } from "../scoring/rng";
import { reportHeap } from "./heap";
import { HeaderPairs } from "./header_pairs";

/** Seconds a client should wait before retrying a 429 or 503 (about a scrape cycle and a recovery). */
const RETRY_AFTER_SECONDS = "1";

export class StreamContext {
  private decided: bool = false;
  private api: i32 = API_NOT_INFERENCE;
  /** What finish() needs once the stream ends. */
  private endpoint: string = "";
  private hashes: StaticArray<u64> = NO_HASHES;
  private matchedBlocks: i32 = 0;
  /** Prompt blocks counted as queued prefill at the endpoint until the first response byte. */
  private pendingBlocks: i32 = 0;
  /** Blocks queued ahead of this request at its endpoint, and when it was routed (the pace measured at its first token). */
  private aheadBlocks: i32 = 0;
  /** Its endpoint's batch was full when it was routed (RouteResult.waitsForPlace). */
  private waitsForPlace: bool = false;
  private routedAtMs: i64 = 0;
  /** Its endpoint's written-blocks clock when it was routed (RouteResult.routedClock); < 0: none. */
  private routedClock: i64 = -1;
  /** RouteResult.endKey (0: none). */
  private endKey: u64 = 0;
  /** The request asked for a streamed response (`stream: true`). */
  private streamed: bool = false;
  /** When its first token came back (ms), for the slot hold; 0: not seen (or not streamed). */
  private firstTokenAtMs: i64 = 0;
  /** RouteResult.decodeKey and maxTokens: its entry among the decoding requests (0: none) and the output tokens it asked for. */
  private decodeKey: u32 = 0;
  private maxTokens: i32 = 0;
  /** Reads a /v1/responses stream's first events for its first token (null for the other APIs: their first byte is it). */
  private firstToken: FirstTokenScanner | null = null;
  /** Reads a /v1/responses answer's id, recorded with the server that gave it (Router.responseAnswered); null once done or not wanted. */
  private responseId: ResponseIdScanner | null = null;
  /** The member that served the request as its response headers said (noteFailedPick); "" before them or unknown. */
  private served: string = "";
  /** Fleet: the endpoint id the owner's placement hint named for a request forwarded there (0: none). */
  private placedId: u32 = 0;
  private responseStatus: i32 = 0;
  /** Fleet: a replica forwarded this request here (it carried fleet.secret): decide, never forward again. */
  private hopped: bool = false;
  /** Fleet: what the forwarding replica sent with a hopped request. */
  private hop: Hop | null = null;
  /** Fleet: the session key of a request forwarded to its owner (its response says where the owner sent it). */
  private forwardedSession: string = "";
  /** Fleet: the placement to return with a hopped request's response. */
  private placement: string = "";
  /** The request's x-request-id (the client's, or generated here); echoed in the response. */
  private requestId: string = "";
  /** The request headers the picker reads (PICKER_HEADERS), taken from the header read at onRequestHeaders; null: read them at the body. */
  private pickerHeaders: Array<Header> | null = null;

  constructor(public id: u32, public root: RootContext) {}

  onRequestHeaders(endOfStream: bool): u32 {
    // The whole map in one host call; every header below is looked up in it.
    const pairs = HeaderPairs.read(MapType.RequestHeaders);
    // Never trust a client-sent routing header: it would choose the server.
    removeIfSent(pairs, DESTINATION_HEADER);
    // Nor a client-made scores header: upstream it would pass for our decision.
    removeIfSent(pairs, SCORES_HEADER);
    // Nor its claim that a reply is the filter's own (Envoy would then leave its plain-text errors unconverted).
    removeIfSent(pairs, LOCAL_REPLY_MARKER);
    this.ensureRequestId(pairs);
    // A request: this VM's idle ticks (if it was sleeping) go back to every tickMs.
    this.root.wake();
    const router = this.root.router;
    if (!this.root.configured || router == null) {
      this.decided = true;
      return CONTINUE;
    }
    if (router.replicas != null) this.readHop(pairs);
    const method = firstOf(pairs, MapType.RequestHeaders, ":method");
    const path = firstOf(pairs, MapType.RequestHeaders, ":path");
    this.api = router.apiOf(method != null ? method! : "", path != null ? path! : "");
    if (pairs != null) this.pickerHeaders = pickerHeadersOf(pairs!);
    if (endOfStream || this.api == API_NOT_INFERENCE) {
      this.decided = true;
      this.apply(router.routePassThrough(nowMs(), path != null ? path! : ""), router);
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
   * header. All three are removed on arrival, whoever sent them: a client's
   * copy (it can neither pose as a replica nor pick the replicas route) and
   * a forwarding replica's (they are the fleet's own business: the owner
   * decides from the body, and nothing of the fleet reaches a model
   * server). The filter sets them again only on a request it forwards.
   */
  private readHop(pairs: HeaderPairs | null): void {
    const hop = firstOf(pairs, MapType.RequestHeaders, HOP_HEADER);
    this.hopped = hop != null && hop! == this.root.config.fleet.secret;
    if (hop != null) removeHeader(MapType.RequestHeaders, HOP_HEADER);
    removeIfSent(pairs, ROUTE_HEADER);
    if (this.hopped) {
      const session = firstOf(pairs, MapType.RequestHeaders, SESSION_HEADER);
      const placement = firstOf(pairs, MapType.RequestHeaders, PLACEMENT_HEADER);
      this.hop = new Hop(session != null ? session! : "", placement != null ? placement! : "");
    }
    removeIfSent(pairs, SESSION_HEADER);
    removeIfSent(pairs, PLACEMENT_HEADER);
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
    // Read into the reused scratch buffer: the decision below is the body's only reader.
    const body = getBufferBytesScratch(BufferType.RequestBody, 0, bodySize);
    const headers = this.requestHeaders();
    const self = router.replicas != null && !this.hopped ? this.selfAddress() : "";
    // The decision's clock is the one its timing started with (one host call less).
    const r = router.routeBody(this.api, body != null ? body! : new Uint8Array(0), headers, this.requestId, <i64>(started / 1_000_000), self, this.hop);
    if (r.outcome != Outcome.Reject && r.newBody != null && body != null) {
      setBufferBytes(BufferType.RequestBody, 0, body!.length, r.newBody!);
      replaceHeader(MapType.RequestHeaders, "content-length", r.newBody!.length.toString());
    }
    this.apply(r, router);
    const stats = this.root.stats;
    if (stats != null) {
      stats.decisionTime((nowNs() - started) / 1000);
      stats.syncIndexWritesAbandoned(router.index.stats.failedWrites);
      stats.syncIndexBytes(router.index.stats.valueBytes);
    }
    return r.outcome == Outcome.Reject ? STOP_AND_BUFFER : CONTINUE;
  }

  /** The request headers the picker reads, for the structured request (names are lower-case in Envoy). */
  private requestHeaders(): Array<Header> {
    const kept = this.pickerHeaders;
    return kept != null ? kept! : getHeadersNamedAs<Header>(MapType.RequestHeaders, PICKER_HEADERS);
  }

  /**
   * The client's x-request-id, or a generated one set on the request (so the
   * server sees it) and returned with the response. Envoy's connection
   * manager usually generates one first (generate_request_id); this covers
   * deployments where it does not.
   */
  private ensureRequestId(pairs: HeaderPairs | null): void {
    const sent = firstOf(pairs, MapType.RequestHeaders, HEADER_REQUEST_ID);
    if (sent != null && sent!.length > 0) {
      this.requestId = sent!;
      return;
    }
    this.requestId = requestIds.next();
    replaceHeader(MapType.RequestHeaders, HEADER_REQUEST_ID, this.requestId);
  }

  private apply(r: RouteResult, router: Router): void {
    this.applyResult(r, router);
    // Batched counters (Stats) reach Envoy on the root's next tick.
    const stats = this.root.stats;
    if (stats != null && stats.hasPending) this.root.flushSoon();
  }

  private applyResult(r: RouteResult, router: Router): void {
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
      if (r.placement.length > 0) replaceHeaderName(MapType.RequestHeaders, PLACEMENT_HEADER, r.placement);
      this.forwardedSession = r.sessionKey;
      if (r.recordsResponseId) this.responseId = new ResponseIdScanner();
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
    this.aheadBlocks = r.aheadBlocks;
    this.waitsForPlace = r.waitsForPlace;
    this.routedAtMs = r.routedAtMs;
    this.routedClock = <i64>r.routedClock;
    this.endKey = r.endKey;
    this.decodeKey = r.decodeKey;
    this.maxTokens = r.maxTokens;
    this.streamed = r.streamed;
    const req = r.request;
    if (r.streamed && r.pendingBlocks > 0 && req != null && FirstTokenScanner.readsBody(req.body.api)) this.firstToken = new FirstTokenScanner(req.body.api);
    if (r.recordsResponseId) this.responseId = new ResponseIdScanner();
    this.placement = r.placement;
    if (this.root.config.debugHeaders && r.decision != null) {
      const w = new ByteWriter(512);
      w.byte(0x7b);
      writeDecisionFields(w, r.decision!, r.states);
      w.byte(0x7d);
      replaceHeader(MapType.RequestHeaders, SCORES_HEADER, String.UTF8.decodeUnsafe(w.view().dataStart, w.length));
    }
    if (stats == null) return;
    if (r.hintCredited) stats.placementHint();
    stats.decidedAgain(r.redecided);
    stats.storedResponse(r.stored);
    if (r.outcome == Outcome.Pass) stats.passedTo(r.endpoint);
    else {
      const d = r.decision;
      stats.routedTo(r.endpoint, r.matchedBlocks, r.hashes.length, d != null && d.guardFired, d != null && d.loadOverrodeAffinity, r.evictionsSeen);
    }
    if (logEnabled(LogLevel.Debug)) log(LogLevel.Debug, "llm_picker: routed to " + r.endpoint + " (" + r.matchedBlocks.toString() + "/" + r.hashes.length.toString() + " prefix blocks held)");
  }

  private sendError(status: i32, err: RequestError): void {
    const w = new ByteWriter(256);
    errorJson(err, w);
    const headers = new Array<HeaderPair>();
    headers.push(new HeaderPair("content-type", "application/json"));
    if (this.requestId.length > 0) headers.push(new HeaderPair(HEADER_REQUEST_ID, this.requestId));
    if (status == 429 || status == 503) headers.push(new HeaderPair("retry-after", RETRY_AFTER_SECONDS));
    replaceHeader(MapType.RequestHeaders, LOCAL_REPLY_MARKER, "1");
    sendLocalResponse(<u32>status, "llm_picker_" + err.code, w.toBytes(), headers);
  }

  onResponseHeaders(endOfStream: bool): u32 {
    const pairs = HeaderPairs.read(MapType.ResponseHeaders);
    const s = firstOf(pairs, MapType.ResponseHeaders, ":status");
    if (s != null) this.responseStatus = I32.parseInt(s!);
    // Only a successful answer stores a response to follow.
    if (this.responseStatus < 200 || this.responseStatus >= 300) this.responseId = null;
    this.noteFailedPick(pairs);
    const router = this.root.router;
    if (router != null && router.replicas != null) this.exchangePlacement(pairs);
    // Return the request's id to the client unless the server already did.
    if (this.requestId.length > 0 && !sent(pairs, MapType.ResponseHeaders, HEADER_REQUEST_ID)) {
      replaceHeader(MapType.ResponseHeaders, HEADER_REQUEST_ID, this.requestId);
    }
    return CONTINUE;
  }

  /**
   * Fleet placement hints on the way back (docs/fleet.md "Placement
   * hints"): the owner returns where it sent a hopped request; the first
   * hop remembers it for the session and removes it, so it never reaches
   * a client.
   */
  private exchangePlacement(pairs: HeaderPairs | null): void {
    if (this.forwardedSession.length > 0) {
      const placed = firstOf(pairs, MapType.ResponseHeaders, PLACEMENT_HEADER);
      if (placed == null) return;
      removeHeader(MapType.ResponseHeaders, PLACEMENT_HEADER);
      const router = this.root.router;
      if (router != null && this.responseStatus > 0 && this.responseStatus < 500) router.notePlacement(this.forwardedSession, placed!);
      const p = parsePlacement(placed!);
      if (p != null) this.placedId = p.endpointId;
      return;
    }
    if (!this.hopped) return;
    if (this.placement.length > 0) replaceHeader(MapType.ResponseHeaders, PLACEMENT_HEADER, this.placement);
    else removeIfSent(pairs, PLACEMENT_HEADER, MapType.ResponseHeaders);
  }

  /**
   * The first response byte means the server has finished this request's
   * prefill (a stream's first event carries the first token); a body-less or
   * non-streamed response gets there at its end instead (onDone).
   */
  onResponseBody(bodySize: u32, endOfStream: bool): u32 {
    if (bodySize == 0) return CONTINUE;
    // One read of the chunk serves both scanners; none when neither is reading.
    const chunk = this.responseId != null || this.firstToken != null ? getBufferBytesScratch(BufferType.ResponseBody, 0, bodySize) : null;
    if (chunk != null) this.readResponseId(chunk);
    // A response that is not streamed comes whole once generation is over:
    // its first byte is (within microseconds) its end, so its prefill is
    // released in onDone together with the in-flight count, in one
    // shared-data update instead of two.
    if (this.pendingBlocks > 0 && this.streamed && !endOfStream) {
      if (!this.firstTokenIn(chunk)) return CONTINUE;
      const router = this.root.router;
      const now = nowMs();
      if (router != null) router.prefillDone(this.endpoint, this.pendingBlocks, this.aheadBlocks, this.routedAtMs, now, this.waitsForPlace, this.decodeKey);
      this.pendingBlocks = 0;
      this.firstTokenAtMs = now;
    }
    return CONTINUE;
  }

  /**
   * Whether this response body chunk holds or follows the first token. A
   * /v1/responses stream sends lifecycle events before the prefill ends, so
   * its chunks are read until another event comes (request/first_token.ts);
   * for the other APIs the first byte is the first token, nothing is read.
   */
  private firstTokenIn(chunk: Uint8Array | null): bool {
    const scanner = this.firstToken;
    if (scanner == null || chunk == null) return true;
    if (!scanner.seen(chunk)) return false;
    this.firstToken = null;
    return true;
  }

  /** A /v1/responses answer's id, once its first bytes hold it, is recorded with the member that served it. */
  private readResponseId(chunk: Uint8Array): void {
    const scanner = this.responseId;
    if (scanner == null || !scanner.feed(chunk)) return;
    this.responseId = null;
    const id = scanner.id;
    const router = this.root.router;
    // Routed here: the member that served it; forwarded: the server the owner's placement hint names.
    const at = this.endpoint.length == 0 ? "" : this.served.length > 0 ? this.served : this.endpoint;
    if (id != null && router != null) router.responseAnswered(id, at, this.placedId);
  }

  /**
   * Passive health: the endpoint we picked failed this request when Envoy
   * served it from another member, i.e. retried it after a refused
   * connection or a 5xx from our pick (envoy/envoy.yaml retry_policy). A
   * 5xx or reset with no retry is left to the scrapes (the server may just
   * have dropped one request). Only for routed requests.
   */
  private noteFailedPick(pairs: HeaderPairs | null): void {
    const served = this.servedBy(pairs);
    this.served = served;
    const router = this.root.router;
    if (router == null || this.endpoint.length == 0 || served.length == 0) return;
    if (served != this.endpoint) router.requestFailed(this.endpoint, nowMs());
  }

  /**
   * The member that served the request ("" when none or unknown). Envoy's
   * route can name it in UPSTREAM_HEADER (envoy/envoy.yaml:
   * response_headers_to_add with %UPSTREAM_HOST%, overwriting any copy a
   * server sent): then it is in the response's header map, read anyway,
   * and is removed from every response (it names a server). Without it,
   * a routed request asks Envoy for the upstream.address property, a host
   * call that costs more than the rest of the response path
   * (docs/benchmarks.md "Fifth pass").
   */
  private servedBy(pairs: HeaderPairs | null): string {
    const named = firstOf(pairs, MapType.ResponseHeaders, UPSTREAM_HEADER);
    if (named != null) {
      removeHeader(MapType.ResponseHeaders, UPSTREAM_HEADER);
      // A response without an upstream host (a local reply) formats it as "-".
      return named! == "-" ? "" : named!;
    }
    if (this.endpoint.length == 0 || this.root.router == null) return "";
    const v = getProperty(UPSTREAM_ADDRESS);
    return v != null && v!.length > 0 ? String.UTF8.decodeUnsafe(v!.dataStart, v!.length) : "";
  }

  onLog(): void {}

  /** Every way a stream ends comes here once (completion, resets, timeouts, local replies). */
  onDone(): void {
    reportHeap();
    const router = this.root.router;
    if (router == null || this.endpoint.length == 0) return;
    // 5xx, or no response at all (reset before headers): no credit for new blocks.
    const failed = this.responseStatus == 0 || this.responseStatus >= 500;
    // How long it ran after its first token: the place it held in the batch.
    const holdMs = !failed && this.firstTokenAtMs > 0 ? nowMs() - this.firstTokenAtMs : 0;
    router.finish(this.endpoint, this.hashes, this.matchedBlocks, failed, this.pendingBlocks, holdMs, this.routedClock, this.endKey, this.decodeKey, this.maxTokens);
    this.decodeKey = 0;
    this.pendingBlocks = 0;
    this.routedClock = -1;
    this.endKey = 0;
    this.firstTokenAtMs = 0;
    const stats = this.root.stats;
    if (stats != null) {
      stats.syncIndexWritesAbandoned(router.index.stats.failedWrites);
      stats.syncIndexBytes(router.index.stats.valueBytes);
    }
    this.endpoint = "";
  }

  onDelete(): void {}
}

/**
 * Request ids in the UUID version 4 format, from a per-VM PRNG seeded once
 * from the host's randomness: one 128-bit draw and 36 byte writes per id,
 * instead of 32 Math.random calls and string concatenations. Unique enough
 * to correlate logs; not a secret.
 */
class RequestIds {
  private rng: Pcg32 | null = null;
  private readonly text: Uint8Array = new Uint8Array(36);

  next(): string {
    let rng = this.rng;
    if (rng == null) {
      rng = new Pcg32(<u64>(Math.random() * 9007199254740991.0), <u64>(Math.random() * 9007199254740991.0));
      this.rng = rng;
    }
    const hi = (<u64>rng.nextU32() << 32) | <u64>rng.nextU32();
    const lo = (<u64>rng.nextU32() << 32) | <u64>rng.nextU32();
    // Version 4 in nibble 12, variant 10xx in nibble 16.
    const a = (hi & 0xffffffffffff0fff) | 0x0000000000004000;
    const b = (lo & 0x3fffffffffffffff) | 0x8000000000000000;
    const t = this.text;
    let at = 0;
    for (let i = 0; i < 16; i++) {
      if (i == 4 || i == 6 || i == 8 || i == 10) unchecked((t[at++] = 0x2d));
      const byte = <u32>(i < 8 ? (a >> (<u64>(56 - i * 8))) & 0xff : (b >> (<u64>(56 - (i - 8) * 8))) & 0xff);
      unchecked((t[at++] = hexDigit(byte >> 4)));
      unchecked((t[at++] = hexDigit(byte & 15)));
    }
    return String.UTF8.decodeUnsafe(t.dataStart, 36);
  }
}

/** The first value of `name`: from the map read once, or (it could not be read) by its own host call. */
function firstOf(pairs: HeaderPairs | null, map: MapType, name: string): string | null {
  return pairs != null ? pairs.first(name) : getHeader(map, name);
}

function sent(pairs: HeaderPairs | null, map: MapType, name: string): bool {
  return pairs != null ? pairs.has(name) : getHeader(map, name) != null;
}

/** Removes a header the sender must not set; no host call when the map read shows it absent. */
function removeIfSent(pairs: HeaderPairs | null, name: string, map: MapType = MapType.RequestHeaders): void {
  if (pairs == null || pairs.has(name)) removeHeader(map, name);
}

/** The pairs named in PICKER_HEADERS, in the map's order (every occurrence, as the map read at the body gave them). */
function pickerHeadersOf(pairs: HeaderPairs): Array<Header> {
  const out = new Array<Header>();
  for (let i = 0; i < pairs.count; i++) {
    for (let w = 0; w < PICKER_HEADERS.length; w++) {
      const name = unchecked(PICKER_HEADERS[w]);
      if (!pairs.nameIs(i, name)) continue;
      out.push(new Header(name, pairs.valueAt(i)));
      break;
    }
  }
  return out;
}

/** The member Envoy actually sent the request to (after any retries). */
const UPSTREAM_ADDRESS: Array<string> = ["upstream", "address"];
const requestIds = new RequestIds();
