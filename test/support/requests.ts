/** Request builders: the same ones the benchmarks and the demo use. */
export { chatBody, type ChatMessage, lcg, type Turn } from "../../src/requests/bodies.js";

/**
 * Body chunks as one byte array and the lengths of all chunks but the last:
 * what the unit modules' chunked scanners (firstTokenChunk, responseIdOf)
 * take to feed the bytes back chunk by chunk.
 */
export function joinedChunks(chunks: string[]): { bytes: Uint8Array; cuts: Int32Array } {
  const parts = chunks.map((c) => new TextEncoder().encode(c));
  const bytes = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of parts) {
    bytes.set(b, at);
    at += b.length;
  }
  return { bytes, cuts: Int32Array.from(parts.slice(0, -1).map((b) => b.length)) };
}
