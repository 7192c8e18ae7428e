// The pool's members: a static list from the configuration, or an Envoy
// cluster's live membership published in shared data by the VM that holds
// the scrape lease (docs/fleet.md "Pool").
//
//   "llm-picker/pool/v2/members": u32 magic "LPM2", u32 count, then per
//   member u8 usable, u8 label count, u16 address length, the address
//   bytes, then per label u8 key length, u16 value length, key, value.
//
// Every request reads the key once (one small copy); a VM decodes it again
// only when its CAS changed, i.e. when the membership changed. The layout
// gained labels in v2: the key name changed with it, so a VM of an older
// build still running during a hot swap never decodes a layout it does not
// know (it keeps the last v1 membership until it is gone).
import { KeyValueStore, STORE_CAS_MISMATCH, STORE_OK } from "../util/store";
import { Labels } from "./labels";

export const MEMBERS_KEY = "llm-picker/pool/v2/members";
/** The replicas of a fleet (fleet.cluster), same encoding. */
export const FLEET_MEMBERS_KEY = "llm-picker/fleet/v2/members";
const MEMBERS_MAGIC: u32 = 0x324d504c; // "LPM2"
const HEADER: i32 = 8;
const CAS_RETRIES: i32 = 16;

export class Member {
  constructor(
    /** "ip:port" as Envoy's override_host matches it. */
    public address: string,
    /** Envoy would route to it (healthy, not draining, not ejected). */
    public usable: bool,
    /** Its EDS metadata labels (pool.metadataNamespace), or the configuration's. */
    public labels: Labels = new Labels(),
  ) {}
}

export function encodeMembers(members: Array<Member>): Uint8Array {
  let size = HEADER;
  const bytes = new Array<ArrayBuffer>(members.length);
  for (let i = 0; i < members.length; i++) {
    const m = unchecked(members[i]);
    const b = String.UTF8.encode(m.address);
    unchecked((bytes[i] = b));
    size += 4 + min(b.byteLength, 0xffff);
    for (let j = 0; j < m.labels.length; j++) {
      size += 3 + String.UTF8.byteLength(unchecked(m.labels.keys[j])) + String.UTF8.byteLength(unchecked(m.labels.values[j]));
    }
  }
  const out = new Uint8Array(size);
  store<u32>(out.dataStart, MEMBERS_MAGIC);
  store<u32>(out.dataStart, <u32>members.length, 4);
  let at = HEADER;
  for (let i = 0; i < members.length; i++) {
    const m = unchecked(members[i]);
    const b = unchecked(bytes[i]);
    const n = min(b.byteLength, 0xffff);
    store<u8>(out.dataStart + <usize>at, m.usable ? 1 : 0);
    store<u8>(out.dataStart + <usize>at, <u8>m.labels.length, 1);
    store<u16>(out.dataStart + <usize>at, <u16>n, 2);
    memory.copy(out.dataStart + <usize>(at + 4), changetype<usize>(b), <usize>n);
    at += 4 + n;
    // Labels.add bounds keys to 64 and values to 1,024 bytes: the lengths fit their fields.
    for (let j = 0; j < m.labels.length; j++) {
      const key = String.UTF8.encode(unchecked(m.labels.keys[j]));
      const value = String.UTF8.encode(unchecked(m.labels.values[j]));
      store<u8>(out.dataStart + <usize>at, <u8>key.byteLength);
      store<u16>(out.dataStart + <usize>at, <u16>value.byteLength, 1);
      memory.copy(out.dataStart + <usize>(at + 3), changetype<usize>(key), <usize>key.byteLength);
      memory.copy(out.dataStart + <usize>(at + 3 + key.byteLength), changetype<usize>(value), <usize>value.byteLength);
      at += 3 + key.byteLength + value.byteLength;
    }
  }
  return out;
}

/** Decodes a members value; null when it is not one (another layout, truncated). */
export function decodeMembers(v: Uint8Array): Array<Member> | null {
  if (v.length < HEADER || load<u32>(v.dataStart) != MEMBERS_MAGIC) return null;
  const count = load<u32>(v.dataStart, 4);
  if (count > <u32>(v.length / 4)) return null;
  const out = new Array<Member>();
  let at = HEADER;
  for (let i: u32 = 0; i < count; i++) {
    if (at + 4 > v.length) return null;
    const usable = load<u8>(v.dataStart + <usize>at) == 1;
    const labelCount = <i32>load<u8>(v.dataStart + <usize>at, 1);
    const n = <i32>load<u16>(v.dataStart + <usize>at, 2);
    if (at + 4 + n > v.length) return null;
    const m = new Member(String.UTF8.decodeUnsafe(v.dataStart + <usize>(at + 4), <usize>n), usable);
    at += 4 + n;
    for (let j = 0; j < labelCount; j++) {
      if (at + 3 > v.length) return null;
      const kn = <i32>load<u8>(v.dataStart + <usize>at);
      const vn = <i32>load<u16>(v.dataStart + <usize>at, 1);
      if (at + 3 + kn + vn > v.length) return null;
      const key = String.UTF8.decodeUnsafe(v.dataStart + <usize>(at + 3), <usize>kn);
      const value = String.UTF8.decodeUnsafe(v.dataStart + <usize>(at + 3 + kn), <usize>vn);
      m.labels.add(key, value);
      at += 3 + kn + vn;
    }
    out.push(m);
  }
  return at == v.length ? out : null;
}

