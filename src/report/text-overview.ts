/** The overview of `herald report`'s plain-text form: runs with rates per attempted send, latency, splits. */
import type { Overview } from './html-job.js';
import { duration } from './latency.js';
import { percent, type Counts } from './outcomes.js';

const n = (v: number) => v.toLocaleString('en');
const cell = (v: number, of: number) => `${n(v)} ${percent(v, of)}`.padStart(16);

function line(key: string, c: Counts): string {
  return `  ${key.padEnd(34)} ${n(c.audience).padStart(9)} ${n(c.attempted).padStart(10)} ${cell(c.delivered, c.attempted)} ${cell(c.read, c.attempted)} ${cell(c.failed, c.attempted)}`;
}

export function overviewTable(o: Overview): string {
  const head = (what: string) => `  ${what.padEnd(34)} ${'rows'.padStart(9)} ${'attempted'.padStart(10)} ${'delivered'.padStart(16)} ${'read'.padStart(16)} ${'failed'.padStart(16)}`;
  const runs = [...o.runs].sort((a, b) => new Date(a.started_at).getTime() - new Date(b.started_at).getTime());
  const out = ['overview (rates per attempted send: handed to the provider in the run)', head('run (oldest first)'), ...runs.map((r) => `${line(r.run_id, r)}${r.cost ? `  ${r.cost}` : ''}`)];
  out.push('latency (sent_at to first delivered / read status)');
  for (const l of o.latency) {
    out.push(`  ${(l.run_id ?? 'all runs').padEnd(34)} delivered ${n(l.delivered)}: median ${duration(l.delivery_median_s)}, p90 ${duration(l.delivery_p90_s)}; ` +
      `read ${n(l.read)}: median ${duration(l.read_median_s)}, p90 ${duration(l.read_p90_s)}`);
  }
  out.push('by template', head('template'), ...o.byTemplate.map((s) => line(s.key, s)));
  out.push('by country', head('country'), ...o.byCountry.map((s) => line(s.key, s)));
  return out.join('\n');
}
