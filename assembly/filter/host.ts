// Thin, non-throwing wrappers over the proxy-wasm host calls (ABI 0.2.1 as
// Envoy implements it). The SDK's own wrappers throw on unexpected statuses
// and log through WASI stdout, so the glue calls the raw imports the SDK declares and
// returns statuses as values. Only assembly/filter/ imports this file.
import * as imports from "@gcoredev/proxy-wasm-sdk-as/assembly/imports";
import { beginScratch, endScratch, isScratch } from "./alloc";
import { KeyValueStore, StoreValue, STORE_NOT_FOUND } from "../util/store";
import { ByteWriter } from "../util/bytes";
import { IdentityCache } from "../util/identity_cache";

export const OK: u32 = 0;
export const NOT_FOUND: u32 = 1;

// What a header or body callback returns to the host.
export const CONTINUE: u32 = 0;
/** Headers: hold the request here (Envoy needs allow_on_headers_stop_iteration). */
export const STOP_ITERATION: u32 = 1;
/** Body: keep buffering until end of stream. */
export const STOP_AND_BUFFER: u32 = 1;

export enum LogLevel {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
  Critical = 5,
}

export enum MapType {
  RequestHeaders = 0,
  RequestTrailers = 1,
  ResponseHeaders = 2,
  ResponseTrailers = 3,
  HttpCallResponseHeaders = 6,
}

export enum BufferType {
  RequestBody = 0,
  ResponseBody = 1,
  HttpCallResponseBody = 4,
  VmConfiguration = 6,
  PluginConfiguration = 7,
}

// Return slots the host writes pointers and sizes into.
const RET_PTR: usize = memory.data(8);
const RET_SIZE: usize = memory.data(8);
const RET_U32: usize = memory.data(8);
const RET_U64: usize = memory.data(8);

/**
 * Takes ownership of a buffer the host allocated through our `malloc`
 * (alloc.ts pins a new ArrayBuffer; unpinning it hands it to the GC).
 */
function takeReturned(): Uint8Array {
  const ptr = load<usize>(RET_PTR);
  const size = load<u32>(RET_SIZE);
  if (ptr == 0 || size == 0) {
    if (ptr != 0 && !isScratch(ptr)) __unpin(ptr);
    return new Uint8Array(0);
  }
  const buf = changetype<ArrayBuffer>(ptr);
  if (!isScratch(ptr)) __unpin(ptr);
  // A view of the `size` bytes the host wrote (the scratch buffer may be longer): no copy.
  return Uint8Array.wrap(buf, 0, <i32>size);
}

function clearReturn(): void {
  store<usize>(RET_PTR, 0);
  store<u32>(RET_SIZE, 0);
}

let currentLogLevel: i32 = LogLevel.Info;

/** Envoy's log level for wasm, read once per configure (proxy_get_log_level). */
export function refreshLogLevel(): void {
  store<u32>(RET_U32, LogLevel.Info);
  if (imports.proxy_get_log_level(RET_U32) == OK) currentLogLevel = <i32>load<u32>(RET_U32);
}

export function logEnabled(level: LogLevel): bool {
  return <i32>level >= currentLogLevel;
}

export function log(level: LogLevel, message: string): void {
  if (<i32>level < currentLogLevel) return;
  const b = String.UTF8.encode(message);
  imports.proxy_log(level, changetype<usize>(b), b.byteLength);
}

export function getBufferBytes(type: BufferType, start: u32, length: u32): Uint8Array | null {
  clearReturn();
  if (imports.proxy_get_buffer_bytes(type, start, length, RET_PTR, RET_SIZE) != OK) return null;
  return takeReturned();
}

/**
 * getBufferBytes into the VM's one reused scratch buffer (alloc.ts) instead
 * of a new buffer: for a value read once and dropped within the callback
 * (the request body at end of stream, a scrape's page). The view is valid
 * until the next scratch read; nothing that outlives the callback may keep it.
 */
