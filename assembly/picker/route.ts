// The routing decision for one request, as a pure function of the request,
// the configuration and the shared state (a KeyValueStore). The glue
// (assembly/filter/stream.ts) only moves bytes between Envoy and this.
//
// Flow:
//   body → parseBody → LLMRequest → block hashes → prefix index match
//   → pool states (published metrics + in-flight) → scorers/picker
//   → index record + in-flight increment → routing header.
import { Config } from "../config/types";
import { KeyValueStore } from "../util/store";
import { ByteWriter } from "../util/bytes";
import { Header, LLMRequest, ParsedBody, RequestError } from "../request/types";
import { detectApi } from "../request/api";
import { bodyTooLargeError } from "../request/errors";
import { HEADER_MODEL_REWRITE, HEADER_PRIORITY } from "../request/headers";
import { rewriteModel, toLLMRequest } from "../request/llm_request";
import { parseBody } from "../request/parse";
import { errorJson, requestJson } from "../request/output";
import { BlockConfig } from "../hashing/blocks";
import { hashRequest } from "../hashing/render";
import { hex64 } from "../util/hex";
import { PrefixIndex, PrefixIndexConfig } from "../prefix/prefix_index";
import { EndpointState } from "../pool/endpoint_state";
import { Decision, decide, STATUS_ROUTE, writeDecisionFields } from "../scoring/decide";
import { ScoringConfig } from "../scoring/config";
import { ScoringRequest } from "../scoring/scorer";
import { Pcg32 } from "../scoring/rng";
import { addInFlight, penalize, poolStates, readInFlight, readPenalties, readStates } from "../pool/shared_state";

export enum Outcome {
  /** Not an inference call: forwarded to an endpoint picked on load only. */
  Pass = 0,
  /** Parsed and routed. */
  Route = 1,
  /** Refused with an OpenAI-style error (400, 413, 429, 503). */
  Reject = 2,
}

export class RouteResult {
  outcome: Outcome = Outcome.Pass;
  /** HTTP status for Reject. */
  status: i32 = 0;
  /** The OpenAI error object for Reject. */
  error: RequestError | null = null;
  /** Chosen "ip:port" ("" when none). */
  endpoint: string = "";
  /** The body to forward when it changed (model rewrite), else null. */
  newBody: Uint8Array | null = null;
  request: LLMRequest | null = null;
  hashes: StaticArray<u64> = new StaticArray<u64>(0);
  /** Blocks of this request the chosen endpoint already held (prefix stats). */
  matchedBlocks: i32 = 0;
  decision: Decision | null = null;
  states: Array<EndpointState> = [];
}

/** Per-VM router: owns the prefix index handle and the tie-break PRNG. */
export class Router {
  readonly index: PrefixIndex;
  readonly blocks: BlockConfig;
  readonly scoring: ScoringConfig;
  private rng: Pcg32;
  private addresses: Array<string> = [];

  constructor(public config: Config, public store: KeyValueStore, seed: u64) {
    this.blocks = BlockConfig.of(config.prefix.blockSize, config.prefix.maxBlocks, config.prefix.hashTrailingBlock);
    const ic = new PrefixIndexConfig();
    ic.blocksPerEndpoint = config.prefix.capacityPerEndpoint;
    ic.maxEndpoints = config.prefix.maxEndpoints;
    this.index = new PrefixIndex(store, ic);
    this.scoring = config.scoring;
    this.rng = new Pcg32(seed);
    for (let i = 0; i < config.endpoints.length; i++) this.addresses.push(unchecked(config.endpoints[i]).address);
  }

  /** Which API a request is for (or API_NOT_INFERENCE / API_BY_SHAPE). */
  apiOf(method: string, path: string): i32 {
    return detectApi(method, path);
  }

