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
// Kept in shared data (one view for the VM's workers) as a KeyedBuckets map
// (util/keyed_buckets.ts: its layout and how a full bucket forgets): the
// session key to the endpoint id and the prompt's blocks, PLACEMENT_BUCKETS
// keys of at most PLACEMENT_ENTRIES entries.
import { KeyValueStore } from "../util/store";
import { hexDigit } from "../util/hex";
import { KeyedBuckets } from "../util/keyed_buckets";

export const PLACEMENT_KEY_PREFIX = "llm-picker/fleet/v1/placed/";
/** 1,024 buckets × 16 entries: the last placement of 16,384 sessions. */
export const PLACEMENT_BUCKETS: i32 = 1024;
export const PLACEMENT_ENTRIES: i32 = 16;
/** Blocks are capped so a hint can never claim more than a prompt can hash (prefix.maxBlocks is far below). */
export const MAX_PLACED_BLOCKS: i32 = 1 << 20;

export class Placement {
  constructor(public endpointId: u32, public blocks: i32) {}
}

/** The last placement of each session this replica saw, in a KeyValueStore. */
export class SessionPlacements {
  private map: KeyedBuckets;

  constructor(store: KeyValueStore) {
    this.map = new KeyedBuckets(store, PLACEMENT_KEY_PREFIX, PLACEMENT_BUCKETS, PLACEMENT_ENTRIES);
  }

  /** Where `session` last went, or null when this replica never saw it (or forgot it). */
  lookup(session: u64): Placement | null {
    const e = this.map.lookup(session);
    return e != null ? new Placement(e.endpointId, clampBlocks(<i32>e.value)) : null;
  }

  /**
   * `session` went to `endpointId` with a prompt of `blocks` blocks. Best
   * effort: after a few lost races the placement is dropped (a hint
   * is an optimisation; the index stays the truth). Returns whether it was
   * written.
   */
  record(session: u64, placed: Placement): bool {
    return this.map.record(session, placed.endpointId, <u32>clampBlocks(placed.blocks));
  }
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
