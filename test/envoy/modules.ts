/**
 * Tiny hand-written proxy-wasm modules (WAT, compiled with wabt) that let the
 * Envoy tier test envoy/ itself, independently of the real filter:
 * - `passThrough`: loads, configures, and continues every request untouched
 *   (client headers reach the LB as sent: checks override_host on its own);
 * - `trapOnRequest`: traps (`unreachable`) in on_request_headers, the way an
 *   AssemblyScript abort does, so the configured failure_policy is exercised;
 * - `calloutOnTick`: on every tick issues proxy_http_call to a cluster with
 *   fixed headers: checks whether a callout can target one cluster member
 *   (what the filter's /metrics scraping needs).
 * They import only what Envoy provides for ABI 0.2.1.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import wabtFactory from "wabt";
import { encodePairs } from "../../src/host/abi.js";

const COMMON_EXPORTS = `
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 65536))
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_start"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_delete") (param i32))
`;

export const PASS_THROUGH_WAT = `(module ${COMMON_EXPORTS}
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
)`;

export const TRAP_ON_REQUEST_WAT = `(module ${COMMON_EXPORTS}
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) unreachable)
)`;

function watBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => "\\" + b.toString(16).padStart(2, "0")).join("");
}

/** A module that, every `periodMs`, calls proxy_http_call(cluster, headers) and ignores the answer. */
export function calloutOnTickWat(cluster: string, headers: Array<[string, string]>, periodMs = 100): string {
  const clusterBytes = new TextEncoder().encode(cluster);
  const headerBytes = encodePairs(headers);
  const headersAt = 1024;
  const callIdAt = 8;
  return `(module
  (import "env" "proxy_set_tick_period_milliseconds" (func $set_tick (param i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  ${COMMON_EXPORTS}
  (data (i32.const 16) "${watBytes(clusterBytes)}")
  (data (i32.const ${headersAt}) "${watBytes(headerBytes)}")
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $set_tick (i32.const ${periodMs})))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (drop (call $http_call
      (i32.const 16) (i32.const ${clusterBytes.length})
      (i32.const ${headersAt}) (i32.const ${headerBytes.length})
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
      (i32.const 1000) (i32.const ${callIdAt}))))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
)`;
}

/** Compiles WAT to a .wasm file in a fresh temp directory; returns its path. */
export async function buildWat(wat: string, name = "module"): Promise<string> {
  const wabt = await wabtFactory();
  const parsed = wabt.parseWat(`${name}.wat`, wat);
  try {
    const { buffer } = parsed.toBinary({});
    const dir = mkdtempSync(join(tmpdir(), "llm-picker-wat-"));
    const path = join(dir, `${name}.wasm`);
    writeFileSync(path, buffer);
    return path;
  } finally {
    parsed.destroy();
  }
}