  /** A request that is not parsed: picked on load only, never refused unless the pool is empty. */
  routePassThrough(nowMs: i64): RouteResult {
    const r = new RouteResult();
    r.outcome = Outcome.Pass;
    const inflight = readInFlight(this.store);
    r.states = poolStates(this.addresses, readStates(this.store), inflight, nowMs, this.config.metrics.staleAfterMs, this.config.metrics.enabled, readPenalties(this.store));
    const d = decide(r.states, new ScoringRequest(), this.scoring, this.rng);
    r.decision = d;
    if (d.status != STATUS_ROUTE || d.chosen < 0) return reject(r, d.status, d.reason);
    r.endpoint = unchecked(r.states[d.chosen]).address;
    addInFlight(this.store, r.endpoint, 1, inflight.value);
    return r;
  }

  /** The 413 for a body past maxBodyBytes, decided before the whole body is buffered. */
  tooLarge(): RouteResult {
    const r = new RouteResult();
    const e = bodyTooLargeError(this.config.maxBodyBytes);
    r.outcome = Outcome.Reject;
    r.status = e.status;
    r.error = e;
    return r;
  }

  /** A buffered inference request body. */
  routeBody(api: i32, body: Uint8Array, headers: Array<Header>, generatedId: string, nowMs: i64): RouteResult {
    if (body.length > this.config.maxBodyBytes) return this.tooLarge();
    const r = new RouteResult();
    const parsed = parseBody(body, api);
    if (parsed.error != null) {
      r.outcome = Outcome.Reject;
      r.status = parsed.error!.status;
      r.error = parsed.error;
      return r;
    }
    const p = parsed.parsed!;
    const req = toLLMRequest(p, headers, generatedId);
    r.request = req;
    r.newBody = forwardedBody(body, p, headers, req);
    const prefixOn = this.config.prefix.enabled;
    if (prefixOn) r.hashes = hashRequest(req, this.blocks);

    const inflight = readInFlight(this.store);
    r.states = poolStates(this.addresses, readStates(this.store), inflight, nowMs, this.config.metrics.staleAfterMs, this.config.metrics.enabled, readPenalties(this.store));
    const matched = prefixOn ? this.index.match(r.hashes, this.addresses) : new Int32Array(this.addresses.length);
    const sreq = new ScoringRequest();
    sreq.priority = priorityOf(headers);
    sreq.adapter = adapterOf(req.targetModel, r.states);
    if (prefixOn) sreq.prefixScores = fractions(matched, r.hashes.length);
    const d = decide(r.states, sreq, this.scoring, this.rng);
    r.decision = d;
    if (d.status != STATUS_ROUTE || d.chosen < 0) return reject(r, d.status, d.reason);
    r.outcome = Outcome.Route;
    r.endpoint = unchecked(r.states[d.chosen]).address;
    r.matchedBlocks = unchecked(matched[d.chosen]);
    // Indexed at pick time, as upstream (PreRequest); the response corrects it (forget).
    if (r.hashes.length > 0) this.index.record(r.hashes, r.endpoint, nowMs);
    addInFlight(this.store, r.endpoint, 1, inflight.value);
    return r;
  }

  /**
   * The stream ended. `failed`: the endpoint answered 5xx or the stream was
   * reset before a response; it then keeps no credit for the blocks this
   * request added: a server that failed did not cache them.
   */
  finish(endpoint: string, hashes: StaticArray<u64>, matchedBlocks: i32, failed: bool): void {
    if (endpoint.length == 0) return;
    addInFlight(this.store, endpoint, -1, null);
    if (failed && hashes.length > matchedBlocks) this.index.forget(hashes, matchedBlocks, endpoint);
  }

  /**
   * A request sent to `endpoint` failed there: it answered 5xx, or Envoy had
   * to retry the request on another member. The endpoint is left out of
   * decisions for staleAfterMs (as long as a stale scrape would), whatever
   * its scrapes say.
   */
  requestFailed(endpoint: string, nowMs: i64): void {
    if (endpoint.length == 0) return;
    penalize(this.store, endpoint, nowMs + this.config.metrics.staleAfterMs, nowMs);
  }
}

