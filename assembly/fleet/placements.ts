// Where each session's last turn went, as this replica saw it: the hint a
// fleet passes along so that a session's new owner (after a replica died,
// or joined) finds the server that already holds the conversation instead
// of prefilling it again elsewhere (docs/fleet.md "Placement hints").
//
// A replica records a placement for every session it sees a decision of:
// the ones it decides (as owner) and the ones it forwards (the owner
// answers with its choice in the placement header). Requests reach
// replicas through a random L4 spread, so after a few turns more than one
// replica knows where a session lives, and the one that takes it over
// usually does, or hears it from the first hop that forwards the request.
//
// Kept in shared data (one view for the VM's workers) under a fixed key
// space: PLACEMENT_BUCKETS keys of at most PLACEMENT_ENTRIES 16-byte
// entries (session key, endpoint id, prompt blocks), most recent first;
// a full bucket drops its oldest. Shared data has no delete and no expiry,
// so nothing here is keyed per session. A value that is not a whole number
// of entries (another layout, a torn write) reads as empty.
import { KeyValueStore, STORE_CAS_MISMATCH, STORE_OK } from "../util/store";
import { hexDigit } from "../util/hex";

export const PLACEMENT_KEY_PREFIX = "llm-picker/fleet/v1/placed/";
/** 1,024 buckets × 16 entries: the last placement of 16,384 sessions. */
export const PLACEMENT_BUCKETS: i32 = 1024;
export const PLACEMENT_ENTRIES: i32 = 16;
const ENTRY_BYTES: i32 = 16;
const CAS_RETRIES: i32 = 4;
/** Blocks are capped so a hint can never claim more than a prompt can hash (prefix.maxBlocks is far below). */
export const MAX_PLACED_BLOCKS: i32 = 1 << 20;

export class Placement {
  constructor(public endpointId: u32, public blocks: i32) {}
}

/** The last placement of each session this replica saw, in a KeyValueStore. */
export class SessionPlacements {
  private keys: Array<string> = new Array<string>(PLACEMENT_BUCKETS);

  constructor(private store: KeyValueStore) {
    for (let i = 0; i < PLACEMENT_BUCKETS; i++) unchecked((this.keys[i] = PLACEMENT_KEY_PREFIX + i.toString()));
  }

  private keyOf(session: u64): string {
    return unchecked(this.keys[<i32>((session >> 32) % <u64>PLACEMENT_BUCKETS)]);
  }

  /** Where `session` last went, or null when this replica never saw it (or forgot it). */
  lookup(session: u64): Placement | null {
    const v = this.store.get(this.keyOf(session));
    if (!v.found) return null;
    const n = entriesIn(v.bytes);
    for (let i = 0; i < n; i++) {
      const at = v.bytes.dataStart + <usize>(i * ENTRY_BYTES);
      if (load<u64>(at) == session) return new Placement(load<u32>(at, 8), <i32>load<u32>(at, 12));
    }
    return null;
  }

  /**
   * `session` went to `endpointId` with a prompt of `blocks` blocks. Best
   * effort: after CAS_RETRIES lost races the placement is dropped (a hint
   * is an optimisation; the index stays the truth). Returns whether it was
   * written.
   */
  record(session: u64, placed: Placement): bool {
    const key = this.keyOf(session);
    const endpointId = placed.endpointId;
    const b = <u32>clampBlocks(placed.blocks);
    for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
      const v = this.store.get(key);
      const old = v.found ? v.bytes : new Uint8Array(0);
      const n = entriesIn(old);
      if (n > 0 && load<u64>(old.dataStart) == session && load<u32>(old.dataStart, 8) == endpointId && load<u32>(old.dataStart, 12) == b) return true;
      const next = withFirst(old, n, session, endpointId, b);
      const status = this.store.set(key, next, v.found ? v.cas : 0);
      if (status == STORE_OK) return true;
      if (status != STORE_CAS_MISMATCH) return false;
    }
    return false;
  }
}

function entriesIn(v: Uint8Array): i32 {
  if (v.length % ENTRY_BYTES != 0) return 0;
  const n = v.length / ENTRY_BYTES;
  return n < PLACEMENT_ENTRIES ? n : PLACEMENT_ENTRIES;
}

/** The bucket with this session's entry first, its older entry (if any) removed, the oldest dropped when full. */
function withFirst(old: Uint8Array, n: i32, session: u64, endpointId: u32, blocks: u32): Uint8Array {
  let kept = 0;
  const out = new Uint8Array(min(n + 1, PLACEMENT_ENTRIES) * ENTRY_BYTES);
  store<u64>(out.dataStart, session);
  store<u32>(out.dataStart, endpointId, 8);
  store<u32>(out.dataStart, blocks, 12);
  for (let i = 0; i < n && kept + 1 < PLACEMENT_ENTRIES; i++) {
    const from = old.dataStart + <usize>(i * ENTRY_BYTES);
    if (load<u64>(from) == session) continue;
    memory.copy(out.dataStart + <usize>((kept + 1) * ENTRY_BYTES), from, <usize>ENTRY_BYTES);
    kept++;
  }
  return kept + 1 == out.length / ENTRY_BYTES ? out : out.slice(0, (kept + 1) * ENTRY_BYTES);
}

function clampBlocks(blocks: i32): i32 {
  if (blocks < 0) return 0;
  return blocks > MAX_PLACED_BLOCKS ? MAX_PLACED_BLOCKS : blocks;
}

/**
 * The placement header's value: the endpoint id in 8 hex digits, a space,
 * the prompt blocks in decimal ("0a1b2c3d 42"). Ids, not addresses: both
 * replicas compute them from the same pool, and the value stays short.
 */
export function formatPlacement(p: Placement): string {
  let s = "";
  for (let shift: i32 = 28; shift >= 0; shift -= 4) s += String.fromCharCode(hexDigit((p.endpointId >> (<u32>shift)) & 0xf));
  return s + " " + clampBlocks(p.blocks).toString();
}

/** Parses formatPlacement's output; null for anything else (the header crosses the network). */
export function parsePlacement(s: string): Placement | null {
  if (s.length < 10 || s.length > 17 || s.charCodeAt(8) != 0x20) return null;
  let id: u32 = 0;
  for (let i = 0; i < 8; i++) {
    const d = lowerHexValue(s.charCodeAt(i));
    if (d < 0) return null;
    id = (id << 4) | <u32>d;
  }
  let blocks: i64 = 0;
  for (let i = 9; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return null;
    blocks = blocks * 10 + <i64>(c - 0x30);
  }
  if (blocks > <i64>MAX_PLACED_BLOCKS) return null;
  return new Placement(id, <i32>blocks);
}

/** Parses a session key as the session header carries it (16 lower-case hex digits); 0 when malformed. */
export function parseSessionKey(s: string): u64 {
  if (s.length != 16) return 0;
  let v: u64 = 0;
  for (let i = 0; i < 16; i++) {
    const d = lowerHexValue(s.charCodeAt(i));
    if (d < 0) return 0;
    v = (v << 4) | <u64>d;
  }
  return v;
}

/** A lower-case hex digit's value, else -1 (json/strings.ts hexVal also takes upper case; these headers are written lower-case only). */
function lowerHexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}
