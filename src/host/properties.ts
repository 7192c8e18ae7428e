/**
 * Properties as Envoy's `Context::getProperty` serves them (docs/reference/envoy-proxy-wasm.md#properties): paths
 * are NUL-separated segments ("request\0headers\0x-foo"); a dotted path is one
 * top-level name and therefore NOT_FOUND. Values are serialised as Envoy does:
 * strings raw, integers 8-byte little-endian, bools 1 byte, maps as pairs.
 */
import { encodePairs, toBytes, type HeaderPairs } from "./abi.js";

/** A property value: a leaf or a nested tree. */
export type PropertyValue = string | number | bigint | boolean | Uint8Array | HeaderPairs | PropertyTree;

/** A nested property tree: `{request: {method: "POST"}}`. */
export interface PropertyTree {
  [segment: string]: PropertyValue | undefined;
}

function isTree(v: PropertyValue | undefined): v is PropertyTree {
  return typeof v === "object" && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v);
}

/** Split an ABI path on NUL (a trailing NUL is ignored). */
export function splitPath(path: string): string[] {
  const parts = path.split("\0");
  if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** Walk `tree` along `segments`; undefined when any segment is missing. */
export function lookup(tree: PropertyTree, segments: string[]): PropertyValue | undefined {
  let node: PropertyValue | undefined = tree;
  for (const seg of segments) {
    if (Array.isArray(node)) {
      // A header map: the segment is a header name (first value wins).
      const hit: [string, string] | undefined = (node as HeaderPairs).find(([k]) => k === seg.toLowerCase());
      return hit === undefined ? undefined : hit[1];
    }
    if (!isTree(node)) return undefined;
    node = node[seg];
    if (node === undefined) return undefined;
  }
  return node;
}

/** Set `value` at `segments` in `tree`, creating intermediate nodes. */
export function assign(tree: PropertyTree, segments: string[], value: PropertyValue): void {
  let node = tree;
  for (let i = 0; i < segments.length - 1; i++) {
    const next = node[segments[i]];
    if (!isTree(next)) node[segments[i]] = {};
    node = node[segments[i]] as PropertyTree;
  }
  node[segments[segments.length - 1]] = value;
}

/** Serialise a value the way Envoy returns it from `proxy_get_property`. */
export function encodeProperty(value: PropertyValue): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return toBytes(value);
  if (typeof value === "boolean") return new Uint8Array([value ? 1 : 0]);
  if (typeof value === "number" || typeof value === "bigint") {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigInt64(0, BigInt(value), true);
    return out;
  }
  if (Array.isArray(value)) return encodePairs(value);
  // A subtree: Envoy serialises maps as pairs of string-valued entries.
  const pairs: HeaderPairs = [];
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "string") pairs.push([k, v]);
  }
  return encodePairs(pairs);
}

/** Deep merge `extra` over `base` (new objects; arrays and leaves replaced). */
export function mergeTrees(base: PropertyTree, extra: PropertyTree | undefined): PropertyTree {
  const out: PropertyTree = { ...base };
  for (const [k, v] of Object.entries(extra ?? {})) {
    const current = out[k];
    out[k] = isTree(v) && isTree(current) ? mergeTrees(current, v) : v;
  }
  return out;
}
