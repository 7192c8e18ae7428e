/**
 * Host self-tests: the HTTP filter-manager emulation (headers stop with and
 * without allow_on_headers_stop_iteration, cumulative body buffering, 413, header
 * maps after continue, first-value get, local replies, end-of-stream order).
 */
import { describe, expect, it } from "vitest";
import { ProxyWasmHost, WasmResult, headerByteSize, type ProxyWasmHostOptions } from "../../src/host/index.js";
import { guest, logConst, logReturned, setU32, u32 } from "./guests/guest.js";

// Slots steering / recording the stream guest.
const HEADERS_RET = 0x100; // value on_request_headers returns (99 ⇒ send_local_response 403, return Continue)
const BODY_RET = 0x104; // value on_request_body returns before end_of_stream
const BODY_EOS_RET = 0x108; // value on_request_body returns at end_of_stream
const HEADERS_CALLS = 0x10c;
const BODY_CALLS = 0x110;
const BODY_SIZE = 0x114;
const BODY_EOS = 0x118;
const BUFFER_READ = 0x120; // size get_buffer_bytes(0) returned in the body callback
const ADD_RESULT = 0x124; // status of add_header_map_value(0) in the body callback
const MAP_SIZE = 0x130; // get_header_map_size(0) in the headers callback
const END_IDS = 0x140; // context ids received by on_log, on_done, on_delete

async function streamGuest(): Promise<Uint8Array> {
  return guest({
    imports: [
      "proxy_log",
      "proxy_get_buffer_bytes",
      "proxy_get_header_map_value",
      "proxy_add_header_map_value",
      "proxy_replace_header_map_value",
      "proxy_get_header_map_size",
      "proxy_send_local_response",
    ],
    data: {
      0x400: "X-Dup",
      0x410: "x-one",
      0x418: "new",
      0x420: "x-added",
      0x430: "1",
      0x440: "on_log",
      0x450: "on_done",
      0x460: "on_delete",
      0x470: "denied",
      0x480: "no",
    },
    funcs: `
      (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
        (i32.store (i32.const ${HEADERS_CALLS}) (i32.add (i32.load (i32.const ${HEADERS_CALLS})) (i32.const 1)))
        ;; get "X-Dup" (mixed case key) and log the value
        (if (i32.eqz (call $proxy_get_header_map_value (i32.const 0) (i32.const 0x400) (i32.const 5) (i32.const 0x200) (i32.const 0x204)))
          (then ${logReturned(0x200)}))
        (drop (call $proxy_replace_header_map_value (i32.const 0) (i32.const 0x410) (i32.const 5) (i32.const 0x418) (i32.const 3)))
        (drop (call $proxy_get_header_map_size (i32.const 0) (i32.const ${MAP_SIZE})))
        (if (i32.eq (i32.load (i32.const ${HEADERS_RET})) (i32.const 99)) (then
          (drop (call $proxy_send_local_response (i32.const 403) (i32.const 0x470) (i32.const 6) (i32.const 0x480) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const -1)))
          (return (i32.const 0))))
        (i32.load (i32.const ${HEADERS_RET})))
      (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
        (i32.store (i32.const ${BODY_CALLS}) (i32.add (i32.load (i32.const ${BODY_CALLS})) (i32.const 1)))
        (i32.store (i32.const ${BODY_SIZE}) (local.get $size))
        (i32.store (i32.const ${BODY_EOS}) (local.get $eos))
        (drop (call $proxy_get_buffer_bytes (i32.const 0) (i32.const 0) (i32.const 0x7fffffff) (i32.const 0x208) (i32.const 0x20c)))
        (i32.store (i32.const ${BUFFER_READ}) (i32.load (i32.const 0x20c)))
        (i32.store (i32.const ${ADD_RESULT})
          (call $proxy_add_header_map_value (i32.const 0) (i32.const 0x420) (i32.const 7) (i32.const 0x430) (i32.const 1)))
        (if (result i32) (local.get $eos) (then (i32.load (i32.const ${BODY_EOS_RET}))) (else (i32.load (i32.const ${BODY_RET})))))
      (func (export "proxy_on_log") (param $ctx i32) (i32.store (i32.const ${END_IDS}) (local.get $ctx)) ${logConst(0x440, "on_log")})
      (func (export "proxy_on_done") (param $ctx i32) (result i32) (i32.store (i32.const ${END_IDS + 4}) (local.get $ctx)) ${logConst(0x450, "on_done")} (i32.const 1))
      (func (export "proxy_on_delete") (param $ctx i32) (i32.store (i32.const ${END_IDS + 8}) (local.get $ctx)) ${logConst(0x460, "on_delete")})`,
  });
}