export function getBufferBytesScratch(type: BufferType, start: u32, length: u32): Uint8Array | null {
  clearReturn();
  beginScratch();
  const r = imports.proxy_get_buffer_bytes(type, start, length, RET_PTR, RET_SIZE);
  endScratch();
  if (r != OK) return null;
  return takeReturned();
}

export function setBufferBytes(type: BufferType, start: u32, length: u32, value: Uint8Array): u32 {
  return imports.proxy_set_buffer_bytes(type, start, length, value.dataStart, value.length);
}

function enc(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

/**
 * UTF-8 of names that recur on every request (header names, shared-data
 * keys, endpoint addresses), encoded once per VM: each host call used to
 * allocate its name's bytes, and those short-lived buffers were a large part
 * of the filter's allocator and GC work. The set of such names is bounded by
 * the configuration (the prefix index has a fixed key space); past NAME_CACHE_MAX
 * entries names are encoded per call as before.
 */
const NAME_CACHE_MAX: i32 = 16384;
const names = new Map<string, ArrayBuffer>();

const recentNames = new IdentityCache<ArrayBuffer>();

/** The UTF-8 bytes of a recurring name (header name, shared-data key), cached per VM. */
export function encName(s: string): ArrayBuffer {
  if (recentNames.has(s)) return recentNames.get(s);
  let b: ArrayBuffer;
  if (names.has(s)) b = names.get(s);
  else {
    b = String.UTF8.encode(s);
    if (names.size < NAME_CACHE_MAX) names.set(s, b);
  }
  recentNames.set(s, b);
  return b;
}

/** The returned value as a string, without wrapping it in a view first. */
function takeReturnedString(): string {
  const ptr = load<usize>(RET_PTR);
  const size = load<u32>(RET_SIZE);
  if (ptr == 0) return "";
  const s = size > 0 ? String.UTF8.decodeUnsafe(ptr, <usize>size) : "";
  if (!isScratch(ptr)) __unpin(ptr);
  return s;
}

/** First value of a header, or null when absent or the map is gone. */
export function getHeader(map: MapType, name: string): string | null {
  clearReturn();
  const k = encName(name);
  if (imports.proxy_get_header_map_value(map, changetype<usize>(k), k.byteLength, RET_PTR, RET_SIZE) != OK) return null;
  return takeReturnedString();
}

export function removeHeader(map: MapType, name: string): u32 {
  const k = encName(name);
  return imports.proxy_remove_header_map_value(map, changetype<usize>(k), k.byteLength);
}

/** Add-or-set (Envoy's replace is setCopy). */
export function replaceHeader(map: MapType, name: string, value: string): u32 {
  const k = encName(name);
  const v = enc(value);
  return imports.proxy_replace_header_map_value(map, changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength);
}

/** Add-or-set with a value from a bounded set (an endpoint address): its bytes are cached like names. */
export function replaceHeaderName(map: MapType, name: string, value: string): u32 {
  const k = encName(name);
  const v = encName(value);
  return imports.proxy_replace_header_map_value(map, changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength);
}

export class HeaderPair {
  constructor(public name: string, public value: string) {}
}

/** Decodes the header-pairs serialisation (count, sizes, NUL-terminated bytes) defensively: a short buffer yields what was readable. */
export function decodePairs(b: Uint8Array): Array<HeaderPair> {
  return decodePairsAs<HeaderPair>(b);
}

/** decodePairs into any class constructed as (name, value), e.g. the request model's Header. */
export function decodePairsAs<T>(b: Uint8Array): Array<T> {
  return decodePairsWhere<T>(b, null);
}

/**
 * decodePairsAs, keeping only the pairs whose name is one of `wanted`
 * (compared on the bytes, in the order the map holds them): no string is
 * made for any other header.
 */
export function decodePairsNamedAs<T>(b: Uint8Array, wanted: Array<string>): Array<T> {
  return decodePairsWhere<T>(b, wanted);
}

/** The header-pairs walk of both: every pair (`wanted` null) or those named in `wanted`. */
function decodePairsWhere<T>(b: Uint8Array, wanted: Array<string> | null): Array<T> {
  const out = new Array<T>();
  if (b.length < 4) return out;
  const count = <i32>load<u32>(b.dataStart);
  if (count < 0 || count > 4096 || 4 + count * 8 > b.length) return out;
  let p = 4 + count * 8;
  for (let i = 0; i < count; i++) {
    const kl = <i32>load<u32>(b.dataStart + 4 + i * 8);
    const vl = <i32>load<u32>(b.dataStart + 8 + i * 8);
    if (kl < 0 || vl < 0 || p + kl + 1 + vl + 1 > b.length) break;
    const at = b.dataStart + <usize>p;
    p += kl + 1 + vl + 1;
    const name = wanted === null ? String.UTF8.decodeUnsafe(at, kl) : wantedName(wanted, at, kl);
    if (name === null) continue;
    out.push(instantiate<T>(name, String.UTF8.decodeUnsafe(at + <usize>kl + 1, vl)));
  }
  return out;
}

/** The name in `wanted` whose UTF-8 bytes are the `len` bytes at `at`, or null. */
function wantedName(wanted: Array<string>, at: usize, len: i32): string | null {
  for (let w = 0; w < wanted.length; w++) {
    const name = unchecked(wanted[w]);
    const k = encName(name);
    if (k.byteLength == len && memory.compare(changetype<usize>(k), at, <usize>len) == 0) return name;
  }
  return null;
}

export function encodePairs(pairs: Array<HeaderPair>): Uint8Array {
  const w = new ByteWriter(64);
  w.u32le(pairs.length);
  const keys = new Array<ArrayBuffer>(pairs.length);
  const vals = new Array<ArrayBuffer>(pairs.length);
  for (let i = 0; i < pairs.length; i++) {
    keys[i] = enc(pairs[i].name);
    vals[i] = enc(pairs[i].value);
    w.u32le(keys[i].byteLength);
    w.u32le(vals[i].byteLength);
  }
  for (let i = 0; i < pairs.length; i++) {
    w.raw(changetype<usize>(keys[i]), keys[i].byteLength);
    w.byte(0);
    w.raw(changetype<usize>(vals[i]), vals[i].byteLength);
    w.byte(0);
  }
  return w.toBytes();
}

export function getHeaders(map: MapType): Array<HeaderPair> {
  return getHeadersAs<HeaderPair>(map);
}

/** Every header of a map as T(name, value), in one host call. */
export function getHeadersAs<T>(map: MapType): Array<T> {
  clearReturn();
  if (imports.proxy_get_header_map_pairs(map, RET_PTR, RET_SIZE) != OK) return new Array<T>();
  return decodePairsAs<T>(takeReturned());
}

/** The headers of a map named in `wanted`, as T(name, value), in one host call (decodePairsNamedAs). */
export function getHeadersNamedAs<T>(map: MapType, wanted: Array<string>): Array<T> {
  clearReturn();
  if (imports.proxy_get_header_map_pairs(map, RET_PTR, RET_SIZE) != OK) return new Array<T>();
  return decodePairsNamedAs<T>(takeReturned(), wanted);
}

/**
 * Every header of a map in the host's serialisation (decodePairs' input),
 * one host call; null when the map is not readable. Read into the reused
 * scratch buffer (alloc.ts):
 * valid until the next scratch read, so a reader decodes what it keeps
 * (HeaderPairs does, within the callback that read the map).
 */
export function getHeaderPairsBytes(map: MapType): Uint8Array | null {
  clearReturn();
  beginScratch();
  const r = imports.proxy_get_header_map_pairs(map, RET_PTR, RET_SIZE);
  endScratch();
  if (r != OK) return null;
  return takeReturned();
}

/** Sends a local reply; Envoy defers it until the callback returns. */
export function sendLocalResponse(status: u32, details: string, body: Uint8Array, headers: Array<HeaderPair>): u32 {
  const d = enc(details);
  const h = encodePairs(headers);
  // grpc_status -1: no grpc-status header.
  return imports.proxy_send_local_response(status, changetype<usize>(d), d.byteLength, body.dataStart, body.length, h.dataStart, h.length, <u32>-1);
}

export function setTickPeriodMs(ms: u32): u32 {
  return imports.proxy_set_tick_period_milliseconds(ms);
}

export function nowMs(): i64 {
  store<u64>(RET_U64, 0);
  imports.proxy_get_current_time_nanoseconds(RET_U64);
  return <i64>(load<u64>(RET_U64) / 1_000_000);
}

export function nowNs(): u64 {
  store<u64>(RET_U64, 0);
  imports.proxy_get_current_time_nanoseconds(RET_U64);
  return load<u64>(RET_U64);
}

/** A property by NUL-separated path segments (Envoy splits the path on NUL), or null. */
export function getProperty(segments: Array<string>): Uint8Array | null {
  const path = enc(segments.join("\0"));
  clearReturn();
  if (imports.proxy_get_property(changetype<usize>(path), path.byteLength, RET_PTR, RET_SIZE) != OK) return null;
  return takeReturned();
}

export function setProperty(name: string, value: Uint8Array): u32 {
  const p = enc(name);
  return imports.proxy_set_property(changetype<usize>(p), p.byteLength, value.dataStart, value.length);
}

// ---- metrics: one stat per name across all worker VMs ----

export enum MetricType {
  Counter = 0,
  Gauge = 1,
  Histogram = 2,
}

/** Defines a metric and returns its id, or 0xffffffff on failure. */
export function defineMetric(type: MetricType, name: string): u32 {
  const n = enc(name);
  store<u32>(RET_U32, 0);
  if (imports.proxy_define_metric(type, changetype<usize>(n), n.byteLength, RET_U32) != OK) return u32.MAX_VALUE;
  return load<u32>(RET_U32);
}

export function incrementMetric(id: u32, delta: i64): void {
  // Envoy rejects counter increments <= 0 with BAD_ARGUMENT.
  if (id == u32.MAX_VALUE || delta == 0) return;
  imports.proxy_increment_metric(id, delta);
}

export function recordMetric(id: u32, value: u64): void {
  if (id == u32.MAX_VALUE) return;
  imports.proxy_record_metric(id, value);
}

// ---- HTTP callouts: always issued on, and answered to, the root context ----

/** Dispatches an HTTP call; returns the token, or 0 when Envoy refused it. */
export function httpCall(cluster: string, headers: Array<HeaderPair>, body: Uint8Array, timeoutMs: u32): u32 {
  return httpCallEncoded(cluster, encodePairs(headers), body, timeoutMs);
}

/** No trailers, encoded once. */
const NO_PAIRS: Uint8Array = encodePairs(new Array<HeaderPair>());

/** httpCall with headers already encoded (encodePairs): a callout repeated every interval encodes them once. */
export function httpCallEncoded(cluster: string, headers: Uint8Array, body: Uint8Array, timeoutMs: u32): u32 {
  const c = encName(cluster);
  const h = headers;
  store<u32>(RET_U32, 0);
  const r = imports.proxy_http_call(changetype<usize>(c), c.byteLength, h.dataStart, h.length, body.dataStart, body.length, NO_PAIRS.dataStart, NO_PAIRS.length, timeoutMs, RET_U32);
  if (r != OK) return 0;
  return load<u32>(RET_U32);
}

// ---- shared data (rules: util/store.ts) ----

/** proxy-wasm shared data as a KeyValueStore (one store per vm_id across workers). */
export class SharedDataStore extends KeyValueStore {
  get(key: string): StoreValue {
    const k = encName(key);
    clearReturn();
    store<u32>(RET_U32, 0);
    const r = imports.proxy_get_shared_data(changetype<usize>(k), k.byteLength, RET_PTR, RET_SIZE, RET_U32);
    if (r != OK) return new StoreValue(r == NOT_FOUND ? STORE_NOT_FOUND : <i32>r, new Uint8Array(0), 0);
    const cas = load<u32>(RET_U32);
    return new StoreValue(0, takeReturned(), cas);
  }

  set(key: string, value: Uint8Array, cas: u32): i32 {
    const k = encName(key);
    return <i32>imports.proxy_set_shared_data(changetype<usize>(k), k.byteLength, value.dataStart, value.length, cas);
  }
}
