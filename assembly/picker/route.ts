// The routing decision for one request, as a pure function of the request,
// the configuration and the shared state (a KeyValueStore). The glue
// (assembly/filter/stream.ts) only moves bytes between Envoy and this.
//
// Flow:
//   body → parseBody → LLMRequest → block hashes → prefix index match
//   → pool states (published metrics + in-flight) → scorers/picker
//   → in-flight increment (decided again when another worker wrote since
//     the read) → index record → routing header.
import { Config } from "../config/types";
import { KeyValueStore } from "../util/store";
import { Api, Header, LLMRequest, RequestError } from "../request/types";
import { detectApi } from "../request/api";
import { bodyTooLargeError } from "../request/errors";
import { forwardedBody, toLLMRequest } from "../request/llm_request";
import { Hop, Outcome, RouteResult, Stored } from "./route_result";
import { parseBody } from "../request/parse";
import { ValidatedPrefixes } from "../request/validated_prefixes";
import { BlockConfig } from "../hashing/blocks";
import { hashRequest, renderedWholeBlocks, replyEndBlock, replyStartBlock } from "../hashing/render";
import { hex64 } from "../util/hex";
import { PrefixIndex } from "../prefix/prefix_index";
import { bucketEntriesFor, PrefixIndexConfig } from "../prefix/index_config";
import { endpointId } from "../prefix/endpoint_id";
import { EndpointState } from "../pool/endpoint_state";
import { clocksOf, evictionHorizon, horizonsOf } from "./evictions";
import { TurnEnds } from "./turn_ends";
import { turnsOf } from "./turns";
import { ResponseHolders, StoredAt } from "./response_holders";
import { responseIdInPath } from "../request/response_id";
import { Decision, decide, STATUS_ROUTE } from "../scoring/decide";
import { ScoringConfig } from "../scoring/config";
import { PastHashed, ScoringRequest } from "../scoring/scorer";
import { Pcg32 } from "../scoring/rng";
import { discountPendingMatches, estimateDrained, poolPace, prefillPace, PromptSize } from "./prefill_running";
import { estimateSlotWait, mostSlots, waitsForPlace } from "./slot_wait";
import { DecodeChange } from "../pool/decode_ends";
import { changeInFlight, InFlightDelta, penalize, readInFlight, writeDecided, Written } from "../pool/in_flight";
import { poolStates, publishedState, readStates } from "../pool/shared_state";
import { FLEET_MEMBERS_KEY, MEMBERS_KEY, Pool, PoolView } from "../pool/members";
import { Labels } from "../pool/labels";
import { MaglevTable } from "../fleet/maglev";
import { sessionKey } from "../fleet/session";
import { formatPlacement, parsePlacement, parseSessionKey, Placement, SessionPlacements } from "../fleet/placements";
import { adapterOf, creditPlacement, creditReply, fractions, placementOf, priorityOf, promptBlocksOf } from "./scoring_inputs";

/** Per-VM router: owns the prefix index handle and the tie-break PRNG. */
export class Router {
  readonly index: PrefixIndex;
  readonly blocks: BlockConfig;
  readonly scoring: ScoringConfig;
  /** The static endpoint list, or the Envoy cluster's published membership. */
  readonly pool: Pool;
  /** The fleet's replicas (fleet.cluster), or null without a fleet. */
  readonly replicas: Pool | null;
  private maglev: MaglevTable | null = null;
  private maglevOf: PoolView | null = null;
  /** Fleet: where the sessions this replica saw went (null without a fleet). */
  readonly placements: SessionPlacements | null;
  /** Where and when chat requests ended (null without followEvictions). */
  private readonly turnEnds: TurnEnds | null;
  private rng: Pcg32;
  /** Keys of this VM's requests among the decoding ones (pool/decode_ends.ts). */
  private decodeKeys: Pcg32;
  /** Starts of bodies that parsed: a body that begins with one is not checked there again. */
  private validated: ValidatedPrefixes;
  /** Count a chat's previous reply as cached with the previous turn (prefix.creditReplies; never in the seed profile). */
  private readonly creditReplies: bool;
  /** Count only what each endpoint has not evicted since (prefix.followEvictions; never in the seed profile). */
  private readonly followEvictions: bool;
  /** Start a small prompt on an idle endpoint rather than queue behind its first prefill (prefix.spreadFirstPrefills; never in the seed profile). */
  private readonly spreadFirstPrefills: bool;
  /** Requests this VM has sent to an endpoint (the scraper's "traffic since the last scrape"). */
  routedCount: i64 = 0;
  /** Which server answered each /v1/responses request (previous_response_id and GETs follow it). */
  private readonly responses: ResponseHolders;