const POST: Array<[string, string]> = [
  [":method", "POST"],
  [":path", "/v1/chat/completions"],
  [":authority", "llm"],
];

async function streamHost(options: Partial<ProxyWasmHostOptions> = {}, slots: Record<number, number> = {}) {
  const host = await ProxyWasmHost.create({ wasm: await streamGuest(), ...options });
  for (const [addr, value] of Object.entries(slots)) setU32(host, Number(addr), value);
  return host;
}

describe("request headers: StopIteration and allow_on_headers_stop_iteration", () => {
  it("with the knob: StopIteration holds headers, body callbacks arrive, body Continue releases both", async () => {
    const host = await streamHost({}, { [HEADERS_RET]: 1, [BODY_RET]: 1, [BODY_EOS_RET]: 0 });
    const s = host.newHttpStream().sendRequestHeaders(POST, false);
    expect(s.forwardedRequest()).toBeNull();
    expect(s.state().request).toBe("stopped");
    s.sendRequestBody("abc", false);
    expect(u32(host, BODY_CALLS)).toBe(1);
    expect(s.forwardedRequest()).toBeNull();
    s.sendRequestBody("defg", true);
    expect(u32(host, BODY_CALLS)).toBe(2);
    const fwd = s.forwardedRequest()!;
    expect(fwd.bodyText).toBe("abcdefg");
    expect(fwd.ended).toBe(true);
    // Headers were still held in the body phase, so the add succeeded and reached the router.
    expect(u32(host, ADD_RESULT)).toBe(WasmResult.Ok);
    expect(fwd.headers).toContainEqual(["x-added", "1"]);
  });

  it("without the knob: StopIteration becomes StopAllIterationAndWatermark and the body is withheld", async () => {
    const host = await streamHost({ allowOnHeadersStopIteration: false }, { [HEADERS_RET]: 1 });
    const s = host.newHttpStream().sendRequestHeaders(POST, false).sendRequestBody("abc", true);
    expect(u32(host, BODY_CALLS)).toBe(0);
    expect(s.forwardedRequest()).toBeNull();
    expect(s.state()).toMatchObject({ request: "stopped_all", bufferedBytes: 3 });
    // Watermark flavour: no 413 however much arrives.
    expect(s.localResponse()).toBeNull();
  });

  it("Continue from headers forwards them at once; end_of_stream on headers ends the request", async () => {
    const host = await streamHost({}, { [HEADERS_RET]: 0 });
    const s = host.newHttpStream().sendRequestHeaders(POST, true);
    expect(s.forwardedRequest()).toMatchObject({ ended: true, bodyText: "" });
    expect(u32(host, BODY_CALLS)).toBe(0);
  });
});

describe("request body buffering", () => {
  it("StopIterationAndBuffer: body_size is cumulative and get_buffer_bytes(0) sees the whole body", async () => {
    const host = await streamHost({}, { [HEADERS_RET]: 1, [BODY_RET]: 1, [BODY_EOS_RET]: 1 });
    const s = host.newHttpStream().sendRequestHeaders(POST, false);
    const sizes: number[] = [];
    for (const [chunk, eos] of [
      ["12345", false],
      ["678", false],
      ["90", true],
    ] as const) {
      s.sendRequestBody(chunk, eos);
      sizes.push(u32(host, BODY_SIZE), u32(host, BUFFER_READ));
    }
    expect(sizes).toEqual([5, 5, 8, 8, 10, 10]);
    expect(u32(host, BODY_EOS)).toBe(1);
    expect(s.forwardedRequest()).toBeNull(); // never continued: the request hangs
  });

  it("without buffering each callback sees only its chunk", async () => {
    const host = await streamHost({}, { [HEADERS_RET]: 1, [BODY_RET]: 0, [BODY_EOS_RET]: 0 });
    const s = host.newHttpStream().sendRequestHeaders(POST, false).sendRequestBody("12345", false);
    s.sendRequestBody("678", true);
    expect(u32(host, BODY_SIZE)).toBe(3);
    expect(s.forwardedRequest()?.bodyText).toBe("12345678");
  });

  it("past bufferLimitBytes with headers not continued ⇒ 413 local reply", async () => {
    const host = await streamHost({ bufferLimitBytes: 10 }, { [HEADERS_RET]: 1, [BODY_RET]: 1, [BODY_EOS_RET]: 1 });
    const s = host.newHttpStream().sendRequestHeaders(POST, false).sendRequestBody("123456", false);
    expect(s.localResponse()).toBeNull();
    s.sendRequestBody("789012", false);
    expect(s.localResponse()).toMatchObject({ status: 413, bodyText: "Payload Too Large" });
    expect(s.forwardedRequest()).toBeNull();
    s.sendRequestBody("more", true); // ignored after the local reply
    expect(u32(host, BODY_CALLS)).toBe(2);
  });

  it("exactly at the limit is accepted", async () => {
    const host = await streamHost({ bufferLimitBytes: 10 }, { [HEADERS_RET]: 1, [BODY_RET]: 1, [BODY_EOS_RET]: 0 });
    const s = host.newHttpStream().sendRequestHeaders(POST, false).sendRequestBody("12345", false).sendRequestBody("67890", true);
    expect(s.localResponse()).toBeNull();
    expect(s.forwardedRequest()?.bodyText).toBe("1234567890");
  });
});

