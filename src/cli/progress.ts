/**
 * Progress while a run goes. On a terminal: one line redrawn in place with rows done of the total,
 * accepted, failed, skipped, the send rate and an ETA, for the person watching. Otherwise (CI,
 * containers, schedulers, log collectors): every 5 seconds a pino line (`"msg":"progress"`) on
 * stderr, like every other line there, so a collector parses stderr as JSON lines without
 * exceptions.
 */
import { createLogger, type Logger } from '../log.js';
import type { Tally } from '../pipeline/land.js';

export interface Progress {
  update(t: Tally): void;
  stop(): void;
}

export function progressPrinter(job: string, stream: NodeJS.WriteStream = process.stderr, limit?: number): Progress {
  const started = Date.now();
  let latest: Tally = { rows: 0, byStatus: {} };
  const tty = stream.isTTY === true;
  let stopped = false;

  const snapshot = () => {
    const seconds = (Date.now() - started) / 1000;
    const s = latest.byStatus;
    const sent = (s.accepted ?? 0) + (s.failed ?? 0) + (s.unknown ?? 0);
    const total = limit !== undefined && latest.total !== undefined ? Math.min(limit, latest.total) : (limit ?? latest.total);
    const rowsPerSecond = seconds > 0 ? latest.rows / seconds : 0;
    const eta = total !== undefined && rowsPerSecond > 0 ? Math.max(0, (total - latest.rows) / rowsPerSecond) : undefined;
    return {
      job, rows: latest.rows, total, accepted: s.accepted ?? 0, failed: s.failed ?? 0, unknown: s.unknown ?? 0,
      skipped: (s.rejected ?? 0) + (s.suppressed ?? 0) + (s.duplicate ?? 0) + (s.deferred ?? 0) + (s.planned ?? 0),
      send_rate: seconds > 0 ? Math.round(sent / seconds) : 0, elapsed_s: Math.round(seconds), eta_s: eta === undefined ? undefined : Math.round(eta),
    };
  };

  const line = () => {
    const p = snapshot();
    const done = p.total ? `${p.rows.toLocaleString('en')}/${p.total.toLocaleString('en')} rows (${Math.floor((100 * p.rows) / Math.max(1, p.total))}%)` : `${p.rows.toLocaleString('en')} rows`;
    return `${job}: ${done} · ${p.accepted.toLocaleString('en')} accepted · ${p.failed} failed · ${p.skipped.toLocaleString('en')} skipped · ` +
      `${p.send_rate}/s · ${duration(p.elapsed_s)}${p.eta_s !== undefined ? ` · ETA ${duration(p.eta_s)}` : ''}`;
  };
  // Written to the given stream (stderr), with the process's level and fields: a log line like the others.
  const logger: Logger | null = tty ? null : createLogger({ destination: stream });
  const print = () => (logger ? logger.info({ progress: snapshot() }, 'progress') : stream.write(`\r${line()}\u001b[K`));
  const timer = setInterval(print, tty ? 250 : 5000);
  timer.unref();
  return {
    update: (t) => (latest = t),
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (latest.rows === 0) return;
      if (tty) stream.write(`\r${line()}\u001b[K\n`);
      else print();
    },
  };
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m}m${String(seconds % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
