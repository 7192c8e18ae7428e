/**
 * Envoy's buffer limit against the filter's body bound. The filter buffers a
 * request body up to its `maxBodyBytes` (default 8 MiB) and answers an
 * OpenAI-style 413 past it; Envoy answers its own plain-text 413 once a
 * buffered body passes the listener's `per_connection_buffer_limit_bytes`
 * (default 1 MiB). The filter's bound must therefore be below Envoy's, or
 * clients see Envoy's reply, which no OpenAI client can parse. Checked on
 * Envoy configurations (`npm run envoy:validate`, `startEnvoy`) and against a
 * running Envoy by `llm-picker deploy`.
 */
import { parseDocument } from "yaml";

/** The filter's default maxBodyBytes (assembly/config/types.ts). */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Envoy's default per_connection_buffer_limit_bytes. */
export const ENVOY_DEFAULT_BUFFER_LIMIT = 1024 * 1024;
/** The http filter name the llm-picker filter runs under. */
export const FILTER_NAME = "llm-picker";

/** maxBodyBytes of a plugin configuration (JSON text or object); the default when absent or unreadable. */
export function maxBodyBytesOf(pluginConfig: unknown): number {
  let value: unknown = pluginConfig;
  if (typeof value === "string") {
    if (value.trim() === "") return DEFAULT_MAX_BODY_BYTES;
    try {
      value = JSON.parse(value);
    } catch {
      return DEFAULT_MAX_BODY_BYTES;
    }
  }
  const v = value && typeof value === "object" ? (value as Record<string, unknown>).maxBodyBytes : undefined;
  return typeof v === "number" && Number.isFinite(v) ? v : DEFAULT_MAX_BODY_BYTES;
}

/** The refusal, naming both fields and values, or null when the limit is above the bound. */
export function bodyLimitProblem(listener: string, bufferLimit: number, maxBodyBytes: number): string | null {
  if (bufferLimit > maxBodyBytes) return null;
  return (
    `listener ${listener}: per_connection_buffer_limit_bytes is ${bufferLimit}, not above the filter's maxBodyBytes ${maxBodyBytes}; ` +
    `Envoy would answer bodies between the two with its own plain-text 413 instead of the filter's OpenAI error ` +
    `(raise per_connection_buffer_limit_bytes above ${maxBodyBytes}, or lower maxBodyBytes below ${bufferLimit})`
  );
}

export interface ListenerWithFilter {
  name: string;
  /** per_connection_buffer_limit_bytes (Envoy's default when unset). */
  bufferLimit: number;
  /** The inline plugin configuration, or undefined when the filter comes by ECDS. */
  pluginConfig?: string;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : null);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function numberOf(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "string" && /^\d+$/.test(v)) return Number(v);
  const o = obj(v);
  return o ? numberOf(o.value) : undefined;
}

/** Listeners (Envoy's JSON/YAML shape) whose HTTP connection manager runs the llm-picker filter. */
export function listenersWithFilter(listeners: unknown[]): ListenerWithFilter[] {
  const out: ListenerWithFilter[] = [];
  for (const l of listeners) {
    const listener = obj(l);
    if (!listener) continue;
    for (const chain of arr(listener.filter_chains)) {
      for (const f of arr(obj(chain)?.filters)) {
        for (const h of arr(obj(obj(f)?.typed_config)?.http_filters)) {
          const http = obj(h);
          if (!http || http.name !== FILTER_NAME) continue;
          const value = obj(obj(obj(http.typed_config)?.config)?.configuration)?.value;
          out.push({
            name: String(listener.name ?? "(unnamed)"),
            bufferLimit: numberOf(listener.per_connection_buffer_limit_bytes) ?? ENVOY_DEFAULT_BUFFER_LIMIT,
            pluginConfig: typeof value === "string" ? value : undefined,
          });
        }
      }
    }
  }
  return out;
}

/**
 * Problems in an Envoy bootstrap (YAML text): every listener running the
 * filter inline must buffer more than its maxBodyBytes. `pluginConfig`
 * stands in for filters delivered by ECDS (default: the filter's default).
 */
export function bootstrapBodyLimitProblems(yamlText: string, pluginConfig?: string): string[] {
  const doc = parseDocument(yamlText).toJS() as Obj | null;
  const listeners = arr(obj(doc?.static_resources)?.listeners);
  const problems: string[] = [];
  for (const l of listenersWithFilter(listeners)) {
    const p = bodyLimitProblem(l.name, l.bufferLimit, maxBodyBytesOf(l.pluginConfig ?? pluginConfig));
    if (p) problems.push(p);
  }
  return problems;
}

/** Listeners from an Envoy admin `/config_dump` (static and dynamic, active state). */
export function listenersFromConfigDump(dump: unknown): unknown[] {
  const out: unknown[] = [];
  for (const c of arr(obj(dump)?.configs)) {
    const cfg = obj(c);
    if (!cfg || !String(cfg["@type"] ?? "").endsWith("ListenersConfigDump")) continue;
    for (const s of arr(cfg.static_listeners)) out.push(obj(s)?.listener);
    for (const d of arr(cfg.dynamic_listeners)) out.push(obj(obj(d)?.active_state)?.listener);
  }
  return out.filter((x) => x !== undefined);
}
