import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/pg-global.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Child processes, not worker threads: the DuckDB native addon (@duckdb/node-api) is not safe to
    // load into several worker threads of one process. File parallelism stays at vitest's default
    // for `vitest run`: availableParallelism() - 1 forks, i.e. ONE at a time on the 2-core CI box
    // (override per run with --maxWorkers=N).
    pool: 'forks',
    // `.only` must never narrow a CI run (ESLint also rejects it).
    allowOnly: !process.env.CI,
  },
});
