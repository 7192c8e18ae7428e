// What one routing decision produced (Router in route.ts), read by the glue
// (assembly/filter/stream.ts), the stats and the debug headers.
import { RequestError, LLMRequest } from "../request/types";
import { Decision } from "../scoring/decide";
import { EndpointState } from "../pool/endpoint_state";

export enum Outcome {
  /** Not an inference call: forwarded to an endpoint picked on load only. */
  Pass = 0,
  /** Parsed and routed. */
  Route = 1,
  /** Refused with an OpenAI-style error (400, 413, 429, 503). */
  Reject = 2,
  /** Another replica of the fleet owns the session: sent there (fleet.cluster). */
  Forward = 3,
}

/** What a request that names a stored response (previous_response_id, or a GET or cancel of one) met: RouteResult.stored. */
export enum Stored {
  /** It names none. */
  None = 0,
  /** Routed to the endpoint that stores it. */
  Followed = 1,
  /** This Envoy did not see it answered, or its endpoint is gone or unhealthy: routed as any other request. */
  Unknown = 2,
}

/** Shared by every result and stream without hashes (a zero-length array cannot be written). */
export const NO_HASHES = new StaticArray<u64>(0);

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
  hashes: StaticArray<u64> = NO_HASHES;
  /** Blocks of this request the chosen endpoint already held (prefix stats). */
  matchedBlocks: i32 = 0;
  /** Prompt blocks the chosen endpoint has to prefill (queued there until the first response byte). */
  pendingBlocks: i32 = 0;
  /** Prompt blocks queued at the chosen endpoint ahead of this request, and when it was routed (ms): its prefill pace at the first token. */
  aheadBlocks: i32 = 0;
  routedAtMs: i64 = 0;
  /** The chosen endpoint's written-blocks clock after this request's writes (its index stamp). */
  routedClock: u32 = 0;
  /** A chat, or a responses request sent as items: the key its end is recorded under (TurnEnds: its rendering's last whole block's hash, or cutTurnKey for a rendering cut at maxBlocks); 0: none. */
  endKey: u64 = 0;
  /** The endpoint (an index in `states`) whose match its previous turn's end weighed, its reply's credit included (TurnEnds.judgePrevious); -1: none. */
  judgedEndpoint: i32 = -1;
  /**
   * The chosen endpoint's batch was full when it was routed: its first token
   * waited for a place as well as for prefill, so it measures no prefill pace.
   */
  waitsForPlace: bool = false;
  /** The body asked for a streamed response (`stream: true`). */
  streamed: bool = false;
  /** Its key among the requests decoding at the endpoint (pool/decode_ends.ts); 0: not recorded (no max_tokens). */
  decodeKey: u32 = 0;
  /** The most output tokens the body asked for (ParsedBody.maxTokens; 0: not given). */
  maxTokens: i32 = 0;
  decision: Decision | null = null;
  states: Array<EndpointState> = [];
  /** Forward: the session key (16 hex digits, the value Maglev hashes) and the replica expected to own it. */
  sessionKey: string = "";
  replica: string = "";
  /** The index left out entries of this request's prefix that an endpoint has had written over since (docs/hashing.md "Evictions"). */
  evictionsSeen: bool = false;
  /** Decisions made again: another worker changed the in-flight value between a decision's read and its write. */
  redecided: i32 = 0;
  /** Fleet: a placement hint credited an endpoint with more of the request than the index knew. */
  hintCredited: bool = false;
  /** Fleet: the placement hint (fleet/placements.ts format) sent with a forwarded request, or returned with a hopped one's response; "" for none. */
  placement: string = "";
  /** Whether the request names a stored response, and whether it went where that is stored. */
  stored: Stored = Stored.None;
  /** A /v1/responses request routed: its answer's id is read from the response body and recorded (responseAnswered). */
  recordsResponseId: bool = false;
}

/** What a trusted forwarding replica sent with a hopped request (docs/fleet.md "Placement hints"). */
export class Hop {
  constructor(
    /** The session key header (16 hex digits). */
    public session: string,
    /** The placement header ("" when the first hop knew none). */
    public placement: string,
  ) {}
}