  /** `instance`: differs between VMs (decode keys unique across workers even with a configured seed). */
  constructor(public config: Config, public store: KeyValueStore, seed: u64, instance: u64) {
    this.blocks = BlockConfig.of(config.prefix.blockSize, config.prefix.maxBlocks, config.prefix.hashTrailingBlock);
    const ic = new PrefixIndexConfig();
    ic.blocksPerEndpoint = config.prefix.capacityPerEndpoint;
    ic.maxEndpoints = config.prefix.maxEndpoints;
    ic.bucketEntries = bucketEntriesFor(ic.groupBlocks, ic.maxEndpoints);
    this.index = new PrefixIndex(store, ic);
    this.responses = new ResponseHolders(store);
    this.scoring = config.scoring;
    this.creditReplies = config.prefix.creditReplies && config.scoring.profile.name != "seed";
    this.followEvictions = config.prefix.followEvictions && config.scoring.profile.name != "seed";
    this.spreadFirstPrefills = config.prefix.spreadFirstPrefills && config.scoring.profile.name != "seed";
    this.rng = new Pcg32(seed);
    this.decodeKeys = new Pcg32(seed ^ instance ^ 0x2545f4914f6cdd1d);
    // Its own seed: the table's hashes must not be guessable from the picks.
    this.validated = new ValidatedPrefixes(seed ^ 0x9e3779b97f4a7c15);
    const addresses = new Array<string>();
    const labels = new Array<Labels>();
    for (let i = 0; i < config.endpoints.length; i++) {
      addresses.push(unchecked(config.endpoints[i]).address);
      labels.push(unchecked(config.endpoints[i]).labels);
    }
    this.pool = new Pool(store, addresses, config.pool.cluster.length > 0, MEMBERS_KEY, labels);
    this.replicas = config.fleet.cluster.length > 0 ? new Pool(store, [], true, FLEET_MEMBERS_KEY) : null;
    this.placements = this.replicas != null ? new SessionPlacements(store) : null;
    this.turnEnds = this.followEvictions && config.prefix.enabled ? new TurnEnds(store) : null;
  }

  /** Which API a request is for (or API_NOT_INFERENCE / API_BY_SHAPE). */
  apiOf(method: string, path: string): i32 {
    return detectApi(method, path);
  }

  /**
   * A request that is not parsed: picked on load only, never refused unless
   * the pool is empty; one that reads or cancels a stored response
   * (`…/v1/responses/{id}…` in `path`) goes where that is stored.
   */
  routePassThrough(nowMs: i64, path: string = ""): RouteResult {
    const r = new RouteResult();
    r.outcome = Outcome.Pass;
    const id = path.length > 0 ? responseIdInPath(path) : null;
    // Decided again when another worker changed the in-flight value in between, as a parsed request is.
    for (let attempt = 1; !this.decidePassThrough(r, id, nowMs, attempt >= DECISIONS_PER_REQUEST); attempt++) r.redecided = attempt;
    return r;
  }

