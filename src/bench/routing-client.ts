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
  /** The generated text, when asked for (`collectText`): what a chat client would keep as the reply. */
  text?: string;
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
 * The output text one SSE event carries: chat `choices[0].delta.content`,
 * completions `choices[0].text`, responses `response.output_text.delta`'s
 * `delta`; "" for anything else (role chunk, usage, [DONE], other events).
 */
export function outputTextOf(event: string): string {
  let data = "";
  for (const line of event.split("\n")) if (line.startsWith("data:")) data += line.slice(5).trim();
  if (data === "" || data === "[DONE]") return "";
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return "";
  }
  if (typeof parsed !== "object" || parsed === null) return "";
  const o = parsed as { type?: unknown; delta?: unknown; choices?: { delta?: { content?: unknown }; text?: unknown }[] };
  if (o.type === "response.output_text.delta") return typeof o.delta === "string" ? o.delta : "";
  const choice = Array.isArray(o.choices) ? o.choices[0] : undefined;
  if (choice === undefined || choice === null) return "";
  if (typeof choice.delta?.content === "string") return choice.delta.content;
  if (typeof choice.text === "string") return choice.text;
  return "";
}

/**
 * POSTs `body` (a JSON text that asks for streaming) to `url` and times it.
 * `startedAt` (performance.now()) lets the caller include its own routing work.
 */
export function streamRequest(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  startedAt = performance.now(),
  collectText = false,
): Promise<RequestOutcome> {
  return new Promise((resolve) => {
    let ttft = NaN;
    let settled = false;
    let output = "";
    const finish = (outcome: Omit<RequestOutcome, "ttftMs" | "totalMs">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const result: RequestOutcome = { ...outcome, ttftMs: ttft, totalMs: performance.now() - startedAt };
      if (collectText && outcome.ok) result.text = output;
      resolve(result);
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
          if (!collectText && !Number.isNaN(ttft)) return;
          pending += chunk.replace(/\r\n/g, "\n");
          for (let cut = pending.indexOf("\n\n"); cut >= 0; cut = pending.indexOf("\n\n")) {
            const event = pending.slice(0, cut);
            pending = pending.slice(cut + 2);
            if (Number.isNaN(ttft) && isOutputEvent(event)) {
              ttft = performance.now() - startedAt;
              if (!collectText) {
                pending = "";
                break;
              }
            }
            if (collectText) output += outputTextOf(event);
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
