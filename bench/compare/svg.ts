/** Small SVG charts written as text: grouped horizontal bars and lines, log or linear scale. */

const PALETTE = ['#2f6db5', '#e08a1e', '#3a9a4b', '#b5403a', '#7b5ea7', '#6f6f6f'];
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

const esc = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

export interface Bar {
  series: string;
  value: number | undefined;
  /** Shown after the bar; default: the formatted value. */
  text?: string;
}

export interface BarGroup {
  label: string;
  bars: Bar[];
}

interface Scale {
  at(v: number): number;
  ticks: number[];
}

function logScale(min: number, max: number, width: number): Scale {
  const lo = 10 ** Math.floor(Math.log10(min));
  const hi = 10 ** Math.ceil(Math.log10(max));
  const span = Math.log10(hi) - Math.log10(lo) || 1;
  const ticks: number[] = [];
  for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  return { at: (v) => ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span) * width, ticks };
}

function linearScale(max: number, width: number): Scale {
  const step = 10 ** Math.floor(Math.log10(max || 1));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => max / s <= 6) ?? step * 10;
  const hi = Math.ceil((max || 1) / nice) * nice;
  const ticks: number[] = [];
  for (let t = 0; t <= hi + 1e-9; t += nice) ticks.push(t);
  return { at: (v) => (Math.max(0, v) / hi) * width, ticks };
}

export interface BarChartOptions {
  title: string;
  subtitle?: string;
  /** Formats a value for the axis and the bar's text. */
  format: (v: number) => string;
  groups: BarGroup[];
  log?: boolean;
  /** Vertical reference lines. */
  refs?: { value: number; label: string }[];
  note?: string;
}

export function barChart(o: BarChartOptions): string {
  const W = 940;
  const left = 200;
  const plotW = 560;
  const barH = 16;
  const gap = 14;
  const series = [...new Set(o.groups.flatMap((g) => g.bars.map((b) => b.series)))];
  const values = o.groups
    .flatMap((g) => g.bars.map((b) => b.value))
    .filter((v): v is number => v !== undefined && v > 0);
  const refVals = (o.refs ?? []).map((r) => r.value);
  const all = [...values, ...refVals];
  const scale =
    o.log && all.length > 0
      ? logScale(Math.min(...all), Math.max(...all), plotW)
      : linearScale(Math.max(1, ...all), plotW);
  const top = 70 + (o.subtitle ? 16 : 0);
  let y = top;
  const parts: string[] = [];
  for (const g of o.groups) {
    const h = g.bars.length * (barH + 2);
    parts.push(
      `<text x="${left - 10}" y="${y + h / 2 + 4}" text-anchor="end" font-size="13">${esc(g.label)}</text>`,
    );
    g.bars.forEach((b, i) => {
      const color = PALETTE[series.indexOf(b.series) % PALETTE.length];
      const by = y + i * (barH + 2);
      if (b.value === undefined || !(b.value > 0)) {
        parts.push(
          `<text x="${left + 4}" y="${by + barH - 4}" font-size="11" fill="#666">${esc(b.text ?? 'not measured')}</text>`,
        );
        return;
      }
      const w = Math.max(1, scale.at(b.value));
      parts.push(`<rect x="${left}" y="${by}" width="${w.toFixed(1)}" height="${barH}" fill="${color}"/>`);
      parts.push(
        `<text x="${(left + w + 5).toFixed(1)}" y="${by + barH - 4}" font-size="11">${esc(b.text ?? o.format(b.value))}</text>`,
      );
    });
    y += h + gap;
  }
  const bottom = y;
  const axis: string[] = [];
  for (const t of scale.ticks) {
    const x = left + scale.at(t);
    axis.push(
      `<line x1="${x.toFixed(1)}" y1="${top - 6}" x2="${x.toFixed(1)}" y2="${bottom - gap + 4}" stroke="#ddd"/>`,
    );
    axis.push(
      `<text x="${x.toFixed(1)}" y="${bottom - gap + 18}" text-anchor="middle" font-size="11" fill="#444">${esc(o.format(t))}</text>`,
    );
  }
  for (const r of o.refs ?? []) {
    const x = left + scale.at(r.value);
    axis.push(
      `<line x1="${x.toFixed(1)}" y1="${top - 6}" x2="${x.toFixed(1)}" y2="${bottom - gap + 4}" stroke="#b5403a" stroke-dasharray="4 3"/>`,
    );
    axis.push(
      `<text x="${(x + 3).toFixed(1)}" y="${top - 9}" font-size="10" fill="#b5403a">${esc(r.label)}</text>`,
    );
  }
  const legend = series
    .map((s, i) => {
      const x = left + i * 170;
      return (
        `<rect x="${x}" y="${top - 34}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>` +
        `<text x="${x + 16}" y="${top - 24}" font-size="12">${esc(s)}</text>`
      );
    })
    .join('');
  const H = bottom + 30 + (o.note ? 16 : 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="12" y="22" font-size="16" font-weight="bold">${esc(o.title)}</text>`,
    o.subtitle ? `<text x="12" y="40" font-size="12" fill="#444">${esc(o.subtitle)}</text>` : '',
    legend,
    ...axis,
    ...parts,
    o.note ? `<text x="12" y="${H - 8}" font-size="11" fill="#444">${esc(o.note)}</text>` : '',
    '</svg>',
    '',
  ].join('\n');
}

export interface LineSeries {
  name: string;
  points: [number, number][];
}

export function lineChart(o: {
  title: string;
  subtitle?: string;
  xLabel: string;
  format: (v: number) => string;
  series: LineSeries[];
  log?: boolean;
}): string {
  const W = 940;
  const H = 460;
  const left = 90;
  const right = 190;
  const top = 60;
  const bottom = 60;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v > 0);
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const xMax = Math.max(1, ...xs);
  const ysc =
    o.log && ys.length > 0
      ? logScale(Math.min(...ys), Math.max(...ys), plotH)
      : linearScale(Math.max(1, ...ys), plotH);
  const xsc = linearScale(xMax, plotW);
  const X = (v: number) => left + xsc.at(v);
  const Y = (v: number) => top + plotH - ysc.at(v);
  const parts: string[] = [];
  for (const t of ysc.ticks) {
    parts.push(
      `<line x1="${left}" y1="${Y(t).toFixed(1)}" x2="${left + plotW}" y2="${Y(t).toFixed(1)}" stroke="#ddd"/>`,
    );
    parts.push(
      `<text x="${left - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#444">${esc(o.format(t))}</text>`,
    );
  }
  for (const t of xsc.ticks) {
    parts.push(
      `<text x="${X(t).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle" font-size="11" fill="#444">${t}</text>`,
    );
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${top + plotH + 36}" text-anchor="middle" font-size="12">${esc(o.xLabel)}</text>`,
  );
  o.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = s.points.filter((p) => p[1] > 0);
    if (pts.length === 0) return;
    const d = pts.map((p, k) => `${k ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const ly = top + 10 + i * 18;
    parts.push(`<rect x="${left + plotW + 14}" y="${ly - 9}" width="12" height="12" fill="${color}"/>`);
    parts.push(`<text x="${left + plotW + 30}" y="${ly + 1}" font-size="12">${esc(s.name)}</text>`);
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="12" y="22" font-size="16" font-weight="bold">${esc(o.title)}</text>`,
    o.subtitle ? `<text x="12" y="40" font-size="12" fill="#444">${esc(o.subtitle)}</text>` : '',
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
