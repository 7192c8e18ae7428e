/**
 * The official OpenAI Node SDK (`openai`) against Envoy with the filter: every
 * error a client can get from this gateway parses into the SDK's typed error
 * with its `type` and `code`, carries the request id, and 429/503 are retried
 * after the `retry-after` the gateway sends (the SDK's own backoff for two
 * retries would total at most 1.5 s; retry-after: 1 makes it 2 s).
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { vllmPage } from "../host/fixtures/vllm.js";
import { ENVOY_YAML, FILTER_WASM, SKIP_FILTER, scrapedAgain, startEnvoyForTest, useEnvoy } from "./harness.js";
import { startUpstreams, type FakeUpstream } from "./upstreams.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const MESSAGES: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "hello" }];

function client(listenerUrl: string, maxRetries = 0): OpenAI {
  return new OpenAI({ baseURL: `${listenerUrl}/v1`, apiKey: "unused", maxRetries, timeout: 20_000 });
}

/** The SDK error a call ends with (fails the test when the call succeeds). */
async function sdkError(call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call;
  } catch (err) {
    expect(err).toBeInstanceOf(OpenAI.APIError);
    return err as InstanceType<typeof OpenAI.APIError>;
  }
  throw new Error("the call succeeded; an error was expected");
}

describe.skipIf(SKIP_FILTER)("the OpenAI Node SDK through Envoy with the filter", () => {
  let a: FakeUpstream, b: FakeUpstream;
  beforeAll(async () => {
    [a, b] = await startUpstreams(2);
  });
  afterAll(async () => {
    await Promise.all([a, b].map((u) => u?.close()));
  });
  const envoy = useEnvoy(() => ({ config: ENVOY_YAML, substitutions: { wasmPath: FILTER_WASM, endpoints: [a.address, b.address] } }));

  test("a routed request: the completion and its request id", async () => {
    const { data, request_id } = await client(envoy().listenerUrl).chat.completions.create({ model: "m", messages: MESSAGES }).withResponse();
    expect(data.choices[0].message.content).toMatch(/^served by 127\.0\.0\.1:\d+$/);
    expect(request_id).toMatch(UUID);
  });

  test("400: BadRequestError with type, code, param and request id", async () => {
    const err = await sdkError(client(envoy().listenerUrl).chat.completions.create({ model: 5 as unknown as string, messages: MESSAGES }));
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.status).toBe(400);
    expect(err.type).toBe("invalid_request_error");
    expect(err.code).toBe("invalid_type");
    expect(err.param).toBe("model");
    expect(err.requestID).toMatch(UUID);
  });

  test("413: an APIError with type invalid_request_error and code body_too_large", async () => {
    const err = await sdkError(
      client(envoy().listenerUrl).chat.completions.create({ model: "m", messages: [{ role: "user", content: "a".repeat(8_500_000) }] }),
    );
    expect(err.status).toBe(413);
    expect(err.type).toBe("invalid_request_error");
    expect(err.code).toBe("body_too_large");
    expect(err.requestID).toMatch(UUID);
  });
});

describe.skipIf(SKIP_FILTER)("the OpenAI Node SDK: 429 and 503 are retried after retry-after", () => {
  let s: FakeUpstream;
  beforeAll(async () => {
    [s] = await startUpstreams(1);
  });
  afterAll(async () => {
    await s?.close();
  });

  const rejected = async (envoy: { stats(f: string): Promise<Record<string, number>> }, status: number) =>
    (await envoy.stats(`llm_picker\\.requests\\.rejected_${status}`))[`wasmcustom.llm_picker.requests.rejected_${status}`] ?? 0;

  test("429 (saturated, sheddable): RateLimitError system_saturated after 2 retries spaced by retry-after", async () => {
    s.metrics = vllmPage({ waiting: 50, running: 8, kv: 0.95 });
    const envoy = await startEnvoyForTest({ config: ENVOY_YAML, substitutions: { wasmPath: FILTER_WASM, endpoints: [s.address] } });
    expect(await scrapedAgain([s], 3)).toBe(true);
    const t0 = performance.now();
    const err = await sdkError(
      client(envoy.listenerUrl, 2).chat.completions.create({ model: "m", messages: MESSAGES }, { headers: { "x-gateway-inference-priority": "-1" } }),
    );
    const elapsed = performance.now() - t0;
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.type).toBe("rate_limit_error");
    expect(err.code).toBe("system_saturated");
    expect(err.requestID).toMatch(UUID);
    expect(await rejected(envoy, 429)).toBe(3);
    expect(elapsed).toBeGreaterThanOrEqual(1950);
  });

  test("503 from the filter (no endpoints): InternalServerError no_endpoints, retried after retry-after", async () => {
    const envoy = await startEnvoyForTest({
      config: ENVOY_YAML,
      substitutions: { wasmPath: FILTER_WASM, endpoints: [s.address], pluginConfig: { endpoints: [] } },
    });
    const t0 = performance.now();
    const err = await sdkError(client(envoy.listenerUrl, 2).chat.completions.create({ model: "m", messages: MESSAGES }));
    const elapsed = performance.now() - t0;
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(503);
    expect(err.type).toBe("server_error");
    expect(err.code).toBe("no_endpoints");
    expect(err.requestID).toMatch(UUID);
    expect(await rejected(envoy, 503)).toBe(3);
    expect(elapsed).toBeGreaterThanOrEqual(1950);
  });

  test("503 from Envoy (no server answers): InternalServerError with type server_error and a code, retried after retry-after", async () => {
    const [dead] = await startUpstreams(1);
    const address = dead.address;
    await dead.close();
    const envoy = await startEnvoyForTest({ config: ENVOY_YAML, substitutions: { wasmPath: FILTER_WASM, endpoints: [address] } });
    const t0 = performance.now();
    const err = await sdkError(client(envoy.listenerUrl, 2).chat.completions.create({ model: "m", messages: MESSAGES }));
    const elapsed = performance.now() - t0;
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(503);
    expect(err.type).toBe("server_error");
    expect(typeof err.code).toBe("string");
    expect(err.requestID).toMatch(UUID);
    expect(elapsed).toBeGreaterThanOrEqual(1950);
  });
});
