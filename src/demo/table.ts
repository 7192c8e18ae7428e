/** The live table of `npm start`: one row per endpoint, plain text (the caller clears the screen). */
import type { EndpointView } from "./metrics.js";

export interface EndpointRow {
  address: string;
  /** null when /metrics could not be read. */
  view: EndpointView | null;
  /** Requests the filter sent there (Envoy stat llm_picker.endpoint.picks.*). */
  picks: number;
  healthy: boolean | null;
  /** Pool state when the pool follows an EDS cluster: "draining" while it leaves. */
  state?: string;
}

export interface DemoSummary {
  listenerUrl: string;
  sent: number;
  ok: number;
  errors: number;
  /** Median TTFT of the last requests, ms (NaN when none). */
  ttftP50Ms: number;
  lastError?: string;
  /** A line about the pool (e.g. how to add or remove servers). */
  poolLine?: string;
}

function cell(v: number, format: (v: number) => string): string {
  return Number.isFinite(v) ? format(v) : "–";
}

export function renderTable(rows: EndpointRow[], summary: DemoSummary): string {
  const header = ["endpoint", "healthy", "queue", "running", "KV use", "cache hit", "picks"];
  const body = rows.map((r) => [
    r.state ? `${r.address} (${r.state})` : r.address,
    r.healthy === null ? "?" : r.healthy ? "yes" : "NO",
    r.view ? cell(r.view.waiting, (v) => v.toFixed(0)) : "unreachable",
    r.view ? cell(r.view.running, (v) => v.toFixed(0)) : "",
    r.view ? cell(r.view.kvUsage, (v) => `${(v * 100).toFixed(1)}%`) : "",
    r.view ? cell(r.view.hitRate, (v) => `${(v * 100).toFixed(1)}%`) : "",
    String(r.picks),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  const totalPicks = rows.reduce((s, r) => s + r.picks, 0);
  const out = [
    `llm-picker demo: Envoy on ${summary.listenerUrl}   (Ctrl-C to stop)`,
    "",
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...body.map(line),
    "",
    `demo requests: ${summary.sent} sent, ${summary.ok} ok, ${summary.errors} errors; TTFT p50 (last 50) ${cell(summary.ttftP50Ms, (v) => `${v.toFixed(0)} ms`)}; picks total ${totalPicks}`,
  ];
  if (summary.poolLine) out.push(summary.poolLine);
  if (summary.lastError) out.push(`last error: ${summary.lastError}`);
  return out.join("\n") + "\n";
}
