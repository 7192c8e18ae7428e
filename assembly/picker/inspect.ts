// The `inspect` line: one routing decision as JSON (README "Inspect a
// decision"), written from a RouteResult. Only the CLI's inspect path
// (filter/stream.ts) writes it.
import { ByteWriter } from "../util/bytes";
import { errorJson, requestJson } from "../request/output";
import { hex64 } from "../util/hex";
import { writeDecisionFields } from "../scoring/decide";
import { Outcome, RouteResult } from "./route_result";

/** The `inspect` line (README "Inspect a decision"). */
export function inspectLine(r: RouteResult, blockSize: i32, out: ByteWriter): void {
  if (r.outcome == Outcome.Reject) {
    out.str('{"decision":"reject","status":');
    out.str(r.status.toString());
    out.str(',"error":');
    // errorJson writes {"error":{...}}; the contract wants the inner object here.
    const w = new ByteWriter(256);
    errorJson(r.error!, w);
    const b = w.view();
    // strip the outer {"error": and the final }
    const prefixLen = 9;
    if (b.length > prefixLen + 1) out.raw(b.dataStart + prefixLen, b.length - prefixLen - 1);
    else out.str("null");
    out.byte(0x7d);
    return;
  }
  if (r.outcome == Outcome.Forward) {
    out.str('{"decision":"forward","session":"');
    out.str(r.sessionKey);
    out.str('","replica":"');
    out.str(r.replica);
    out.str('"}');
    return;
  }
  if (r.outcome == Outcome.Pass) {
    out.str('{"decision":"pass"');
  } else {
    out.str('{"decision":"route","request":');
    requestJson(r.request!, out);
    out.str(',"prefix":{"blockSize":');
    out.str(blockSize.toString());
    out.str(',"hashes":[');
    for (let i = 0; i < r.hashes.length; i++) {
      if (i > 0) out.byte(0x2c);
      out.byte(0x22);
      out.str(hex64(unchecked(r.hashes[i])));
      out.byte(0x22);
    }
    out.str("]}");
  }
  const d = r.decision;
  if (d != null) {
    out.byte(0x2c);
    writeDecisionFields(out, d!, r.states);
  }
  out.byte(0x7d);
}
