/**
 * A progress line while a run goes: overwritten in place on a terminal, one line every few
 * seconds otherwise (CI and container logs).
 */
import type { Tally } from '../pipeline/land.js';

export function progressPrinter(job: string, stream: NodeJS.WriteStream = process.stderr): { update(t: Tally): void; stop(): void } {
  const started = Date.now();
  let latest: Tally = { rows: 0, byStatus: {} };
  const tty = stream.isTTY === true;
  let stopped = false;
  const line = () => {
    const seconds = (Date.now() - started) / 1000;
    const s = latest.byStatus;
    const sent = (s.accepted ?? 0) + (s.failed ?? 0) + (s.unknown ?? 0);
    const rate = seconds > 0 ? Math.round(sent / seconds) : 0;
    return `${job}: ${latest.rows.toLocaleString('en')} rows · ${(s.accepted ?? 0).toLocaleString('en')} accepted · ${s.failed ?? 0} failed · ` +
      `${(s.rejected ?? 0) + (s.suppressed ?? 0) + (s.duplicate ?? 0)} skipped · ${rate}/s · ${Math.round(seconds)}s`;
  };
  const timer = setInterval(() => stream.write(tty ? `\r${line()}\u001b[K` : `${line()}\n`), tty ? 250 : 5000);
  timer.unref();
  return {
    update: (t) => (latest = t),
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (latest.rows === 0) return;
      stream.write(tty ? `\r${line()}\u001b[K\n` : `${line()}\n`);
    },
  };
}
