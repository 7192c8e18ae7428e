// Which server answered each /v1/responses request, by the answer's id, so
// that a request continuing it (`previous_response_id`) or reading it back
// (GET /v1/responses/{id}, cancel, delete) goes where it is stored
// (docs/routing.md "Responses that continue a stored one"). A server keeps
// the responses it stored in its own memory; any other answers 404.
//
// Kept in shared data (every worker of this Envoy sees every answer) as a
// KeyedBuckets map: 2,048 buckets × 16 entries, the last 32,768 answers'
// servers, each bucket dropping its oldest. The key is the id's XXH64 under
// a seed of its own; an id is never stored or logged.
import { KeyedBuckets } from "../util/keyed_buckets";
import { KeyValueStore } from "../util/store";
import { endpointId } from "../prefix/endpoint_id";
import { EndpointState } from "../pool/endpoint_state";
import { xxh64 } from "../hashing/xxhash64";

export const RESPONSE_HOLDERS_KEY_PREFIX = "llm-picker/responses/v1/";
const RESPONSE_HOLDERS_BUCKETS: i32 = 2048;
const RESPONSE_HOLDERS_ENTRIES: i32 = 16;
/** Keeps response ids' keys apart from every other map's. */
const RESPONSE_KEY_SEED: u64 = 0x6c6c6d2d72657370;

/** The map key of a response id (never 0: 0 means none elsewhere). */
export function responseKey(id: Uint8Array): u64 {
  const k = xxh64(id.dataStart, <usize>id.length, RESPONSE_KEY_SEED);
  return k != 0 ? k : 1;
}

export class ResponseHolders {
  private map: KeyedBuckets;

  constructor(store: KeyValueStore) {
    this.map = new KeyedBuckets(store, RESPONSE_HOLDERS_KEY_PREFIX, RESPONSE_HOLDERS_BUCKETS, RESPONSE_HOLDERS_ENTRIES);
  }

  /** The response `id` was answered by the endpoint whose id is `endpoint` (prefix/endpoint_id.ts). Best effort (a lost write race drops it). */
  record(id: Uint8Array, endpoint: u32): bool {
    if (id.length == 0) return false;
    return this.map.record(responseKey(id), endpoint, 0);
  }

  /** Who answered `id`, or null when this Envoy did not see it answered (or its entry was dropped). */
  holderOf(id: Uint8Array): StoredAt | null {
    if (id.length == 0) return null;
    const e = this.map.lookup(responseKey(id));
    return e != null ? new StoredAt(e.endpointId) : null;
  }
}

/** The endpoint that stores a response. */
export class StoredAt {
  constructor(public endpointId: u32) {}

  /** Its index in `states`; -1 when it is no longer among them (it left the pool, or does not serve the model). */
  indexIn(states: Array<EndpointState>): i32 {
    for (let i = 0; i < states.length; i++) if (endpointId(unchecked(states[i]).address) == this.endpointId) return i;
    return -1;
  }
}
