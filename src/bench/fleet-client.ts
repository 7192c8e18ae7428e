/**
 * Client of the fleet benchmark: one streaming request to one Envoy replica,
 * timed at the client, with the server's own count of prompt tokens served
 * from its prefix cache (the usage chunk a stream ends with when
 * `stream_options.include_usage` is set), so the hit rate can be followed
 * over time, not only as a total.
 */
import { request } from "node:http";
import { agent, isOutputEvent, outputTextOf } from "./routing-client.js";

export interface FleetOutcome {
  ok: boolean;
  status: number;
  /** Real ms from send to the first output event (NaN when none). */
  ttftMs: number;
  promptTokens: number;
  cachedTokens: number;
  /** The streamed reply (fed back into the session's next turn). */
  text: string;
  error?: string;
  /** The connection was refused (the replica is gone): nothing was sent. */
  refused: boolean;
  /**
   * A kept-alive connection turned out dead when the request was written
   * (reset before any response byte): Node's documented case for sending the
   * request again on a new connection.
   */
  staleConnection: boolean;
}

function usageOf(event: string): { prompt: number; cached: number } | null {
  const data = event.split("\n").find((l) => l.startsWith("data:"));
  if (!data?.includes('"usage"')) return null;
  try {
    const chunk = JSON.parse(data.slice(5)) as {
      usage?: {
        prompt_tokens?: number;
        input_tokens?: number;
        prompt_tokens_details?: { cached_tokens?: number };
        input_tokens_details?: { cached_tokens?: number };
      };
    };
    const u = chunk.usage;
    if (!u) return null;
    return { prompt: u.prompt_tokens ?? u.input_tokens ?? 0, cached: u.prompt_tokens_details?.cached_tokens ?? u.input_tokens_details?.cached_tokens ?? 0 };
  } catch {
    return null;
  }
}

/** `headers`: more request headers (e.g. an x-request-id the kill diagnostic finds again in Envoy's log). */
export function fleetRequest(url: string, body: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<FleetOutcome> {
  const startedAt = performance.now();
  return new Promise((resolve) => {
    let ttft = NaN;
    let text = "";
    let usage = { prompt: 0, cached: 0 };
    let settled = false;
    const finish = (o: Partial<FleetOutcome> & { ok: boolean; status: number }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ttftMs: ttft, promptTokens: usage.prompt, cachedTokens: usage.cached, text, refused: false, staleConnection: false, ...o });
    };
    const req = request(
      url,
      { method: "POST", agent, headers: { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        const status = res.statusCode ?? 0;
        res.setEncoding("utf8");
        let pending = "";
        let errorText = "";
        res.on("data", (chunk: string) => {
          if (status !== 200) {
            if (errorText.length < 500) errorText += chunk;
            return;
          }
          pending += chunk.replace(/\r\n/g, "\n");
          for (let cut = pending.indexOf("\n\n"); cut >= 0; cut = pending.indexOf("\n\n")) {
            const event = pending.slice(0, cut);
            pending = pending.slice(cut + 2);
            if (Number.isNaN(ttft) && isOutputEvent(event)) ttft = performance.now() - startedAt;
            text += outputTextOf(event);
            const u = usageOf(event);
            if (u) usage = u;
          }
        });
        res.on("end", () => {
          if (status !== 200) finish({ ok: false, status, error: `HTTP ${status}: ${errorText.slice(0, 400)}` });
          else if (Number.isNaN(ttft)) finish({ ok: false, status, error: "stream ended without output" });
          else finish({ ok: true, status });
        });
        res.on("error", (err) => finish({ ok: false, status, error: err.message }));
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    let responded = false;
    req.on("response", () => {
      responded = true;
    });
    req.on("error", (err: NodeJS.ErrnoException) =>
      finish({
        ok: false,
        status: 0,
        error: err.message,
        refused: err.code === "ECONNREFUSED",
        staleConnection: !responded && req.reusedSocket && err.code === "ECONNRESET",
      }),
    );
    req.end(body);
  });
}
