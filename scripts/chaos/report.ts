/**
 * The figures of one scenario, measured from outside herald: the stand-in's record of processed
 * requests (the provider's truth), the webhooks it had acknowledged, herald's tables read with
 * plain SQL, and the serve process's exits.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname } from 'node:path';
import type { Outcome, World } from './world.js';

export interface Figures {
  engine: string;
  scenario: string;
  /** The four figures the suite passes or fails on (0 each), and one more promise. */
  messaged_twice: number;
  unmessaged: number;
  acked_events_lost: number;
  serve_crashes: number;
  /** Processed for a recipient who was not eligible (no consent, invalid, undeliverable). */
  ineligible_messaged: number;
  unknown_left: number;
  unknown_reasons: Record<string, number>;
  passed: boolean;
  eligible: number;
  messaged: number;
  processed_requests: number;
  send_requests: number;
  acked_events: number;
  webhook_posts: number;
  /** Answers other than 200 to valid status posts (then retried), by answer. */
  webhook_refusals: Record<string, number>;
  samples: { messaged_twice: string[]; unmessaged: string[]; acked_events_lost: string[] };
  crashes: { at: string; exit: string; log: string }[];
  runs: Outcome[];
  herald_runs: { run_key: string; status: string; error: string | null }[];
  notes: Record<string, unknown>;
  seconds: number;
  error?: string;
}

export async function measure(w: World, error?: string): Promise<Figures> {
  const drained = await w.webhooks.drained(error ? 0 : 30_000);
  if (!drained) w.notes.webhooks_not_drained = w.webhooks.outstanding();
  w.webhooks.stop();
  const stop = await w.serve.stop();
  if (stop && stop.code !== 0) w.notes.serve_stop_exit = stop.code ?? stop.signal;
  const seen = new Map<string, number>();
  for (const p of w.standIn.processed) seen.set(p.recipient, (seen.get(p.recipient) ?? 0) + 1);
  const twice = [...seen].filter(([, n]) => n > 1).map(([r]) => r);
  const unmessaged = [...w.truth.eligible].filter((r) => !seen.has(r));
  const ineligible = [...seen.keys()].filter((r) => !w.truth.eligible.has(r));
  let inspection;
  try {
    inspection = await w.warehouse.inspect(w.job);
  } catch (err) {
    error ??= `reading herald's tables: ${(err as Error).message}`;
  }
  const lost = inspection ? [...new Set(w.webhooks.acked.map((a) => `${a.wamid} ${a.status}`))].filter((k) => !inspection.events.has(k)) : [];
  const crashes = w.serve.crashes.map((c) => ({ at: c.at, exit: String(c.exit.code ?? c.exit.signal), log: c.log }));
  if (w.serve.failedStarts > 0) w.notes.serve_failed_starts = w.serve.failedStarts;
  if (w.serve.hungStops > 0) w.notes.serve_sigterm_hung = w.serve.hungStops;
  const figures: Figures = {
    engine: w.engine, scenario: w.scenario,
    messaged_twice: twice.length, unmessaged: unmessaged.length, acked_events_lost: lost.length, serve_crashes: crashes.length,
    ineligible_messaged: ineligible.length,
    unknown_left: inspection?.unknownLeft ?? -1, unknown_reasons: inspection?.unknownByReason ?? {},
    passed: false,
    eligible: w.truth.eligible.size, messaged: seen.size, processed_requests: w.standIn.processed.length, send_requests: w.standIn.arrivals,
    acked_events: w.webhooks.acked.length, webhook_posts: w.webhooks.posts, webhook_refusals: { ...w.webhooks.refused },
    samples: { messaged_twice: twice.slice(0, 5), unmessaged: unmessaged.slice(0, 5), acked_events_lost: lost.slice(0, 5) },
    crashes, runs: w.outcomes,
    herald_runs: inspection?.runs.map((r) => ({ run_key: r.run_key, status: r.status, error: r.error })) ?? [],
    notes: w.notes, seconds: Math.round((Date.now() - w.started) / 1000),
    ...(error ? { error } : {}),
  };
  figures.passed = !error && figures.messaged_twice === 0 && figures.unmessaged === 0 && figures.acked_events_lost === 0 && figures.serve_crashes === 0 && figures.ineligible_messaged === 0;
  return figures;
}

export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  commit: string;
  /** Files under src/ differ from the commit (engineers at work in the same checkout). */
  src_dirty: boolean;
}

export function machine(): Machine {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return '';
    }
  };
  return {
    nproc: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', node: process.version,
    commit: git(['rev-parse', 'HEAD']) || 'unknown', src_dirty: git(['status', '--porcelain', '--', 'src']) !== '',
  };
}

const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - s.length));

/** One table per engine and scenario. */
export function printFigures(all: readonly Figures[]): void {
  for (const f of all) {
    const reasons = Object.entries(f.unknown_reasons).map(([r, n]) => `${r} ${n}`).join(', ');
    const lines: [string, string, boolean][] = [
      ['recipients messaged twice', String(f.messaged_twice), f.messaged_twice === 0],
      [`eligible never messaged (of ${f.eligible})`, String(f.unmessaged), f.unmessaged === 0],
      ['ineligible recipients messaged', String(f.ineligible_messaged), f.ineligible_messaged === 0],
      ['unknown sends left', `${f.unknown_left}${reasons ? ` (${reasons})` : ''}`, true],
      [`acknowledged events lost (of ${f.acked_events})`, String(f.acked_events_lost), f.acked_events_lost === 0],
      ['herald serve crashes', String(f.serve_crashes), f.serve_crashes === 0],
    ];
    const stuck = f.runs.filter((r) => r.ended === 'stuck').length;
    lines.push([`runs left "running" with no progress (of ${f.runs.length})`, String(stuck), true]);
    const refused = Object.values(f.webhook_refusals).reduce((a, b) => a + b, 0);
    const refusals = Object.entries(f.webhook_refusals).map(([r, n]) => `${r} ${n}`).join(', ');
    lines.push([`webhook posts refused, retried (of ${f.webhook_posts})`, `${refused}${refusals ? ` (${refusals})` : ''}`, true]);
    console.log(`\n${f.engine} / ${f.scenario}: ${f.passed ? 'PASS' : 'FAIL'} (${f.seconds} s)${f.error ? ` — ${f.error}` : ''}`);
    for (const [label, value, ok] of lines) console.log(`  ${pad(label, 44)} ${pad(value, 10)}${ok ? '' : '  ✗'}`);
    const extra = Object.entries(f.notes).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
    if (extra.length > 0) console.log(`  ${extra.join('  ')}`);
    const runs = f.runs.map((r) => `${r.label}: ${r.ended}${r.status ? ` ${r.status}` : ''}`).join('; ');
    if (runs) console.log(`  runs: ${runs}`);
  }
}

export function writeResults(file: string, all: readonly Figures[], options: Record<string, unknown>): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ written_at: new Date().toISOString(), machine: machine(), options, results: all }, null, 2)}\n`);
}
