/**
 * Grouped bar charts as standalone SVG (no dependency): one group per trace,
 * one bar per policy. Small on purpose: axis, gridlines, labels, a legend.
 */

export interface GroupedBars {
  title: string;
  /** Unit shown on the y axis, e.g. "%" or "ms". */
  unit: string;
  groups: string[];
  series: string[];
  /** values[group][series]; NaN draws no bar. */
  values: number[][];
  /** Value label on top of each bar. */
  format?: (v: number) => string;
  /** Logarithmic y axis (for latencies spanning decades). */
  log?: boolean;
}

const COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"];

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Round "nice" step for about `ticks` gridlines up to `max`. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

export function groupedBarChart(c: GroupedBars): string {
  const fmt = c.format ?? ((v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)));
  const width = 220 + c.groups.length * (c.series.length * 22 + 30);
  const height = 360;
  const left = 60;
  const right = 150;
  const top = 40;
  const bottom = 50;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const finite = c.values.flat().filter((v) => Number.isFinite(v) && (!c.log || v > 0));
  const maxValue = Math.max(1e-9, ...finite);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(c.title)}</text>`);

  let y: (v: number) => number;
  const ticks: number[] = [];
  if (c.log) {
    const minValue = Math.min(maxValue, ...finite);
    const lo = 10 ** Math.floor(Math.log10(minValue));
    const hi = 10 ** Math.ceil(Math.log10(maxValue));
    y = (v) => top + plotH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / Math.max(1e-9, Math.log10(hi) - Math.log10(lo))) * plotH;
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  } else {
    const step = niceStep(maxValue, 5);
    const hi = Math.ceil(maxValue / step) * step;
    y = (v) => top + plotH - (v / hi) * plotH;
    for (let t = 0; t <= hi + step / 2; t += step) ticks.push(t);
  }
  for (const t of ticks) {
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${escapeXml(fmt(t))}</text>`);
  }
  out.push(`<text x="14" y="${top + plotH / 2}" transform="rotate(-90 14 ${top + plotH / 2})" text-anchor="middle">${escapeXml(c.unit)}</text>`);

  const groupW = plotW / Math.max(1, c.groups.length);
  const barW = Math.min(22, (groupW - 20) / Math.max(1, c.series.length));
  c.groups.forEach((group, g) => {
    const x0 = left + g * groupW + (groupW - barW * c.series.length) / 2;
    c.series.forEach((_, s) => {
      const v = c.values[g]?.[s];
      if (v === undefined || !Number.isFinite(v)) return;
      const x = x0 + s * barW;
      const yTop = y(v);
      const h = top + plotH - yTop;
      out.push(
        `<rect x="${x.toFixed(1)}" y="${yTop.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${Math.max(0, h).toFixed(1)}" fill="${COLORS[s % COLORS.length]}"/>`,
      );
      out.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(yTop - 3).toFixed(1)}" text-anchor="middle" font-size="8">${escapeXml(fmt(v))}</text>`);
    });
    out.push(`<text x="${(left + g * groupW + groupW / 2).toFixed(1)}" y="${top + plotH + 18}" text-anchor="middle">${escapeXml(group)}</text>`);
  });
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  c.series.forEach((name, s) => {
    const ly = top + 10 + s * 18;
    out.push(`<rect x="${left + plotW + 16}" y="${ly - 9}" width="12" height="12" fill="${COLORS[s % COLORS.length]}"/>`);
    out.push(`<text x="${left + plotW + 34}" y="${ly + 1}">${escapeXml(name)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
