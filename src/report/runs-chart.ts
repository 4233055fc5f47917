/**
 * Runs over time as an inline SVG: per run, oldest on the left, five bars (audience, accepted,
 * delivered, read, failed) on one scale, the run's start date under them and a legend. No script,
 * no fonts or styles fetched: it renders wherever the HTML file is opened.
 */
import { esc } from './html-escape.js';

export interface RunPoint {
  run_id: string;
  started_at: Date | string;
  audience: number;
  accepted: number;
  delivered: number;
  read: number;
  failed: number;
}

export const SERIES = [
  ['audience', 'Audience', '#98a2b3'], ['accepted', 'Accepted', '#7aa2e8'], ['delivered', 'Delivered', '#2e6bd6'],
  ['read', 'Read', '#067647'], ['failed', 'Failed', '#d92d20'],
] as const;

const BAR = 9;
const GAP = 14;
const PLOT_H = 180;
const LEFT = 56;
const TOP = 28;

export function runsChart(points: readonly RunPoint[]): string {
  const runs = [...points].sort((a, b) => new Date(a.started_at).getTime() - new Date(b.started_at).getTime());
  const max = Math.max(1, ...runs.map((r) => r.audience), ...runs.map((r) => r.accepted));
  const group = SERIES.length * BAR + GAP;
  const width = Math.max(LEFT + runs.length * group + 20, LEFT + SERIES.length * 84 + 20); // the legend fits
  const height = TOP + PLOT_H + 44;
  const y = (v: number) => TOP + PLOT_H - Math.round((PLOT_H * v) / max);
  const legend = SERIES.map(([, label, color], i) =>
    `<rect x="${LEFT + i * 84}" y="4" width="10" height="10" fill="${color}"></rect><text x="${LEFT + i * 84 + 14}" y="13">${label}</text>`).join('');
  const axis = `<line x1="${LEFT - 4}" y1="${TOP + PLOT_H}" x2="${width - 10}" y2="${TOP + PLOT_H}" stroke="#98a2b3"></line>` +
    `<text x="0" y="${TOP + 10}">${max.toLocaleString('en')}</text><text x="0" y="${TOP + PLOT_H}">0</text>`;
  const bars = runs.map((r, i) => {
    const x0 = LEFT + i * group;
    const rects = SERIES.map(([k, label, color], j) => {
      const v = r[k];
      return `<rect x="${x0 + j * BAR}" y="${y(v)}" width="${BAR - 1}" height="${TOP + PLOT_H - y(v)}" fill="${color}"><title>${esc(r.run_id)} ${label}: ${v.toLocaleString('en')}</title></rect>`;
    }).join('');
    const day = new Date(r.started_at).toISOString().slice(5, 16).replace('T', ' ');
    return `${rects}<text x="${x0}" y="${TOP + PLOT_H + 16}" font-size="10" transform="rotate(20 ${x0} ${TOP + PLOT_H + 16})">${esc(day)}</text>`;
  }).join('');
  return `<svg role="img" aria-label="runs over time" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${legend}${axis}${bars}</svg>`;
}
