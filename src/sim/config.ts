// Configuration of one simulated vLLM server.
//
// Every parameter has a default; a JSON file (or object) overrides any subset.
// Validation rejects unknown fields and wrong types with an error that names
// the field, so a typo in a benchmark's --sim file fails loudly instead of
// silently using a default.

import { readFileSync } from "node:fs";

export type OutputTokensMode = "maxTokens" | "uniform";

export interface SimConfig {
  /** Model name served (reported by /v1/models and in metric labels). */
  model: string;
  /** Accept requests naming any model (true) or only `model` and `loraAdapters` (false → 404 like vLLM). */
  acceptAnyModel: boolean;
  /** LoRA adapter names this server knows; a request whose `model` is one of them runs with that adapter. */
  loraAdapters: string[];
  /** Most distinct LoRA adapters in the running batch at once (vLLM --max-loras). */
  maxLoras: number;
  /** Tokens per KV block (vLLM --block-size, default 16). */
  blockSize: number;
  /** KV blocks on the "GPU" (the capacity of the prefix cache and of running requests). */
  numGpuBlocks: number;
  /** Longest prompt + output accepted (vLLM --max-model-len); longer → HTTP 400. */
  maxModelLen: number;
  /** Most running requests (vLLM --max-num-seqs); the rest wait in a FIFO queue. */
  maxNumSeqs: number;
  /** Fixed part of time to first token (scheduling, first forward pass), model ms. */
  overheadMs: number;
  /** Prefill time per uncached prompt token, model ms. */
  prefillMsPerToken: number;
  /** Prefills run one after another on a server (true: a GPU is busy with one prefill), or all in parallel (false). */
  serialPrefill: boolean;
  /** Decode time per output token with a batch of one, model ms. */
  decodeMsPerToken: number;
  /** Decode slows by this fraction per additional running request: step = decodeMsPerToken * (1 + f * (running - 1)). */
  decodeBatchFactor: number;
  /** "maxTokens": a request's max_tokens decides the output length when given, else uniform[min,max];
   *  "uniform": uniform[min,max] capped by max_tokens. Draws are seeded by `seed` and the request. */
  outputTokensMode: OutputTokensMode;
  outputTokensMin: number;
  outputTokensMax: number;
  /** Seed of every random draw (output lengths and filler text). */
  seed: number;
  /** Real time = model time * timeScale (0.01 runs the latency model 100x faster). */
  timeScale: number;
}

export const DEFAULT_SIM_CONFIG: Readonly<SimConfig> = Object.freeze({
  model: "meta-llama/Llama-3.1-8B-Instruct",
  acceptAnyModel: true,
  loraAdapters: [],
  maxLoras: 1,
  blockSize: 16,
  numGpuBlocks: 4096,
  maxModelLen: 32768,
  maxNumSeqs: 32,
  overheadMs: 10,
  prefillMsPerToken: 0.1,
  serialPrefill: true,
  decodeMsPerToken: 10,
  decodeBatchFactor: 0.01,
  outputTokensMode: "maxTokens",
  outputTokensMin: 16,
  outputTokensMax: 128,
  seed: 42,
  timeScale: 1,
}) as SimConfig;

export class SimConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`sim config: field "${field}": ${message}`);
    this.name = "SimConfigError";
  }
}

type FieldKind = "string" | "boolean" | "int" | "number" | "stringArray" | "mode";

const FIELD_KINDS: Record<keyof SimConfig, FieldKind> = {
  model: "string",
  acceptAnyModel: "boolean",
  loraAdapters: "stringArray",
  maxLoras: "int",
  blockSize: "int",
  numGpuBlocks: "int",
  maxModelLen: "int",
  maxNumSeqs: "int",
  overheadMs: "number",
  prefillMsPerToken: "number",
  serialPrefill: "boolean",
  decodeMsPerToken: "number",
  decodeBatchFactor: "number",
  outputTokensMode: "mode",
  outputTokensMin: "int",
  outputTokensMax: "int",
  seed: "int",
  timeScale: "number",
};

function checkKind(field: string, kind: FieldKind, value: unknown): void {
  switch (kind) {
    case "string":
      if (typeof value !== "string" || value.length === 0) throw new SimConfigError(field, "must be a non-empty string");
      return;
    case "boolean":
      if (typeof value !== "boolean") throw new SimConfigError(field, "must be true or false");
      return;
    case "int":
      if (typeof value !== "number" || !Number.isSafeInteger(value)) throw new SimConfigError(field, "must be an integer");
      return;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) throw new SimConfigError(field, "must be a finite number");
      return;
    case "stringArray":
      if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || v.length === 0))
        throw new SimConfigError(field, "must be an array of non-empty strings");
      return;
    case "mode":
      if (value !== "maxTokens" && value !== "uniform") throw new SimConfigError(field, 'must be "maxTokens" or "uniform"');
      return;
  }
}

function atLeast(field: keyof SimConfig, value: number, min: number): void {
  if (value < min) throw new SimConfigError(field, `must be >= ${min} (got ${value})`);
}

/** Defaults overridden by `input` (a parsed JSON object), validated. Throws SimConfigError naming the field. */
export function resolveSimConfig(input: unknown = {}): SimConfig {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new SimConfigError("(root)", "must be a JSON object");
  }
  const merged: Record<string, unknown> = { ...DEFAULT_SIM_CONFIG, loraAdapters: [] };
  for (const [field, value] of Object.entries(input as Record<string, unknown>)) {
    if (!Object.hasOwn(FIELD_KINDS, field)) {
      throw new SimConfigError(field, `unknown field (known: ${Object.keys(FIELD_KINDS).join(", ")})`);
    }
    checkKind(field, FIELD_KINDS[field as keyof SimConfig], value);
    merged[field] = Array.isArray(value) ? [...value] : value;
  }
  const config = merged as unknown as SimConfig;
  atLeast("maxLoras", config.maxLoras, 0);
  atLeast("blockSize", config.blockSize, 1);
  atLeast("numGpuBlocks", config.numGpuBlocks, 1);
  atLeast("maxModelLen", config.maxModelLen, 2);
  atLeast("maxNumSeqs", config.maxNumSeqs, 1);
  atLeast("overheadMs", config.overheadMs, 0);
  atLeast("prefillMsPerToken", config.prefillMsPerToken, 0);
  atLeast("decodeMsPerToken", config.decodeMsPerToken, 0);
  atLeast("decodeBatchFactor", config.decodeBatchFactor, 0);
  atLeast("outputTokensMin", config.outputTokensMin, 1);
  atLeast("outputTokensMax", config.outputTokensMax, config.outputTokensMin);
  if (!(config.timeScale > 0)) throw new SimConfigError("timeScale", `must be > 0 (got ${config.timeScale})`);
  return config;
}

/** Reads and validates a JSON config file. Errors name the file and the field. */
export function loadSimConfigFile(path: string): SimConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`sim config: cannot read ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`sim config: ${path} is not valid JSON: ${(err as Error).message}`);
  }
  try {
    return resolveSimConfig(parsed);
  } catch (err) {
    if (err instanceof SimConfigError) err.message = `${path}: ${err.message}`;
    throw err;
  }
}
