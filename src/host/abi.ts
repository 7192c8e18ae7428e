/**
 * Proxy-Wasm ABI 0.2.1 constants and the header-map wire format, as Envoy 1.40
 * (proxy-wasm-cpp-host + Envoy `context.cc`) uses them.
 * What each means: docs/reference/envoy-proxy-wasm.md#the-abi-021.
 */

/** `proxy_status_t` values returned by every `env.proxy_*` host call. */
export const WasmResult = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  BadExpression: 5,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  ResultMismatch: 9,
  InternalFailure: 10,
  BrokenConnection: 11,
  Unimplemented: 12,
} as const;

/** Buffer types for `proxy_get_buffer_bytes` and friends. */
export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  DownstreamData: 2,
  UpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcReceiveBuffer: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  CallData: 8,
} as const;

/** Header map types. */
export const MapType = {
  RequestHeaders: 0,
  RequestTrailers: 1,
  ResponseHeaders: 2,
  ResponseTrailers: 3,
  GrpcReceiveInitialMetadata: 4,
  GrpcReceiveTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const;

/** Return values of `proxy_on_*_headers` (FilterHeadersStatus). */
export const HeadersStatus = {
  Continue: 0,
  StopIteration: 1,
  ContinueAndEndStream: 2,
  StopAllIterationAndBuffer: 3,
  StopAllIterationAndWatermark: 4,
} as const;

/** Return values of `proxy_on_*_body` (FilterDataStatus). */
export const DataStatus = {
  Continue: 0,
  StopIterationAndBuffer: 1,
  StopIterationAndWatermark: 2,
  StopIterationNoBuffer: 3,
} as const;

/** Return values of `proxy_on_*_trailers` (FilterTrailersStatus). */
export const TrailersStatus = { Continue: 0, StopIteration: 1 } as const;

/** Log levels of `proxy_log` (trace 0 … critical 5). */
export const LogLevel = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, critical: 5 } as const;
export type LogLevelName = keyof typeof LogLevel;
export const LOG_LEVEL_NAMES: LogLevelName[] = ["trace", "debug", "info", "warn", "error", "critical"];

/** Metric types of `proxy_define_metric`. */
export const MetricType = { Counter: 0, Gauge: 1, Histogram: 2 } as const;

/** A header (or trailer, or metadata) list: ordered, repeated keys allowed. */
export type HeaderPairs = Array<[string, string]>;

/** Limits from cpp-host `include/proxy-wasm/limits.h`. */
export const PAIRS_MAX_BYTES = 1024 * 1024;
export const PAIRS_MAX_COUNT = 1024;
/** `PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES`. */
export const RANDOM_GET_MAX_BYTES = 64 * 1024;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** UTF-8 encode a string (or pass bytes through). */
export function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === "string" ? utf8.encode(value) : value;
}

/** UTF-8 decode bytes. */
export function toText(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/**
 * Serialise pairs as the ABI does (little-endian): u32 count, count × (u32
 * key_len, u32 value_len), then each key and value followed by a NUL byte.
 */
export function encodePairs(pairs: HeaderPairs): Uint8Array {
  const encoded = pairs.map(([k, v]) => [utf8.encode(k), utf8.encode(v)] as const);
  let size = 4 + encoded.length * 8;
  for (const [k, v] of encoded) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, encoded.length, true);
  let offset = 4;
  for (const [k, v] of encoded) {
    view.setUint32(offset, k.length, true);
    view.setUint32(offset + 4, v.length, true);
    offset += 8;
  }
  for (const [k, v] of encoded) {
    out.set(k, offset);
    offset += k.length + 1;
    out.set(v, offset);
    offset += v.length + 1;
  }
  return out;
}

/**
 * Parse the ABI pairs format. Returns null when the bytes are malformed (cpp-host
 * `PairsUtil::toPairs` then yields an empty list). An empty buffer is an empty map.
 */
export function decodePairs(bytes: Uint8Array): HeaderPairs | null {
  if (bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0)) return [];
  if (bytes.length < 4) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(0, true);
  if (count > PAIRS_MAX_COUNT || 4 + count * 8 > bytes.length) return null;
  const sizes: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    sizes.push([view.getUint32(4 + i * 8, true), view.getUint32(8 + i * 8, true)]);
  }
  let offset = 4 + count * 8;
  const pairs: HeaderPairs = [];
  for (const [kLen, vLen] of sizes) {
    if (offset + kLen + 1 + vLen + 1 > bytes.length) return null;
    const key = toText(bytes.subarray(offset, offset + kLen));
    offset += kLen + 1;
    const value = toText(bytes.subarray(offset, offset + vLen));
    offset += vLen + 1;
    pairs.push([key, value]);
  }
  return pairs;
}

/** Envoy's `HeaderMap::byteSize()`: the sum of key and value lengths (what `get_header_map_size` returns). */
export function headerByteSize(pairs: HeaderPairs): number {
  let size = 0;
  for (const [k, v] of pairs) size += utf8.encode(k).length + utf8.encode(v).length;
  return size;
}

/** Concatenate byte arrays. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
