/**
 * Sends one request through the built filter in the emulated Envoy and checks
 * the invariants below (used by test/host/fuzz*.test.ts):
 *
 *  - no trap, the worker VM has not failed;
 *  - the request ends as exactly one of
 *      route:  forwarded (not answered locally), `x-gateway-destination-endpoint`
 *              set once to a configured endpoint, body byte-identical (no
 *              rewrite header is sent in these runs);
 *      reject: a local 400/413, `content-type: application/json`, body
 *              `{"error":{"message":<non-empty>,"type":"invalid_request_error","param","code"}}`,
 *              nothing forwarded;
 *      pass:   not an inference call: forwarded untouched to an endpoint;
 *  - the decision line (filter state) agrees with what happened;
 *  - 413 exactly when the body is over `maxBodyBytes`; otherwise
 *    `invalid_json` exactly when V8 rejects the bytes (strict UTF-8, depth ≤ 128).
 *
 * The host is shared across runs for speed and replaced after a VM failure,
 * so that fast-check can still shrink a trapping input.
 */
import { concatBytes } from "../../src/host/abi.js";
import { ProxyWasmHost, runRequest, type HeaderPairs } from "../../src/host/index.js";
import { referenceValid } from "../fixtures/requests/reference";
import { ensureBuilt, FILTER_WASM } from "../support";
import type { PathClass } from "./generators";

export const ENDPOINTS = ["10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000"];
export const DESTINATION = "x-gateway-destination-endpoint";
/** The body limit of the main host: above the 10 MB hostile bodies. */
export const BIG_LIMIT = 16 * 1024 * 1024;
/** The smallest limit the filter accepts (assembly/config): exercises 413 with ordinary bodies. */
export const SMALL_LIMIT = 1024;
const ERROR_CODES = new Set(["invalid_json", "invalid_type", "missing_field", "empty_field", "invalid_value", "too_many_elements", "body_too_large"]);

/** Brings the filter under test up to date (the release build unless LLM_PICKER_WASM names another). */
export function ensureFilterBuilt(): void {
  if (!process.env.LLM_PICKER_WASM) ensureBuilt("release");
}

/** One shared host per body limit; rebuilt when its VM has failed. */
export class Hosts {
  private hosts = new Map<number, ProxyWasmHost>();
  /** Traps seen on hosts since replaced (a replaced host's traps are not lost). */
  readonly retiredTraps: unknown[] = [];

  async get(limit: number): Promise<ProxyWasmHost> {
    let host = this.hosts.get(limit);
    if (host?.vmFailed()) {
      this.retiredTraps.push(...host.traps());
      host.close();
      host = undefined;
    }
    if (!host) {
      const config = { endpoints: ENDPOINTS.map((address) => ({ address })), inspect: true, seed: 7, metrics: { enabled: false }, maxBodyBytes: limit };
      host = await ProxyWasmHost.create({ wasm: FILTER_WASM, pluginConfig: JSON.stringify(config), bufferLimitBytes: 64 * 1024 * 1024, logLevel: "critical" });
      this.hosts.set(limit, host);
    }
    return host;
  }

  all(): ProxyWasmHost[] {
    return [...this.hosts.values()];
  }

  close(): void {
    for (const h of this.hosts.values()) h.close();
    this.hosts.clear();
  }
}

export interface FuzzRequest {
  method?: string;
  path: string;
  cls: PathClass;
  /** The body as chunks (their concatenation is the client's body); [] = no body. */
  chunks: Uint8Array[];
  trailers?: boolean;
  headers?: HeaderPairs;
}

export interface Outcome {
  kind: "route" | "reject" | "pass";
  status?: number;
  code?: string;
  param?: string | null;
  /** The filter's decision line, parsed. */
  decision: any;
  endpoint?: string;
}

/** A failed invariant (thrown so that fast-check shrinks the input). */
export class InvariantError extends Error {}

function must(cond: unknown, what: string, detail?: unknown): asserts cond {
  if (!cond) throw new InvariantError(what + (detail === undefined ? "" : ": " + JSON.stringify(detail)?.slice(0, 400)));
}

function values(headers: HeaderPairs | null | undefined, name: string): string[] {
  return (headers ?? []).filter(([k]) => k === name).map(([, v]) => v);
}

const dec = new TextDecoder();

