/**
 * HTTP client of the routing benchmark: one streaming request through Envoy,
 * timed at the client. Time to first token = from sending the request to the
 * first server-sent event that carries output (for /v1/responses, the
 * `response.created` / `response.in_progress` events that the server sends
 * before any token do not count).
 */
import { Agent, request } from "node:http";

export interface RequestOutcome {
  ok: boolean;
  status: number;
  /** Real milliseconds from send to the first output event (NaN when none). */
  ttftMs: number;
  /** Real milliseconds from send to the end of the response. */
  totalMs: number;
  error?: string;
}

export const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

const NOT_OUTPUT_EVENTS = new Set(["response.created", "response.in_progress"]);

/** True when one SSE event (its text without the blank line) marks output. */
export function isOutputEvent(event: string): boolean {
  let name = "";
  let data = "";
  for (const line of event.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (data === "" || data === "[DONE]") return false;
  if (name && NOT_OUTPUT_EVENTS.has(name)) return false;
  if (!name && (data.includes('"type":"response.created"') || data.includes('"type":"response.in_progress"'))) return false;
  return true;
}

/**
 * POSTs `body` (a JSON text that asks for streaming) to `url` and times it.
 * `startedAt` (performance.now()) lets the caller include its own routing work.
 */
export function streamRequest(url: string, body: string, headers: Record<string, string>, timeoutMs: number, startedAt = performance.now()): Promise<RequestOutcome> {
  return new Promise((resolve) => {
    let ttft = NaN;
    let settled = false;
    const finish = (outcome: Omit<RequestOutcome, "ttftMs" | "totalMs">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...outcome, ttftMs: ttft, totalMs: performance.now() - startedAt });
    };
    const req = request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers } },
      (res) => {
        const status = res.statusCode ?? 0;
        res.setEncoding("utf8");
        let pending = "";
        let text = "";
        res.on("data", (chunk: string) => {
          if (status !== 200) {
            if (text.length < 2000) text += chunk;
            return;
          }
          if (!Number.isNaN(ttft)) return;
          pending += chunk.replace(/\r\n/g, "\n");
          let cut: number;
          while ((cut = pending.indexOf("\n\n")) >= 0) {
            const event = pending.slice(0, cut);
            pending = pending.slice(cut + 2);
            if (isOutputEvent(event)) {
              ttft = performance.now() - startedAt;
              pending = "";
              break;
            }
          }
        });
        res.on("end", () => {
          if (status !== 200) finish({ ok: false, status, error: `HTTP ${status}: ${text.slice(0, 300)}` });
          else if (Number.isNaN(ttft)) finish({ ok: false, status, error: "stream ended without output" });
          else finish({ ok: true, status });
        });
        res.on("error", (err) => finish({ ok: false, status, error: err.message }));
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`timeout after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on("error", (err) => finish({ ok: false, status: 0, error: err.message }));
    req.end(body);
  });
}

/** POST a small JSON request and parse the JSON answer (admin calls to the simulators). */
export function postJson<T>(url: string, body: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) reject(new Error(`POST ${url}: ${res.statusCode} ${text.slice(0, 300)}`));
        else {
          try {
            resolve(JSON.parse(text) as T);
          } catch (err) {
            reject(err);
          }
        }
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}
