/**
 * herald's error hierarchy. Per-row problems are never errors (they become `rejected` rows with a
 * reason); these are for the run as a whole, and each carries the exit code the CLI returns.
 */

/** One problem in a file the user wrote: where it is, what is wrong, how to fix it. */
export interface Problem {
  /** The file, as the user named it. */
  file: string;
  /** Dotted path inside the file (`message.body.0.column`), or empty for the whole file. */
  path: string;
  /** What is wrong. */
  message: string;
  /** What to do about it, when there is something obvious. */
  hint?: string;
  /** 1-based line in the file, when known. */
  line?: number;
}

export function formatProblem(p: Problem): string {
  const where = `${p.file}${p.line ? `:${p.line}` : ''}${p.path ? ` at ${p.path}` : ''}`;
  return `${where}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`;
}

export abstract class HeraldError extends Error {
  /** Process exit code this error maps to (DESIGN "Exit codes"). */
  abstract readonly exitCode: 1 | 2;
}

/** Usage, job file, config, SQL or mapping errors: nothing was sent. Exit 2. */
export class ConfigError extends HeraldError {
  readonly exitCode = 2 as const;
  constructor(readonly problems: Problem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }

  static of(file: string, path: string, message: string, hint?: string): ConfigError {
    return new ConfigError([{ file, path, message, ...(hint ? { hint } : {}) }]);
  }
}

/** The run started and had to stop: warehouse down, provider auth, circuit open. Exit 1. */
export class RunAbortedError extends HeraldError {
  readonly exitCode = 1 as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RunAbortedError';
  }
}

/** The warehouse could not be reached or failed a statement herald itself issued. */
export class WarehouseError extends RunAbortedError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WarehouseError';
  }
}

/** A ledger write did not touch the rows it had to: herald's record and the run disagree. */
export class LedgerMismatchError extends WarehouseError {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerMismatchError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