/**
 * Sends `req` through `host` (whose config has `maxBodyBytes = limit`) and
 * checks every invariant above. Returns what happened.
 */
export async function sendChecked(host: ProxyWasmHost, limit: number, req: FuzzRequest): Promise<Outcome> {
  const trapsBefore = host.traps().length;
  const body = concatBytes(req.chunks);
  const { forwarded, localResponse, stream } = await runRequest(host, {
    method: req.method ?? "POST",
    path: req.path,
    headers: req.headers ?? [["x-request-id", "fuzz"]],
    chunks: req.chunks,
    trailers: req.trailers ? [["x-trailer", "t"]] : undefined,
  });
  must(host.traps().length === trapsBefore, "trap", host.traps().slice(trapsBefore));
  must(!host.vmFailed(), "the VM failed");

  const state = stream.filterState("llm_picker.decision");
  must(state !== undefined, "no decision line");
  let decision: any;
  try {
    decision = JSON.parse(dec.decode(state));
  } catch {
    must(false, "decision line is not JSON", dec.decode(state!).slice(0, 200));
  }

  const inference = (req.method ?? "POST") === "POST" && req.cls !== "not_inference";
  const hasBody = req.chunks.length > 0 || req.trailers === true;

  if (localResponse) {
    must(forwarded === null, "both forwarded and answered locally");
    must(inference && hasBody, "a local reply to a request that is not an inference call", { path: req.path, status: localResponse.status });
    must(localResponse.status === 400 || localResponse.status === 413, "status not 400/413", localResponse.status);
    must(values(localResponse.headers, "content-type").join() === "application/json", "content-type", localResponse.headers);
    let reply: any;
    try {
      reply = JSON.parse(localResponse.bodyText);
    } catch {
      must(false, "error body is not JSON", localResponse.bodyText.slice(0, 200));
    }
    must(reply && typeof reply === "object" && Object.keys(reply).join() === "error", "error body shape", reply);
    const e = reply.error;
    must(e && Object.keys(e).join() === "message,type,param,code", "error object keys", e);
    must(typeof e.message === "string" && e.message.length > 0, "empty message", e);
    must(e.type === "invalid_request_error", "error type", e);
    must(e.param === null || typeof e.param === "string", "param", e);
    must(typeof e.code === "string" && ERROR_CODES.has(e.code), "unknown code", e);
    must((localResponse.status === 413) === (e.code === "body_too_large"), "413 ⇔ body_too_large", e);
    must(decision.decision === "reject" && decision.status === localResponse.status, "decision line disagrees", decision);
    must(JSON.stringify(decision.error) === JSON.stringify(e), "decision error ≠ reply", { decision: decision.error, reply: e });
    checkLimitAndJson(body, limit, e.code);
    return { kind: "reject", status: localResponse.status, code: e.code, param: e.param, decision };
  }

  must(forwarded !== null, "neither forwarded nor answered");
  must(forwarded.ended, "forwarded request not ended");
  const dest = values(forwarded.headers, DESTINATION);
  must(dest.length === 1 && ENDPOINTS.includes(dest[0]), "destination header", dest);
  must(Buffer.from(forwarded.body).equals(Buffer.from(body)), "forwarded body differs from the client's", { sent: body.length, got: forwarded.body.length });
  must(decision.endpoint === dest[0], "decision endpoint ≠ header", decision);
  if (!inference || !hasBody) {
    must(decision.decision === "pass", "expected pass", decision);
    return { kind: "pass", decision, endpoint: dest[0] };
  }
  must(decision.decision === "route", "an inference body neither routed nor rejected", decision);
  must(body.length <= limit, "routed a body over the limit", body.length);
  must(referenceValid(body), "routed bytes V8 rejects");
  must(typeof decision.request?.targetModel === "string", "no targetModel", decision);
  return { kind: "route", decision, endpoint: dest[0] };
}

function checkLimitAndJson(body: Uint8Array, limit: number, code: string): void {
  const over = body.length > limit;
  must(over === (code === "body_too_large"), "413 ⇔ over the limit", { length: body.length, limit, code });
  if (over) return;
  must(
    (code === "invalid_json") === !referenceValid(body),
    code === "invalid_json" ? "invalid_json for bytes V8 accepts" : "bytes V8 rejects not reported as invalid_json",
    code,
  );
}