  /**
   * One decision for a request that is not parsed (routePassThrough); false
   * when the in-flight value changed between its read and its write, and
   * nothing was written. With `last` the count is written onto whatever
   * came first.
   */
  private decidePassThrough(r: RouteResult, id: Uint8Array | null, nowMs: i64, last: bool): bool {
    const inflight = readInFlight(this.store);
    const pool = this.pool.current();
    // Membership not read yet (the first poll after start): no routing
    // header, so Envoy balances over the cluster it already knows.
    if (pool.addresses.length == 0 && !this.pool.known()) return true;
    r.states = poolStates(pool.addresses, readStates(this.store), inflight, nowMs, this.config.metrics.staleAfterMs, this.config.metrics.enabled, pool.usable);
    const sreq = new ScoringRequest();
    if (id != null) sreq.storedAt = storedIndex(this.responses.holderOf(id), r.states);
    const d = decide(r.states, sreq, this.scoring, this.rng);
    r.stored = storedOutcome(id != null, d);
    r.decision = d;
    if (d.status != STATUS_ROUTE || d.chosen < 0) {
      reject(r, d.status, d.reason);
      return true;
    }
    const address = unchecked(r.states[d.chosen]).address;
    const change = new InFlightDelta();
    change.count = 1;
    if (writeDecided(this.store, address, change, inflight.value, last) == Written.DecideAgain) return false;
    r.endpoint = address;
    this.routedCount++;
    return true;
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

  /**
   * The replica that owns a session key as Envoy's Maglev over the usable
   * replicas sees it ("" while the replicas are unknown). The table is
   * rebuilt only when the published membership changes.
   */
  ownerOf(key: string): string {
    const replicas = this.replicas;
    if (replicas == null) return "";
    const view = replicas.current();
    if (view !== this.maglevOf) {
      const usable = new Array<string>();
      for (let i = 0; i < view.addresses.length; i++) if (unchecked(view.usable[i])) usable.push(unchecked(view.addresses[i]));
      this.maglev = new MaglevTable(usable);
      this.maglevOf = view;
    }
    const table = this.maglev;
    return table != null ? table.ownerOf(key) : "";
  }

  /**
   * A buffered inference request body. `self` is this replica's address as
   * the fleet's replicas cluster lists it, when the request may be forwarded
   * (a fleet is configured and the request has not hopped yet); "" otherwise.
   * `hop`: what the forwarding replica sent with a request that hopped here.
   */
  routeBody(api: i32, body: Uint8Array, headers: Array<Header>, generatedId: string, nowMs: i64, self: string = "", hop: Hop | null = null): RouteResult {
    if (body.length > this.config.maxBodyBytes) return this.tooLarge();
    const r = new RouteResult();
    const validated = this.validated;
    const parsed = parseBody(body, api, validated.trustedPrefix(body));
    if (parsed.error != null) {
      r.outcome = Outcome.Reject;
      r.status = parsed.error!.status;
      r.error = parsed.error;
      return r;
    }
    validated.remember(body);
    const p = parsed.parsed!;
    const req = toLLMRequest(p, headers, generatedId);
    r.request = req;
    r.streamed = p.stream;
    r.maxTokens = p.maxTokens;
    r.newBody = forwardedBody(body, p, headers, req);
    // Fleet: the session (0 outside a fleet) and where it was last seen going.
    let session: u64 = 0;
    let hint: Placement | null = null;
    const placements = this.placements;
    const stored = this.continued(req);
    // Fleet: a continuation whose response this replica saw answered is decided here, where it is known.
    if (self.length > 0 && this.replicas != null && stored == null) {
      session = sessionKey(req);
      const key = hex64(session);
      const owner = this.ownerOf(key);
      // Owned here, or no replica known yet: decided here (no hop).
      if (owner.length > 0 && owner != self) {
        r.outcome = Outcome.Forward;
        // Its answer's id is recorded here too, with the server the owner names: the client may continue through this replica.
        r.recordsResponseId = req.body.api == Api.Responses;
        r.sessionKey = key;
        r.replica = owner;
        const seen = placements != null ? placements.lookup(session) : null;
        if (seen != null) r.placement = formatPlacement(seen);
        return r;
      }
    } else if (hop != null && placements != null) {
      session = parseSessionKey(hop.session);
      hint = hop.placement.length > 0 ? parsePlacement(hop.placement) : null;
    }
    if (hint == null && session != 0 && placements != null) hint = placements.lookup(session);
    if (this.config.prefix.enabled) r.hashes = hashRequest(req, this.blocks);
    const c = new ToDecide(req, headers, session, hint, stored, hop, nowMs);
    c.promptBlocks = promptBlocksOf(body.length, this.blocks.blockSize, r.hashes.length);
    // The workers decide at once on one shared view: a decision whose write finds the
    // in-flight value changed since it read it is made again on the new value, so that
    // two workers do not both send a request to the server that was idle before either
    // (docs/routing.md "Workers deciding at once").
    for (let attempt = 1; !this.decideBody(r, c, attempt >= DECISIONS_PER_REQUEST); attempt++) r.redecided = attempt;
    return r;
  }

  /**
   * One decision for a parsed request (routeBody), its result in `r`.
   * Returns false when the in-flight value changed between this decision's
   * read and its write: nothing was written or recorded, decide again. With
   * `last` its change is written onto whatever came first, as every other
   * change is.
   */
  private decideBody(r: RouteResult, c: ToDecide, last: bool): bool {
    const prefixOn = this.config.prefix.enabled;
    const req = c.req;
    const inflight = readInFlight(this.store);
    // Only the members that serve this model, when members name their models.
    const pool = this.pool.current().servingModel(req.targetModel);
    const addresses = pool.addresses;
    if (addresses.length == 0 && !this.pool.known()) {
      r.outcome = Outcome.Pass; // as above: Envoy balances until the first membership read
      return true;
    }
    r.states = poolStates(addresses, readStates(this.store), inflight, c.nowMs, this.config.metrics.staleAfterMs, this.config.metrics.enabled, pool.usable);
    const matched = prefixOn ? this.matchIndex(r.hashes, addresses, r.states) : new Int32Array(addresses.length);
    r.evictionsSeen = prefixOn && this.index.lastEvicted > 0;
    const hint = c.hint;
    if (hint != null && prefixOn) r.hintCredited = creditPlacement(matched, addresses, hint, r.hashes.length, this.index);
    // After the placement: where this replica saw the last turn end, that end knows more than the hint.
    const past = prefixOn ? this.judgeLastTurn(r, req, matched) : null;
    // The endpoint whose match the turn's end weighed has its reply's credit in it already.
    if (prefixOn && this.creditReplies) creditReply(matched, replyStartBlock(), replyEndBlock(), r.hashes.length, r.judgedEndpoint);
    const prompt = new PromptSize(r.hashes.length, c.promptBlocks, this.blocks.blockSize);
    prompt.past = past;
    // What the index credits, before matches on prefills still running are discounted (null: none were).
    let credited: Int32Array | null = null;
    if (prefixOn && this.spreadFirstPrefills) {
      credited = discountPendingMatches(matched, r.states, this.index, c.nowMs, this.scoring.bound.waitRatio, prompt);
    }
    const pace = poolPace(r.states);
    const slots = mostSlots(r.states);
    estimateDrained(r.states, c.nowMs, pace);
    estimateSlotWait(r.states, pace, slots, prompt, credited != null ? credited : matched, inflight, c.nowMs);
    const sreq = new ScoringRequest();
    sreq.priority = priorityOf(c.headers);
    sreq.adapter = adapterOf(req.targetModel, r.states);
    if (prefixOn) {
      sreq.prefixScores = fractions(matched, r.hashes.length);
      sreq.matchedBlocks = matched;
      sreq.creditedBlocks = credited;
    }
    sreq.hashedBlocks = r.hashes.length;
    // A fleet's replicas each learn a shared prefix on their own: agree on where a new one goes.
    if (this.replicas != null && prefixOn) sreq.placement = placementOf(r.hashes, addresses, matched);
    sreq.promptBlocks = c.promptBlocks;
    sreq.pastHashed = past;
    const continues = continuesResponse(req);
    if (continues) sreq.storedAt = storedIndex(c.stored, r.states);
    const d = decide(r.states, sreq, this.scoring, this.rng);
    r.decision = d;
    r.stored = storedOutcome(continues, d);
    r.recordsResponseId = req.body.api == Api.Responses;
    if (d.status != STATUS_ROUTE || d.chosen < 0) {
      reject(r, d.status, d.reason);
      return true;
    }
    const chosen = unchecked(r.states[d.chosen]);
    // The blocks it holds or is prefilling: only the rest is queued there.
    const matchedThere = unchecked((credited != null ? credited : matched)[d.chosen]);
    const pending = prompt.uncachedAt(matchedThere, d.chosen);
    // What this request makes the server write to its cache advances the server's clock.
    const written = <u32>max(0, pending);
    const change = new InFlightDelta();
    change.count = 1;
    change.blocks = pending;
    change.written = written;
    change.prompt = <u32>max(0, c.promptBlocks);
    change.nowMs = c.nowMs;
    // A queue the decision took as drained: this request's blocks start draining now (InFlightDelta.queueCreditMs).
    if (chosen.drainedMs > 0) change.queueCreditMs = chosen.drainedMs;
    // Recorded among the decoding requests when it says how long it will run (docs/routing.md "When places free").
    const key = r.maxTokens > 0 ? max<u32>(this.decodeKeys.nextU32(), 1) : 0;
    if (key != 0) change.decode = DecodeChange.add(key, c.nowMs, r.maxTokens);
    const wrote = writeDecided(this.store, chosen.address, change, inflight.value, last);
    if (wrote == Written.DecideAgain) return false;
    r.outcome = Outcome.Route;
    r.endpoint = chosen.address;
    r.matchedBlocks = matchedThere;
    r.pendingBlocks = pending;
    if (wrote == Written.Counted) r.decodeKey = key;
    // What it waits behind, for the pace its first token measures: the queue as this decision saw it,
    // not blocks already prefilled whose first bytes are not back yet (they would read as a faster pace).
    r.aheadBlocks = <i32>Math.round(chosen.queuedBlocks);
    r.routedAtMs = c.nowMs;
    r.routedClock = chosen.writtenBlocks + written;
    r.waitsForPlace = waitsForPlace(chosen, slots);
    this.recordRoute(r, c);
    return true;
  }

  /** A decision that stands: its blocks indexed at its endpoint, and a fleet session's placement. */
  private recordRoute(r: RouteResult, c: ToDecide): void {
    // Indexed at pick time, as upstream (PreRequest); the response corrects it (forget).
    if (r.hashes.length > 0) this.index.record(r.hashes, r.endpoint, r.routedClock);
    const placements = this.placements;
    if (c.session != 0 && placements != null) {
      // All blocks but the last: it may be partial, and then the next turn's block there differs.
      const placed = new Placement(endpointId(r.endpoint), r.hashes.length - 1);
      placements.record(c.session, placed);
      if (c.hop != null) r.placement = formatPlacement(placed);
    }
    this.routedCount++;
  }

  /** Where the response a /v1/responses request continues (previous_response_id) was answered; null: none, or not seen here. */
  private continued(req: LLMRequest): StoredAt | null {
    return continuesResponse(req) ? this.responses.holderOf(req.body.responses!.previousResponseId!) : null;
  }

  /**
   * The answer to a /v1/responses request has the id `id`: later requests
   * naming it go where it was served. `endpoint`: the member that served it
   * ("ip:port"); or, for a request this replica forwarded to its session's
   * owner, "" and `placedId`, the endpoint id the owner's placement hint
   * named.
   */
  responseAnswered(id: Uint8Array, endpoint: string, placedId: u32 = 0): void {
    if (endpoint.length > 0) this.responses.record(id, endpointId(endpoint));
    else if (placedId != 0) this.responses.record(id, placedId);
  }

  /** The index's match, counting only what each endpoint has not evicted since (followEvictions). */
  private matchIndex(hashes: StaticArray<u64>, addresses: Array<string>, states: Array<EndpointState>): Int32Array {
    if (!this.followEvictions) return this.index.match(hashes, addresses);
    return this.index.match(hashes, addresses, clocksOf(states), horizonsOf(states, this.blocks.blockSize));
  }

  /** The eviction horizon the index applies to `s` (docs/hashing.md "Evictions"), 0 when none. */
  horizonOf(s: EndpointState): u32 {
    return this.followEvictions ? evictionHorizon(s, this.blocks.blockSize) : 0;
  }

  /**
   * The owner of a session this replica forwarded answered where it sent
   * it (the placement header of its response): remembered, so that this
   * replica can pass it on, or use it if it becomes the session's owner.
   * Malformed values are ignored (the header crossed the network).
   */
  notePlacement(sessionHex: string, placement: string): void {
    const placements = this.placements;
    if (placements == null) return;
    const session = parseSessionKey(sessionHex);
    const p = parsePlacement(placement);
    if (session != 0 && p != null) placements.record(session, p!);
  }

  /**
   * The first response byte came back from `endpoint`: the request's prefill
   * is done there, so its blocks no longer queue ahead of new requests. Its
   * time since routing gives a prefill pace unless it also waited for a
   * place in a full batch (`waitedForPlace`): that wait is not prefill, and
   * a pace that counted it would make the busiest servers look the slowest
   * to prefill, and their waits for a place the shortest in blocks.
   * `decodeKey`: its RouteResult.decodeKey (0: not recorded); its entry
   * among the decoding requests runs from now.
   */
  prefillDone(endpoint: string, pendingBlocks: i32, aheadBlocks: i32, routedAtMs: i64, nowMs: i64, waitedForPlace: bool, decodeKey: u32): void {
    if (endpoint.length == 0 || pendingBlocks <= 0) return;
    const change = new InFlightDelta();
    change.blocks = -pendingBlocks;
    change.nowMs = nowMs;
    if (!waitedForPlace) change.pace = prefillPace(pendingBlocks, aheadBlocks, routedAtMs, nowMs);
    if (decodeKey != 0) change.decode = DecodeChange.start(decodeKey, nowMs);
    changeInFlight(this.store, endpoint, change, null);
  }

  /**
   * A conversation's previous turn (a chat's, or a responses request's sent
   * as items) judges its match at the endpoint where it ended
   * (TurnEnds.judgePrevious, kept as r.judgedEndpoint); its own end's key
   * is kept. Returns who holds the prompt past its hashed blocks (null:
   * unknown).
   */
  private judgeLastTurn(r: RouteResult, req: LLMRequest, matched: Int32Array): PastHashed | null {
    const ends = this.turnEnds;
    if (ends == null) return null;
    const turns = turnsOf(req.body);
    if (turns == null) return null;
    const replyEnd = this.creditReplies ? replyEndBlock() : 0;
    r.judgedEndpoint = ends.judgePrevious(matched, r.states, r.hashes, replyStartBlock(), replyEnd);
    r.endKey = ends.endKeyOf(r.hashes, renderedWholeBlocks(), this.blocks, turns);
    return ends.pastHashed(matched, r.states, r.hashes, this.blocks, turns);
  }

  /**
   * The stream ended. `failed`: the endpoint answered 5xx or the stream was
   * reset before a response; it then keeps no credit for the blocks this
   * request added: a server that failed did not cache them. `holdMs`: how
   * long it ran after its first token (0: unknown), averaged into the
   * endpoint's slot hold. `routedClock`: its RouteResult.routedClock (< 0:
   * unknown); what the clock advanced since is what the server wrote while
   * it ran (docs/hashing.md "Evictions"). `endKey`: its RouteResult.endKey
   * (0: none), under which a chat's end is recorded (TurnEnds). `decodeKey`
   * and `maxTokens`: its RouteResult's (0: none); its entry among the
   * decoding requests goes, and the hold over the tokens it asked for is
   * averaged into the endpoint's ms per token.
   */
  finish(endpoint: string, hashes: StaticArray<u64>, matchedBlocks: i32, failed: bool, pendingBlocks: i32, holdMs: i64, routedClock: i64, endKey: u64, decodeKey: u32, maxTokens: i32): void {
    if (endpoint.length == 0) return;
    // Blocks released only now (no streamed first token) say nothing of when
    // the next prefill started: the prefill-since time stays as it is.
    const change = new InFlightDelta();
    change.count = -1;
    change.blocks = pendingBlocks > 0 ? -pendingBlocks : 0;
    change.holdMs = <f64>holdMs;
    if (holdMs > 0 && maxTokens > 0) change.tokenMs = <f64>holdMs / <f64>maxTokens;
    if (decodeKey != 0) change.decode = DecodeChange.end(decodeKey);
    if (!failed && routedClock >= 0) {
      change.routedClock = <u32>routedClock;
      change.hasRoutedClock = true;
    }
    const changed = changeInFlight(this.store, endpoint, change, null);
    const ends = this.turnEnds;
    // The free part of its cache now is what its history queues behind there: one read of the published states.
    if (!failed && changed && endKey != 0 && ends != null) ends.record(endKey, endpoint, change.clockAfter, publishedState(this.store, endpoint), this.blocks.blockSize);
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
    penalize(this.store, endpoint, nowMs + this.config.metrics.staleAfterMs);
  }
}

/**
 * Decisions one request may take when the in-flight value keeps changing
 * under them: the last one writes its change onto whatever came first.
 */
const DECISIONS_PER_REQUEST: i32 = 3;

/** What a decision of a parsed request uses besides the shared state: fixed across its attempts (Router.decideBody). */
class ToDecide {
  /** Blocks of the whole prompt (promptBlocksOf). */
  promptBlocks: i32 = 0;
  constructor(
    public req: LLMRequest,
    public headers: Array<Header>,
    /** The fleet session (0 outside a fleet). */
    public session: u64,
    /** Where the session was last seen going (a hop's placement or this replica's). */
    public hint: Placement | null,
    /** Where the response it continues was answered. */
    public stored: StoredAt | null,
    /** What the forwarding replica sent, when it hopped here. */
    public hop: Hop | null,
    public nowMs: i64,
  ) {}
}

/** Whether a request names the stored response it continues (`previous_response_id`). */
function continuesResponse(req: LLMRequest): bool {
  const body = req.body.responses;
  return req.body.api == Api.Responses && body != null && body.previousResponseId != null;
}

/** Where a named stored response was answered, as an index in `states` (ScoringRequest.storedAt); -1: not seen here, or that endpoint is gone. */
function storedIndex(at: StoredAt | null, states: Array<EndpointState>): i32 {
  return at != null ? at.indexIn(states) : -1;
}

/** What a request that named a stored response (`named`) met: decide took its endpoint alone (followed), or it was routed as any other. */
function storedOutcome(named: bool, d: Decision): Stored {
  return !named ? Stored.None : d.followedStored ? Stored.Followed : Stored.Unknown;
}

function reject(r: RouteResult, status: i32, reason: string): RouteResult {
  r.outcome = Outcome.Reject;
  r.status = status;
  r.error = new RequestError(status, reason, "", status == 429 ? "system_saturated" : "no_endpoints");
  return r;
}
