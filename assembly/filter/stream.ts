// One HTTP stream: strips the client's routing header, holds the headers
// while the body is buffered, then decides and sets the routing header.
// Envoy semantics this relies on: envoy-proxy-wasm.md §0.1 (StopIteration
// needs allow_on_headers_stop_iteration), §1.8 (body accumulates while
// paused; read it once at end_of_stream), §3.1 (no-body requests continue at
// headers or they hang).
import { getHeader, log, LogLevel, MapType, removeHeader, replaceHeader, sendLocalResponse, HeaderPair } from "./host";
import { RootContext } from "./root";
import { ByteWriter } from "../util/bytes";

export const DESTINATION_HEADER = "x-gateway-destination-endpoint";

const CONTINUE: u32 = 0;
const STOP_ITERATION: u32 = 1;
const STOP_AND_BUFFER: u32 = 1;

export class StreamContext {
  private decided: bool = false;

  constructor(public id: u32, public root: RootContext) {}

  onRequestHeaders(endOfStream: bool): u32 {
    // Never trust a client-sent routing header (issue 2, security rules).
    removeHeader(MapType.RequestHeaders, DESTINATION_HEADER);
    if (endOfStream) {
      this.decide();
      return CONTINUE;
    }
    return STOP_ITERATION;
  }

  onRequestBody(bodySize: u32, endOfStream: bool): u32 {
    if (this.decided) return CONTINUE;
    if (!endOfStream) return STOP_AND_BUFFER;
    this.decide();
    return CONTINUE;
  }

  /** With trailers the body never reports end_of_stream: decide here. */
  onRequestTrailers(): u32 {
    if (!this.decided) this.decide();
    return CONTINUE;
  }

  onResponseHeaders(endOfStream: bool): u32 {
    return CONTINUE;
  }

  onLog(): void {}
  onDone(): void {}
  onDelete(): void {}

  private decide(): void {
    this.decided = true;
    const endpoint = this.root.nextRoundRobin();
    if (endpoint.length == 0) {
      this.reject(503, "no_endpoints", "no model server endpoints are configured");
      return;
    }
    replaceHeader(MapType.RequestHeaders, DESTINATION_HEADER, endpoint);
  }

  private reject(status: u32, code: string, message: string): void {
    const w = new ByteWriter(128);
    w.str('{"error":{"message":"');
    w.str(message);
    w.str('","type":"invalid_request_error","param":null,"code":"');
    w.str(code);
    w.str('"}}');
    const headers = new Array<HeaderPair>();
    headers.push(new HeaderPair("content-type", "application/json"));
    sendLocalResponse(status, "llm_picker_" + code, w.toBytes(), headers);
  }
}
