/**
 * Hostile request bodies for the filter fuzz (test/host/fuzz.test.ts): deep
 * nesting, huge numbers and strings, bad UTF-8, 10 MB bodies. Bodies are built
 * when a test runs, not at import.
 */

const enc = new TextEncoder();
const MB10 = 10 * 1024 * 1024;
const chatWith = (content: string) => `{"model":"m","messages":[{"role":"user","content":${content}}]}`;
function pseudoRandom(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
const bytesOf = (...parts: (string | number[])[]) => Uint8Array.from(parts.flatMap((p) => (typeof p === "string" ? Array.from(enc.encode(p)) : p)));

/** [name, path, body, expected: "route" | an error code | "any" (invariants only)] */
export const HOSTILE: [string, string, () => Uint8Array, string][] = [
  ["100,000 nested arrays", "/v1/chat/completions", () => enc.encode("[".repeat(100000) + "]".repeat(100000)), "invalid_json"],
  ["100,000 nested arrays, unclosed, as messages", "/v1/chat/completions", () => enc.encode('{"model":"m","messages":' + "[".repeat(100000)), "invalid_json"],
  [
    "100,000 nested objects in an ignored field",
    "/v1/chat/completions",
    () => enc.encode('{"model":"m","x":' + '{"a":'.repeat(100000) + "1" + "}".repeat(100000) + "}"),
    "invalid_json",
  ],
  ["100,000 nested arrays as content", "/v1/chat/completions", () => enc.encode(chatWith("[".repeat(100000) + "]".repeat(100000))), "invalid_json"],
  [
    "100,000 nested arrays as tools",
    "/v1/chat/completions",
    () => enc.encode('{"model":"m","messages":[{"role":"user","content":"x"}],"tools":' + "[".repeat(100000) + "]".repeat(100000) + "}"),
    "invalid_json",
  ],
  [
    "100,000 nested arrays as prompt",
    "/v1/completions",
    () => enc.encode('{"model":"m","prompt":' + "[".repeat(100000) + "]".repeat(100000) + "}"),
    "invalid_json",
  ],
  [
    "100,000 nested objects as input",
    "/v1/responses",
    () => enc.encode('{"model":"m","input":[' + '{"a":'.repeat(100000) + "1" + "}".repeat(100000) + "]}"),
    "invalid_json",
  ],
  [
    "128 nested arrays in an ignored field (at the limit)",
    "/v1/chat/completions",
    () => enc.encode('{"model":"m","messages":[{"role":"user","content":"x"}],"x":' + "[".repeat(127) + "]".repeat(127) + "}"),
    "route",
  ],
  ["10 MB content string", "/v1/chat/completions", () => enc.encode(chatWith(JSON.stringify("x".repeat(MB10)))), "route"],
  ["10 MB model string", "/v1/completions", () => enc.encode(`{"model":${JSON.stringify("m".repeat(MB10))},"prompt":"p"}`), "route"],
  ["10 MB string of escapes", "/v1/chat/completions", () => enc.encode(chatWith('"' + "\\n\\u00e9\\ud83d\\ude00".repeat(MB10 / 20) + '"')), "route"],
  ["10 MB of multi-byte UTF-8", "/v1/responses", () => enc.encode(`{"model":"m","input":${JSON.stringify("日本語😀".repeat(MB10 / 13))}}`), "route"],
  ["10 MB unterminated string", "/v1/chat/completions", () => enc.encode(chatWith('"' + "y".repeat(MB10))), "invalid_json"],
  [
    "10 MB key",
    "/v1/chat/completions",
    () => enc.encode(`{${JSON.stringify("k".repeat(MB10))}:1,"model":"m","messages":[{"role":"user","content":"x"}]}`),
    "route",
  ],
  [
    "10 MB tool-call arguments",
    "/v1/chat/completions",
    () =>
      enc.encode(
        `{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":${JSON.stringify(JSON.stringify({ a: "z".repeat(MB10) }))}}}]}]}`,
      ),
    "route",
  ],
  [
    "10 MB of whitespace around the body",
    "/v1/completions",
    () => enc.encode(" ".repeat(MB10 / 2) + '{"model":"m","prompt":"p"}' + "\n".repeat(MB10 / 2)),
    "route",
  ],
  [
    "10 MB number",
    "/v1/chat/completions",
    () => enc.encode(`{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":${"9".repeat(MB10)}}`),
    "route",
  ],
  ["10 MB random bytes", "/v1/chat/completions", () => pseudoRandom(MB10), "invalid_json"],
  [
    "invalid UTF-8 in content",
    "/v1/chat/completions",
    () => bytesOf('{"model":"m","messages":[{"role":"user","content":"a', [0xc3, 0x28], '"}]}'),
    "invalid_json",
  ],
  ["invalid UTF-8 in the model", "/v1/completions", () => bytesOf('{"model":"', [0xff], '","prompt":"p"}'), "invalid_json"],
  ["invalid UTF-8 in a key", "/v1/completions", () => bytesOf('{"', [0xfe], '":1,"model":"m","prompt":"p"}'), "invalid_json"],
  ["invalid UTF-8 in an ignored field", "/v1/completions", () => bytesOf('{"model":"m","prompt":"p","user":"', [0x80], '"}'), "invalid_json"],
  ["overlong NUL (C0 80)", "/v1/completions", () => bytesOf('{"model":"m","prompt":"', [0xc0, 0x80], '"}'), "invalid_json"],
  ["UTF-8 encoded surrogate (ED A0 80)", "/v1/completions", () => bytesOf('{"model":"m","prompt":"', [0xed, 0xa0, 0x80], '"}'), "invalid_json"],
  ["code point past U+10FFFF (F4 90 80 80)", "/v1/completions", () => bytesOf('{"model":"m","prompt":"', [0xf4, 0x90, 0x80, 0x80], '"}'), "invalid_json"],
  ["sequence cut by the closing quote (E2 82)", "/v1/completions", () => bytesOf('{"model":"m","prompt":"', [0xe2, 0x82], '"}'), "invalid_json"],
  ["invalid UTF-8 after the object", "/v1/completions", () => bytesOf('{"model":"m","prompt":"p"}', [0xff]), "invalid_json"],
  ["UTF-8 BOM before the object", "/v1/completions", () => bytesOf([0xef, 0xbb, 0xbf], '{"model":"m","prompt":"p"}'), "invalid_json"],
  [
    "1e999 where it is not interpreted",
    "/v1/chat/completions",
    () => enc.encode('{"model":"m","temperature":1e999,"top_p":-1e-999,"messages":[{"role":"user","content":"x","w":1e999}]}'),
    "route",
  ],
  ["1e999 as a token id", "/v1/completions", () => enc.encode('{"model":"m","prompt":[1e999]}'), "invalid_value"],
  ["1e999 in a nested token list", "/v1/completions", () => enc.encode('{"model":"m","prompt":[[1,1e999]]}'), "invalid_value"],
  ["4294967296 as a token id", "/v1/completions", () => enc.encode('{"model":"m","prompt":[4294967296]}'), "invalid_value"],
  ["-1 as a token id", "/v1/completions", () => enc.encode('{"model":"m","prompt":[-1]}'), "invalid_value"],
  ["1.5 as a token id", "/v1/completions", () => enc.encode('{"model":"m","prompt":[1.5]}'), "invalid_value"],
  ["1e999 as the model", "/v1/completions", () => enc.encode('{"model":1e999,"prompt":"p"}'), "invalid_type"],
  ["a 1,000-digit token id", "/v1/completions", () => enc.encode('{"model":"m","prompt":[' + "1".repeat(1000) + "]}"), "invalid_value"],
  ["raw NUL byte in a string", "/v1/chat/completions", () => enc.encode(chatWith('"a\u0000b"')), "invalid_json"],
  ["raw NUL byte between tokens", "/v1/completions", () => enc.encode('{"model":"m",\u0000"prompt":"p"}'), "invalid_json"],
  ["raw NUL byte after the object", "/v1/completions", () => enc.encode('{"model":"m","prompt":"p"}\u0000'), "invalid_json"],
  ["a single NUL byte", "/v1/completions", () => Uint8Array.of(0), "invalid_json"],
  [
    "escaped NUL in every string",
    "/v1/chat/completions",
    () => enc.encode('{"model":"\\u0000","messages":[{"role":"\\u0000","content":"\\u0000","name":"\\u0000"}],"\\u0000":"\\u0000"}'),
    "route",
  ],
  ["10,000 duplicate model keys", "/v1/completions", () => enc.encode("{" + '"model":"a",'.repeat(10000) + '"model":"last","prompt":"p"}'), "route"],
  [
    "duplicate messages: a wrong one, then a good one",
    "/v1/chat/completions",
    () => enc.encode('{"model":"m","messages":5,"messages":[{"role":"user","content":"x"}]}'),
    "route",
  ],
  [
    "duplicate messages: a good one, then a wrong one",
    "/v1/chat/completions",
    () => enc.encode('{"model":"m","messages":[{"role":"user","content":"x"}],"messages":{}}'),
    "invalid_type",
  ],
  [
    "duplicate content in one message",
    "/v1/chat/completions",
    () => enc.encode('{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"}],"content":"b","content":7}]}'),
    "invalid_type",
  ],
  [
    "65,536 messages (the element bound)",
    "/v1/chat/completions",
    () => enc.encode('{"model":"m","messages":[' + Array(65536).fill('{"role":"user","content":"hi"}').join(",") + "]}"),
    "route",
  ],
  [
    "100,000 messages (past the element bound)",
    "/v1/chat/completions",
    () => enc.encode('{"model":"m","messages":[' + Array(100000).fill('{"role":"user","content":"hi"}').join(",") + "]}"),
    "too_many_elements",
  ],
  [
    "60,000 messages, the last one wrong",
    "/v1/chat/completions",
    () => enc.encode('{"model":"m","messages":[' + Array(60000).fill('{"role":"user","content":"hi"}').join(",") + ",7]}"),
    "invalid_type",
  ],
  [
    "300,000 empty-ish messages",
    "/v1/chat/completions",
    () => enc.encode('{"model":"m","messages":[' + Array(300000).fill("{}").join(",") + "]}"),
    "too_many_elements",
  ],
  [
    "100,000 content parts",
    "/v1/chat/completions",
    () => enc.encode(chatWith("[" + Array(100000).fill('{"type":"text","text":"t"}').join(",") + "]")),
    "too_many_elements",
  ],
  ["100,000 token ids", "/v1/completions", () => enc.encode('{"model":"m","prompt":[' + Array(100000).fill("4294967295").join(",") + "]}"), "route"],
  ["100,000 token-id lists", "/v1/completions", () => enc.encode('{"model":"m","prompt":[' + Array(100000).fill("[1]").join(",") + "]}"), "too_many_elements"],
  ["100,000 prompt strings", "/v1/completions", () => enc.encode('{"model":"m","prompt":[' + Array(100000).fill('"p"').join(",") + "]}"), "too_many_elements"],
  [
    "100,000 input items",
    "/v1/responses",
    () => enc.encode('{"model":"m","input":[' + Array(100000).fill('{"role":"user","content":"c"}').join(",") + "]}"),
    "too_many_elements",
  ],
  [
    "100,000 tools",
    "/v1/chat/completions",
    () => enc.encode('{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[' + Array(100000).fill('{"type":"function"}').join(",") + "]}"),
    "route",
  ],
  ["100,000 empty keys", "/v1/completions", () => enc.encode("{" + '"":0,'.repeat(100000) + '"model":"m","prompt":"p"}'), "route"],
  ["empty body", "/v1/chat/completions", () => new Uint8Array(0), "invalid_json"],
  ["only whitespace", "/v1/chat/completions", () => enc.encode(" \n\t\r "), "invalid_json"],
  ["null", "/v1/chat/completions", () => enc.encode("null"), "invalid_type"],
  ["an array", "/v1/chat/completions", () => enc.encode("[]"), "invalid_type"],
  ["two objects", "/v1/completions", () => enc.encode('{"model":"m","prompt":"p"}{}'), "invalid_json"],
  ["a lone surrogate escape in the model", "/v1/completions", () => enc.encode('{"model":"\\ud800","prompt":"\\udfff"}'), "route"],
  ["a bad escape", "/v1/completions", () => enc.encode('{"model":"\\x41","prompt":"p"}'), "invalid_json"],
];
