// Endpoints in the prefix index and the in-flight records are 32-bit ids:
// XXH64 of the "ip:port" string, memoised.
import { utf8 } from "../util/bytes";
import { IdentityCache } from "../util/identity_cache";
import { xxh64Bytes } from "../hashing/xxhash64";

/**
 * Ids computed so far: a request asks for each endpoint's id several times
 * (pool states, in-flight counts at start and end, index match and record),
 * and each computation encoded the address anew. Addresses come from the
 * configuration, so the memo stays small; it stops growing at ID_MEMO_MAX.
 */
const ID_MEMO_MAX: i32 = 4096;
const idMemo = new Map<string, u32>();
/** The same, by the address string's identity (the pool's own strings recur). */
const recentIds = new IdentityCache<u32>();

/** 32-bit endpoint id of an "ip:port" string. */
export function endpointId(endpoint: string): u32 {
  if (recentIds.has(endpoint)) return recentIds.get(endpoint);
  let id: u32;
  if (idMemo.has(endpoint)) id = idMemo.get(endpoint);
  else {
    id = <u32>xxh64Bytes(utf8(endpoint));
    if (idMemo.size < ID_MEMO_MAX) idMemo.set(endpoint, id);
  }
  recentIds.set(endpoint, id);
  return id;
}
