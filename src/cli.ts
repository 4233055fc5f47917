/**
 * The CLI: one function per command, strict flags, one top-level handler that prints a clear
 * message and returns DESIGN's exit code (0 ok, 1 run aborted, 2 usage or config, 3 too many failures).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { checkCommand } from './cli/check.command.js';
import { importCommand } from './cli/import.command.js';
import { infobipCommand } from './cli/infobip.command.js';
import { templatesCommand } from './cli/templates.command.js';
import { reportCommand } from './cli/report.command.js';
import { runCommand } from './cli/run.command.js';
import { serveCommand } from './cli/serve.command.js';
import { validateCommand } from './cli/validate.command.js';
import { workerCommand } from './cli/worker.command.js';
import { ConfigError, HeraldError, errorMessage } from './errors.js';
import { tuneHeapForStreaming } from './util/heap-tuning.js';

const USAGE = `usage: herald <command> [options]

  run <job.yaml> [--dry-run] [--limit N] [--run-key K] [--resend-unknown] [--json]
  validate <job.yaml…>
  check
  report [--run ID | --job NAME] [--format table|csv|json|html] [--output FILE]
  templates list --provider meta|infobip [--sender ID] [--refresh] [--json]
  infobip share-waba <WABA id>
  serve [--port N] [--jobs DIR]
  worker [--jobs DIR] [--parts N]       PostgreSQL: run parts of the runs serve enqueued
  import ada-log <file.csv> [--map field=Header]… [--timezone ZONE]

Environment: HERALD_CONFIG (default config/herald.yaml), HERALD_WAREHOUSE_URL, provider credentials.
Exit codes: 0 done, 1 run aborted, 2 usage or config error, 3 failure ratio above max_failure_ratio.`;

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMANDS: Record<string, { options: Options; run: (positionals: string[], values: Record<string, unknown>) => Promise<number> }> = {
  run: {
    options: { 'dry-run': { type: 'boolean' }, limit: { type: 'string' }, 'run-key': { type: 'string' }, 'resend-unknown': { type: 'boolean' }, json: { type: 'boolean' } },
    run: (p, v) => runCommand(p, v),
  },
  validate: { options: {}, run: (p) => validateCommand(p) },
  check: { options: {}, run: () => checkCommand() },
  infobip: { options: {}, run: (p, v) => infobipCommand(p, v) },
  templates: {
    options: { provider: { type: 'string' }, sender: { type: 'string' }, refresh: { type: 'boolean' }, json: { type: 'boolean' } },
    run: (p, v) => templatesCommand(p, v),
  },
  report: {
    options: { run: { type: 'string' }, job: { type: 'string' }, format: { type: 'string' }, output: { type: 'string' }, warehouse: { type: 'string' } },
    run: (p, v) => reportCommand(p, v),
  },
  serve: { options: { port: { type: 'string' }, jobs: { type: 'string' } }, run: (p, v) => serveCommand(p, v) },
  worker: { options: { jobs: { type: 'string' }, parts: { type: 'string' } }, run: (p, v) => workerCommand(p, v) },
  import: {
    options: { map: { type: 'string', multiple: true }, timezone: { type: 'string' }, warehouse: { type: 'string' } },
    run: (p, v) => importCommand(p, v),
  },
};

export async function main(argv: string[]): Promise<number> {
  tuneHeapForStreaming();
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  const spec = COMMANDS[command];
  if (!spec) {
    console.error(`herald: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: spec.options, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`herald ${command}: ${errorMessage(err)}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await spec.run(parsed.positionals, parsed.values);
  } catch (err) {
    return reportError(command, err);
  }
}

function reportError(command: string, err: unknown): number {
  if (err instanceof ConfigError) {
    console.error(`herald ${command}: ${err.problems.length} problem${err.problems.length > 1 ? 's' : ''}:`);
    for (const line of err.message.split('\n')) console.error(`  ${line}`);
    return err.exitCode;
  }
  if (err instanceof HeraldError) {
    console.error(`herald ${command}: ${err.message}`);
    return err.exitCode;
  }
  console.error(`herald ${command}: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return 1;
}
