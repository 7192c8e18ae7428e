// Golden vectors of the rendering and chain (test/fixtures/golden/*.json,
// generated only by `npx tsx src/reference/golden.ts --update`). Checks the
// AssemblyScript build (real bodies through request/parse.ts) and the
// independent TypeScript reference against the committed files; never writes.
import { beforeAll, describe, expect, it } from "vitest";
import { compute, INPUTS, loadGolden } from "../../src/reference/golden.ts";
import { loadUnits, type Units } from "../support";

let u: Units<"hashing">;
const enc = new TextEncoder();
const API = { completions: 0, chat: 1, responses: 2 } as const;

beforeAll(async () => {
  u = await loadUnits("hashing");
});

for (const apiName of ["completions", "chat", "responses"] as const) {
  describe(`golden ${apiName}`, () => {
    const cases = loadGolden(apiName);
    it("the file has every reference case", () => {
      expect(cases.map((c) => c.name)).toEqual(INPUTS[apiName].map((c) => c.name));
    });
    it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
      expect(u.renderHex(enc.encode(c.body), API[c.api])).toBe(c.rendered);
      expect(u.hashBodyHex(enc.encode(c.body), API[c.api], "", c.blockSize, c.maxBlocks, c.hashTrailingBlock)).toBe(c.hashes.join(" "));
      // The reference still produces the committed vector.
      expect(compute(INPUTS[apiName].find((i) => i.name === c.name)!)).toEqual(c);
    });
  });
}

describe("golden cross-checks", () => {
  it("the seed's completions vectors are in the file unchanged", () => {
    const byName = Object.fromEntries(loadGolden("completions").map((c) => [c.name, c.hashes.join(" ")]));
    expect(byName["seed: aaaabbbbcccc, S=4, PR algorithm"]).toBe("cc8952e70e1c4504 251707ac8b048154 a39267888ad6734a");
    expect(byName["seed: cache_salt abc"]).toBe("c67050368526a7c4 60a683dc91e6e3d3 8652b5026acf9ffb");
    expect(byName["seed: trailing block hashed"]).toBe("cc8952e70e1c4504 251707ac8b048154 58c20ecce59ab5af");
    expect(byName["seed: Llama 200 chars, S=64"]).toBe("66089c0326be8b90 1b8af9f84f6f5c31 20e0a0ae56889bca");
  });
  it("reordered keys, whitespace and request flags render the same", () => {
    const chat = loadGolden("chat");
    expect(chat[2].rendered).toBe(chat[1].rendered);
    expect(chat[2].hashes).toEqual(chat[1].hashes);
  });
  const chatCase = (name: string) => loadGolden("chat").find((c) => c.name.startsWith(name))!;
  it("render version 2: the same document with two questions shares the document's blocks", () => {
    // 'M' 'r' "user" 00 00 's' = 9 bytes, then the 156-byte document: 165 shared bytes = 10 blocks of 16.
    const a = chatCase("doc-qa: a document");
    const b = chatCase("doc-qa: the same document");
    expect(a.hashes.slice(0, 10)).toEqual(b.hashes.slice(0, 10));
    expect(a.hashes[10]).not.toBe(b.hashes[10]);
  });
  it("render version 2: reserved bytes are escaped (00 → 00 FF) and a field ends with 00 00", () => {
    // "a\0b\0\0c\u00ff" then a second message "d".
    expect(chatCase("reserved bytes").rendered).toBe(
      "4d" + "72" + "75736572" + "0000" + "73" + "6100ff6200ff00ff63c3bf" + "0000" + "4d" + "72" + "75736572" + "0000" + "73" + "64" + "0000",
    );
  });
  it("render version 2: a message boundary is not the same as the text it splits", () => {
    const one = chatCase("boundaries: one message");
    const two = chatCase("boundaries: two messages");
    expect(one.rendered).toBe("4d" + "72" + "75736572" + "0000" + "73" + "6162" + "0000");
    expect(two.rendered.startsWith("4d72757365720000736100004d")).toBe(true);
    expect(two.hashes[1]).not.toBe(one.hashes[1]);
  });
});
