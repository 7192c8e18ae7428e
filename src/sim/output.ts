// Deterministic generated output: the length and the filler text of a reply
// depend only on the configured seed and the request's content. So the same
// request gets the same reply from every server, in every run and under every
// routing policy, which keeps benchmark comparisons fair.

import { createHash } from "node:crypto";
import type { SimConfig } from "./config.js";
import { encodeText } from "./tokenizer.js";

/** Small seeded PRNG (mulberry32): 32-bit state, uniform floats in [0, 1). */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
}

/** A PRNG seeded by the config seed and a request's content key. */
export function requestRandom(seed: number, contentKey: string): SeededRandom {
  const digest = createHash("sha256").update(`${seed}\0${contentKey}`).digest();
  return new SeededRandom(digest.readUInt32LE(0));
}

/**
 * Output length: "maxTokens" mode uses the request's max_tokens when given,
 * else a uniform draw in [outputTokensMin, outputTokensMax]; "uniform" mode
 * always draws, capped by max_tokens. Never more than `room` (what
 * max_model_len leaves after the prompt), never less than 1.
 */
export function outputLength(config: SimConfig, maxTokens: number | null, room: number, random: SeededRandom): number {
  const drawn = random.int(config.outputTokensMin, config.outputTokensMax);
  let n: number;
  if (config.outputTokensMode === "maxTokens" && maxTokens !== null) n = maxTokens;
  else n = maxTokens !== null ? Math.min(drawn, maxTokens) : drawn;
  return Math.max(1, Math.min(n, room));
}

// Words that are single tokens in the Llama 3 vocabulary, with a leading space
// (" the") for the body and capitalised without one ("The") to open a reply.
const BODY_WORDS =
  "the of and to in is that for it as with was on be by this are from at or an have not they which one you were all we can her has there been if more when will would who so no time like than them into some could other then these two may first only its also new any very after well most through just over where much should good because people each make great those such long little work between same under last might while own right still".split(
    " ",
  );
const OPENING_WORDS = "The This It In A We There When".split(" ");

interface Vocabulary {
  opening: { text: string; id: number }[];
  body: { text: string; id: number }[];
}

let vocabulary: Vocabulary | null = null;

function singleTokens(words: string[], prefix: string): { text: string; id: number }[] {
  const out: { text: string; id: number }[] = [];
  for (const word of words) {
    const ids = encodeText(prefix + word);
    if (ids.length === 1) out.push({ text: prefix + word, id: ids[0] });
  }
  return out;
}

function vocab(): Vocabulary {
  if (vocabulary === null) {
    vocabulary = { opening: singleTokens(OPENING_WORDS, ""), body: singleTokens(BODY_WORDS, " ") };
    if (vocabulary.opening.length === 0 || vocabulary.body.length === 0) throw new Error("filler vocabulary is empty");
  }
  return vocabulary;
}

export interface Filler {
  /** One string per output token; their concatenation is the reply text. */
  pieces: string[];
  ids: number[];
}

/** `n` filler tokens: every piece is exactly one token of the real vocabulary. */
export function fillerTokens(n: number, random: SeededRandom): Filler {
  const v = vocab();
  const pieces: string[] = [];
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const list = i === 0 ? v.opening : v.body;
    const word = list[Math.floor(random.next() * list.length)];
    pieces.push(word.text);
    ids.push(word.id);
  }
  return { pieces, ids };
}
