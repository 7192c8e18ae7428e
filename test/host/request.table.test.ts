/**
 * The request behaviour table (test/scenarios/requests.ts)
 * through the built filter (build/debug.wasm) in the emulated Envoy: every
 * row's decision, status, error code/param, structured request, and what
 * reaches the router or the client (the forwarded body is
 * byte-identical unless the model is rewritten).
 *
 * Host-tier adaptations of the rows (the data is shared with the unit tier):
 *  - `bodyLimit` below 1024: the filter's `maxBodyBytes` cannot be set that
 *    low (assembly/config/parse.ts accepts 1024..2^30), so the row runs with
 *    a limit of 1024 and its body padded with trailing JSON whitespace by
 *    (1024 − bodyLimit) bytes: the body keeps its distance to the limit and
 *    parses the same.
 *  - `stream`: the filter's decision line has no stream flag, so it is
 *    checked in the unit tier only.
 *  - `line`: the unit tier's line is `{"decision":…,"request":…}`; the
 *    filter's line continues with `"prefix"` etc., so the filter's line must
 *    start with the row's line up to its closing brace, byte for byte.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProxyWasmHost, runRequest, type HeaderPairs } from "../../src/host/index.js";
import { requestRows, type RequestRow } from "../scenarios/requests";
import { DEBUG_WASM as WASM, ensureBuilt } from "../support";

const ENDPOINT = "10.0.0.1:8000";
const DESTINATION = "x-gateway-destination-endpoint";
const REWRITE = "x-gateway-model-name-rewrite";
const MIN_BODY_LIMIT = 1024;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** One host per body limit, shared by the rows that use it. */
const hosts = new Map<number, ProxyWasmHost>();

async function hostFor(limit: number | undefined): Promise<ProxyWasmHost> {
  const key = limit === undefined ? 0 : Math.max(limit, MIN_BODY_LIMIT);
  let host = hosts.get(key);
  if (!host) {
    const config: Record<string, unknown> = { endpoints: [{ address: ENDPOINT }], inspect: true, seed: 1, metrics: { enabled: false } };
    if (key > 0) config.maxBodyBytes = key;
    host = await ProxyWasmHost.create({ wasm: WASM, pluginConfig: JSON.stringify(config), bufferLimitBytes: 64 * 1024 * 1024 });
    hosts.set(key, host);
  }
  return host;
}

/** The body the row sends at the host tier (padded when its limit is below the filter's minimum). */
function bodyOf(row: RequestRow): string {
  if (row.bodyLimit === undefined || row.bodyLimit >= MIN_BODY_LIMIT) return row.body;
  return row.body + " ".repeat(MIN_BODY_LIMIT - row.bodyLimit);
}

function header(headers: HeaderPairs | undefined, name: string): string[] {
  return (headers ?? []).filter(([k]) => k === name).map(([, v]) => v);
}

beforeAll(() => ensureBuilt("debug"));

afterAll(() => {
  for (const host of hosts.values()) {
    expect(host.traps()).toEqual([]);
    host.close();
  }
});

describe("request behaviour table through the built filter", () => {
  it("covers the seed's 17 cases", () => {
    expect(new Set(requestRows.filter((r) => r.source.startsWith("seed #")).map((r) => r.source)).size).toBe(17);
  });

  for (const row of requestRows) {
    it(`${row.source}: ${row.name}`, async () => {
      const host = await hostFor(row.bodyLimit);
      const body = bodyOf(row);
      const noBody = body === "" && (row.method === "GET" || row.method === "HEAD");
      const { stream, forwarded, localResponse } = await runRequest(host, {
        method: row.method,
        path: row.path,
        headers: Object.entries(row.headers),
        body: noBody ? undefined : body,
      });
      expect(host.traps()).toEqual([]);
      const state = stream.filterState("llm_picker.decision");
      expect(state, "the filter wrote no decision").toBeDefined();
      const line = dec.decode(state!);
      const got = JSON.parse(line);
      const want = row.expect;
      expect(got.decision).toBe(want.decision);

      if (want.decision === "route") {
        if (row.line !== undefined) expect(line.startsWith(row.line.slice(0, -1) + ',"prefix":')).toBe(true);
        expect(got.request).toEqual(want.request);
        expect(got.endpoint).toBe(ENDPOINT);
        expect(localResponse).toBeNull();
        expect(forwarded?.ended).toBe(true);
        expect(header(forwarded?.headers, DESTINATION)).toEqual([ENDPOINT]);
        const rewrite = row.headers[REWRITE];
        if (rewrite) {
          // Only the model changes: same document otherwise, and the length header follows.
          const sent = JSON.parse(body);
          const fwd = JSON.parse(forwarded!.bodyText);
          expect(fwd.model).toBe(rewrite);
          expect({ ...fwd, model: sent.model }).toEqual(sent);
          expect(header(forwarded?.headers, "content-length")).toEqual([String(forwarded!.body.length)]);
        } else {
          expect(Buffer.from(forwarded!.body).equals(Buffer.from(enc.encode(body)))).toBe(true);
        }
      } else if (want.decision === "reject") {
        expect(Object.keys(got)).toEqual(["decision", "status", "error"]);
        expect(got.status).toBe(want.status);
        expect(Object.keys(got.error)).toEqual(["message", "type", "param", "code"]);
        expect(got.error.type).toBe("invalid_request_error");
        expect(got.error.code).toBe(want.code);
        expect(got.error.param).toBe(want.param);
        if (want.param) expect(got.error.message).toContain(`'${want.param}'`);
        // The client gets the same error object, as JSON.
        expect(localResponse?.status).toBe(want.status);
        expect(header(localResponse?.headers, "content-type")).toEqual(["application/json"]);
        expect(JSON.parse(localResponse!.bodyText)).toEqual({ error: got.error });
        expect(forwarded).toBeNull();
      } else {
        expect(got).not.toHaveProperty("request");
        expect(got).not.toHaveProperty("prefix");
        expect(got.endpoint).toBe(ENDPOINT);
        expect(localResponse).toBeNull();
        expect(header(forwarded?.headers, DESTINATION)).toEqual([ENDPOINT]);
        if (!noBody) expect(Buffer.from(forwarded!.body).equals(Buffer.from(enc.encode(body)))).toBe(true);
      }
    });
  }
});
