/**
 * Sizes of the reliability scenarios: CI-sized by default (part of `npm
 * test`, a few minutes in all), full with `npm run test:reliability`
 * (RELIABILITY_FULL=1), each overridable by its own variable.
 */
import { writeFileSync } from "node:fs";
import type { EnvoyProcess } from "../../src/envoy/process.js";

export const FULL = process.env.RELIABILITY_FULL === "1";

/** An integer setting: RELIABILITY_<NAME>, else the full or the CI default. */
export function setting(name: string, ci: number, full: number): number {
  const v = process.env[`RELIABILITY_${name}`];
  if (v !== undefined && v !== "") {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`RELIABILITY_${name}=${v}: expected a number >= 0`);
    return n;
  }
  return FULL ? full : ci;
}

/** Writes a scenario's figures as JSON to RELIABILITY_OUT/<name>.json when RELIABILITY_OUT is set. */
export function record(name: string, value: unknown): void {
  const dir = process.env.RELIABILITY_OUT;
  if (dir) writeFileSync(`${dir}/${name}.json`, JSON.stringify(value, null, 2));
  console.log(`[reliability] ${name}: ${JSON.stringify(value).slice(0, 2000)}`);
}

/** One stat (counter or gauge) by exact name, 0 when absent. */
export async function stat(envoy: EnvoyProcess, name: string): Promise<number> {
  const s = await envoy.stats(`^${name.replace(/[.]/g, "\\.")}$`);
  return s[name] ?? 0;
}

/** Sum of the filter's stats whose name starts with `prefix` (e.g. per-endpoint gauges). */
export async function statSum(envoy: EnvoyProcess, prefix: string): Promise<Record<string, number>> {
  return envoy.stats(`^${prefix.replace(/[.]/g, "\\.")}`);
}

/** Envoy's wasm failure evidence: VM reload counters and wasm error/critical log lines. */
export async function wasmFailures(envoy: EnvoyProcess): Promise<{ counters: Record<string, number>; logLines: string[] }> {
  const s = await envoy.stats("^wasm\\.llm-picker\\.");
  const counters = Object.fromEntries(Object.entries(s).filter(([, v]) => v !== 0));
  const logLines = envoy
    .logs()
    .split("\n")
    .filter((l) => /\]\[(error|critical)\]\[wasm\]/.test(l) || /RuntimeError|wasm_fail_stream/.test(l));
  return { counters, logLines };
}

/**
 * The prefix index's byte bound for a configuration (PrefixIndexConfig.maxBytes:
 * buckets × (8-byte header + 16 B × entries) + a 16-byte meta value, with
 * entries = 16-block groups × maxEndpoints within 128..4096, bucketEntriesFor).
 */
export function indexByteBound(capacityPerEndpoint = 31250, maxEndpoints = 16): number {
  const entries = Math.min(Math.max(16 * maxEndpoints, 128), 4096);
  const buckets = Math.max(1, Math.ceil((capacityPerEndpoint * maxEndpoints) / entries));
  return buckets * (8 + 16 * entries) + 16;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