/** What publishing a membership changed. */
export class MembershipChange {
  /** The value was written (false: unchanged, or the write kept losing). */
  written: bool = false;
  added: Array<string> = [];
  removed: Array<string> = [];
}

function sameMembers(a: Array<Member>, b: Array<Member>): bool {
  if (a.length != b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = unchecked(a[i]);
    const y = unchecked(b[i]);
    if (x.address != y.address || x.usable != y.usable || !x.labels.equals(y.labels)) return false;
  }
  return true;
}

function addressesOf(members: Array<Member>): Array<string> {
  const out = new Array<string>(members.length);
  for (let i = 0; i < members.length; i++) unchecked((out[i] = unchecked(members[i]).address));
  return out;
}

/** Replaces the published membership under `key` (under CAS) and says who joined and who left. */
export function publishMembers(kv: KeyValueStore, members: Array<Member>, key: string = MEMBERS_KEY): MembershipChange {
  const change = new MembershipChange();
  for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
    const v = kv.get(key);
    const old = v.found ? decodeMembers(v.bytes) : null;
    const before = old != null ? old! : new Array<Member>();
    if (old != null && sameMembers(before, members)) return change;
    const r = kv.set(key, encodeMembers(members), v.found ? v.cas : 0);
    if (r == STORE_CAS_MISMATCH) continue;
    if (r != STORE_OK) return change;
    change.written = true;
    const was = addressesOf(before);
    const now = addressesOf(members);
    for (let i = 0; i < now.length; i++) if (!was.includes(unchecked(now[i]))) change.added.push(unchecked(now[i]));
    for (let i = 0; i < was.length; i++) if (!now.includes(unchecked(was[i]))) change.removed.push(unchecked(was[i]));
    return change;
  }
  return change;
}

/** The pool as one request sees it. */
export class PoolView {
  /** Some member names the models it serves (the `model` label). */
  readonly restrictsModels: bool;
  /** The last servingModel() answer, reused while the model repeats. */
  private lastModel: string = "";
  private lastServing: PoolView | null = null;

  constructor(
    public addresses: Array<string>,
    /** Per address: Envoy would route to it (always true for a static list). */
    public usable: Array<bool>,
    /** Per address: its labels. */
    public labels: Array<Labels> = [],
  ) {
    let restricts = false;
    for (let i = 0; i < labels.length; i++) if (unchecked(labels[i]).restrictsModels) restricts = true;
    this.restrictsModels = restricts;
  }

  /**
   * The members that serve `model` (docs/fleet.md "Labels"). The whole pool
   * when no member names its models, and also when none serves this one:
   * the request then goes where it would without labels, and the server
   * answers for an unknown model as it would anyway.
   */
  servingModel(model: string): PoolView {
    if (!this.restrictsModels) return this;
    const last = this.lastServing;
    if (last != null && this.lastModel == model) return last;
    const addresses = new Array<string>();
    const usable = new Array<bool>();
    const labels = new Array<Labels>();
    for (let i = 0; i < this.addresses.length; i++) {
      if (i >= this.labels.length || !unchecked(this.labels[i]).serves(model)) continue;
      addresses.push(unchecked(this.addresses[i]));
      usable.push(i < this.usable.length ? unchecked(this.usable[i]) : true);
      labels.push(unchecked(this.labels[i]));
    }
    const view = addresses.length > 0 ? new PoolView(addresses, usable, labels) : this;
    this.lastModel = model;
    this.lastServing = view;
    return view;
  }
}

/**
 * The pool for one root context: its static `endpoints`, or (`followsCluster`)
 * the membership the lease holder published. Until a membership has been
 * published the pool is empty (requests then get a 503, as with no endpoints).
 */
export class Pool {
  private view: PoolView;
  private cas: u32 = 0;
  private seen: bool = false;

  constructor(
    private kv: KeyValueStore,
    staticAddresses: Array<string>,
    public readonly followsCluster: bool,
    private key: string = MEMBERS_KEY,
    staticLabels: Array<Labels> = [],
  ) {
    const usable = new Array<bool>(staticAddresses.length);
    for (let i = 0; i < usable.length; i++) unchecked((usable[i] = true));
    this.view = new PoolView(staticAddresses, usable, staticLabels);
  }

  /** False while a cluster-following pool has no published membership yet (the first poll is pending). */
  known(): bool {
    if (!this.followsCluster) return true;
    return this.kv.get(this.key).found;
  }

  current(): PoolView {
    if (!this.followsCluster) return this.view;
    const v = this.kv.get(this.key);
    if (!v.found) return this.emptyView();
    if (this.seen && v.cas == this.cas) return this.view;
    const members = decodeMembers(v.bytes);
    if (members == null) return this.emptyView();
    const usable = new Array<bool>(members!.length);
    const labels = new Array<Labels>(members!.length);
    for (let i = 0; i < members!.length; i++) {
      const m = unchecked(members![i]);
      unchecked((usable[i] = m.usable));
      unchecked((labels[i] = m.labels));
    }
    this.view = new PoolView(addressesOf(members!), usable, labels);
    this.cas = v.cas;
    this.seen = true;
    return this.view;
  }

  private emptyView(): PoolView {
    this.seen = false;
    this.view = new PoolView([], []);
    return this.view;
  }
}