describe("header maps", () => {
  it("BAD_ARGUMENT once the headers phase continued", async () => {
    const host = await streamHost({}, { [HEADERS_RET]: 0, [BODY_RET]: 0, [BODY_EOS_RET]: 0 });
    const s = host.newHttpStream().sendRequestHeaders(POST, false).sendRequestBody("x", true);
    expect(u32(host, ADD_RESULT)).toBe(WasmResult.BadArgument);
    expect(s.forwardedRequest()?.headers).not.toContainEqual(["x-added", "1"]);
  });

  it("get returns the first value, keys are lower-cased, replace = add-or-set, size = byteSize", async () => {
    const host = await streamHost({}, { [HEADERS_RET]: 0 });
    const headers: Array<[string, string]> = [...POST, ["X-Dup", "first"], ["x-dup", "second"], ["X-One", "1"], ["x-one", "2"]];
    const s = host.newHttpStream().sendRequestHeaders(headers, true);
    expect(host.logMessages("info")).toEqual(["first"]);
    const fwd = s.forwardedRequest()!.headers;
    expect(fwd.filter(([k]) => k === "x-one")).toEqual([["x-one", "new"]]);
    expect(fwd.filter(([k]) => k === "x-dup")).toEqual([
      ["x-dup", "first"],
      ["x-dup", "second"],
    ]);
    expect(u32(host, MAP_SIZE)).toBe(headerByteSize(fwd));
  });

  it("replace adds a missing header", async () => {
    const host = await streamHost({}, { [HEADERS_RET]: 0 });
    const s = host.newHttpStream().sendRequestHeaders(POST, true);
    expect(s.forwardedRequest()!.headers).toContainEqual(["x-one", "new"]);
  });
});

describe("local replies and stream end", () => {
  it("send_local_response is applied after the callback and forces Stop even when it returned Continue", async () => {
    const host = await streamHost({}, { [HEADERS_RET]: 99 });
    const s = host.newHttpStream().sendRequestHeaders(POST, false);
    expect(s.localResponse()).toMatchObject({ status: 403, bodyText: "no", details: "denied" });
    expect(s.forwardedRequest()).toBeNull();
    s.sendRequestBody("x", true);
    expect(u32(host, BODY_CALLS)).toBe(0);
  });

  it.each(["complete", "client_reset", "upstream_reset", "timeout"] as const)("end(%s): on_log → on_done → on_delete", async (kind) => {
    const host = await streamHost({}, { [HEADERS_RET]: 0 });
    const s = host.newHttpStream().sendRequestHeaders(POST, true).end(kind);
    expect(host.logMessages("info")).toEqual(["on_log", "on_done", "on_delete"]);
    expect(s.calls.slice(-3)).toEqual(["proxy_on_log", "proxy_on_done", "proxy_on_delete"]);
    // Envoy passes the stream's own context id to each end callback.
    expect([u32(host, END_IDS), u32(host, END_IDS + 4), u32(host, END_IDS + 8)]).toEqual([s.id, s.id, s.id]);
    expect(s.destroyed).toBe(true);
    if (kind === "upstream_reset") expect(s.localResponse()?.status).toBe(503);
    if (kind === "timeout") expect(s.localResponse()?.status).toBe(504);
  });
});
