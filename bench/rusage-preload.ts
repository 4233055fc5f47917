/**
 * Preloaded into a bench's child process (`node --import <this> …`): at exit, writes the whole
 * process's CPU time (user, system: every thread) and its peak RSS to HERALD_BENCH_RUSAGE_FILE.
 */
import { writeFileSync } from 'node:fs';

const file = process.env.HERALD_BENCH_RUSAGE_FILE;
if (file) {
  process.on('exit', () => {
    const u = process.resourceUsage();
    // userCPUTime and systemCPUTime are in µs, maxRSS in KiB.
    writeFileSync(file, JSON.stringify({ userS: u.userCPUTime / 1e6, systemS: u.systemCPUTime / 1e6, maxRssMb: u.maxRSS / 1024 }));
  });
}