function reject(r: RouteResult, status: i32, reason: string): RouteResult {
  r.outcome = Outcome.Reject;
  r.status = status;
  r.error = new RequestError(status, reason, "", status == 429 ? "system_saturated" : "no_endpoints");
  return r;
}

function fractions(matched: Int32Array, total: i32): Float64Array {
  const out = new Float64Array(matched.length);
  if (total == 0) return out;
  for (let i = 0; i < matched.length; i++) unchecked((out[i] = <f64>unchecked(matched[i]) / <f64>total));
  return out;
}

/** Sheddable when x-gateway-inference-priority is a negative integer. */
function priorityOf(headers: Array<Header>): i32 {
  for (let i = 0; i < headers.length; i++) {
    const h = unchecked(headers[i]);
    if (h.name != HEADER_PRIORITY) continue;
    const v = h.value.trim();
    if (v.length < 2 || v.charCodeAt(0) != 0x2d) return 0;
    let nonZero = false; // "-0" is zero, not negative: not sheddable
    for (let j = 1; j < v.length; j++) {
      const c = v.charCodeAt(j);
      if (c < 0x30 || c > 0x39) return 0;
      if (c != 0x30) nonZero = true;
    }
    return nonZero ? -1 : 0;
  }
  return 0;
}

/**
 * The LoRA adapter the request names. The model field names either a base
 * model or an adapter, and only the servers know which: we treat it as an
 * adapter when some endpoint reports it among its running or waiting
 * adapters, so base-model requests are not scored on adapter slots.
 */
function adapterOf(model: string, states: Array<EndpointState>): string {
  for (let i = 0; i < states.length; i++) {
    const s = unchecked(states[i]);
    if (!s.hasLoras) continue;
    if (s.runningLoras.includes(model) || s.waitingLoras.includes(model)) return model;
  }
  return "";
}

/** The body to forward: unchanged unless x-gateway-model-name-rewrite asks for another model. */
function forwardedBody(body: Uint8Array, p: ParsedBody, headers: Array<Header>, req: LLMRequest): Uint8Array | null {
  for (let i = 0; i < headers.length; i++) {
    const h = unchecked(headers[i]);
    if (h.name == HEADER_MODEL_REWRITE && h.value.length > 0) return rewriteModel(body, p.modelSpan, req.targetModel);
  }
  return null;
}


/** The `inspect` line (README "Inspect a decision"). */
export function inspectLine(r: RouteResult, blockSize: i32, out: ByteWriter): void {
  if (r.outcome == Outcome.Reject) {
    out.str('{"decision":"reject","status":');
    out.str(r.status.toString());
    out.str(',"error":');
    // errorJson writes {"error":{...}}; the contract wants the inner object here.
    const w = new ByteWriter(256);
    errorJson(r.error!, w);
    const b = w.view();
    // strip the outer {"error": and the final }
    const prefixLen = 9;
    if (b.length > prefixLen + 1) out.raw(b.dataStart + prefixLen, b.length - prefixLen - 1);
    else out.str("null");
    out.byte(0x7d);
    return;
  }
  if (r.outcome == Outcome.Pass) {
    out.str('{"decision":"pass"');
  } else {
    out.str('{"decision":"route","request":');
    requestJson(r.request!, out);
    out.str(',"prefix":{"blockSize":');
    out.str(blockSize.toString());
    out.str(',"hashes":[');
    for (let i = 0; i < r.hashes.length; i++) {
      if (i > 0) out.byte(0x2c);
      out.byte(0x22);
      out.str(hex64(unchecked(r.hashes[i])));
      out.byte(0x22);
    }
    out.str("]}");
  }
  const d = r.decision;
  if (d != null) {
    out.byte(0x2c);
    writeDecisionFields(out, d!, r.states);
  }
  out.byte(0x7d);
}
