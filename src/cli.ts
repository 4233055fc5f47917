/**
 * The CLI: one function per command, strict flags, one top-level handler that prints a clear
 * message and returns DESIGN's exit code (0 ok, 1 run aborted, 2 usage or config, 3 too many failures).
 * commander parses (per-command --help, --version, unknown options and missing arguments); the
 * command functions keep their own checks of values, so their messages stay as they were.
 */
import { Command, CommanderError, Option } from 'commander';
import { heraldVersion } from './cli/version.js';
import { ConfigError, HeraldError, errorMessage, type Problem } from './errors.js';
import { tuneHeapForStreaming } from './util/heap-tuning.js';

type Handler = (positionals: string[], flags: Record<string, unknown>) => Promise<number>;

/*
 * Each command's module is imported when that command runs: `herald run` does not load the
 * server, the report's HTML and CSV writers or the importers before its first send (issue 14).
 */
const runCommand: Handler = async (p, f) => (await import('./cli/run.command.js')).runCommand(p, f);
const validateCommand: Handler = async (p, f) => (await import('./cli/validate.command.js')).validateCommand(p, f);
const checkCommand: Handler = async (_p, f) => (await import('./cli/check.command.js')).checkCommand(f);
const reportCommand: Handler = async (p, f) => (await import('./cli/report.command.js')).reportCommand(p, reportFlags(f));
const templatesCommand: Handler = async (p, f) => (await import('./cli/templates.command.js')).templatesCommand(p, f);
const infobipCommand: Handler = async (p, f) => (await import('./cli/infobip.command.js')).infobipCommand(p, f);
const serveCommand: Handler = async (p, f) => (await import('./cli/serve.command.js')).serveCommand(p, f);
const workerCommand: Handler = async (p, f) => (await import('./cli/worker.command.js')).workerCommand(p, f);
const importCommand: Handler = async (p, f) => (await import('./cli/import.command.js')).importCommand(p, f);

const JSON_OPTION = '--json';
const FOOTER = `
Environment: HERALD_CONFIG (default config/herald.yaml), HERALD_WAREHOUSE_URL, provider credentials
(README "Configuration"). Exit codes: 0 done, 1 run aborted, 2 usage or config error, 3 failure ratio
above max_failure_ratio. Every command takes --help; most take --json (one JSON document on stdout).`;

/** Builds a fresh program per call: main() runs many times in one test process. */
function program(done: (code: number) => void): { root: Command; examples: Map<Command, string> } {
  const examples = new Map<Command, string>();
  const root = new Command('herald')
    .description('Warehouse segments to WhatsApp template messages, every outcome landed back in the warehouse.')
    .version(heraldVersion(), '-V, --version', 'print herald\'s version')
    .helpOption('-h, --help', 'describe the command and its options')
    .addHelpText('after', FOOTER)
    // Parse errors are printed by main() in herald's own format, with the usage and the fix.
    .configureOutput({ outputError: () => undefined })
    .showSuggestionAfterError(true);

  /** A command whose action calls `handler` with its operands (after `prefix`) and kebab-case flags. */
  const add = (parent: Command, name: string, summary: string, example: string, handler: Handler, prefix: string[] = []) => {
    const cmd = parent.command(name).description(summary);
    examples.set(cmd, example);
    cmd.action(async () => done(await handler([...prefix, ...cmd.args], flags(cmd))));
    return cmd;
  };
  const json = (what: string) => new Option(JSON_OPTION, what);

  add(root, 'run', 'run a job once: read the segment, send, land every outcome', 'herald run jobs/demo.yaml --dry-run', runCommand)
    .argument('<job>', 'the job file (YAML)')
    .option('--dry-run', 'plan and render, land `planned` rows, send nothing; prints the estimated cost')
    .addOption(new Option('--limit <n>', 'read at most N segment rows'))
    .addOption(new Option('--run-key <key>', 'idempotency key: the same key resumes or returns the same run (e.g. a scheduler\'s run id)'))
    .option('--resend-unknown', 'send again the rows whose outcome is unknown after a crash (not with --dry-run)')
    .addOption(json('print only the run summary as JSON on stdout; the funnel table goes to stderr'));

  add(root, 'validate', 'check job files: schema, SQL against the warehouse, columns, provider and template', 'herald validate jobs/*.yaml', validateCommand)
    .argument('<job...>', 'one or more job files')
    .addOption(json('print {ok, files: [{file, ok, problems, skipped}]} on stdout'));

  add(root, 'check', 'check that every configured warehouse and provider answers (cheap authenticated calls)', 'herald check', checkCommand)
    .addOption(json('print {ok, checks: [{what, status, detail}]} on stdout'));

  add(root, 'report', 'print or export the funnel and reasons of runs', 'herald report --job welcome_back --format html --output report.html', reportCommand)
    .addOption(new Option('--run <id>', 'one run (default: the latest)'))
    .addOption(new Option('--job <name>', 'one job: its latest 20 runs, and the job overview'))
    .addOption(new Option('--format <format>', 'table, csv, json or html (default table)'))
    .addOption(new Option('--output <file>', 'write to FILE instead of stdout'))
    .addOption(new Option('--warehouse <name>', 'a warehouse named in the config (default: default)'))
    .addOption(json('the same as --format json'));

  const templates = root.command('templates').description('the provider\'s approved templates');
  add(templates, 'list', 'list the approved templates of a provider account', 'herald templates list --provider meta', templatesCommand, ['list'])
    .addOption(new Option('--provider <name>', 'meta or infobip (ada has no template listing)'))
    .addOption(new Option('--sender <id>', 'the sending number (Infobip lists per sender)'))
    .option('--refresh', 'fetch again instead of using the cached listing')
    .addOption(json('print the templates as JSON on stdout'));

  const infobip = root.command('infobip').description('Infobip account operations');
  add(infobip, 'share-waba', 'share a WhatsApp Business Account with Infobip after embedded signup', 'herald infobip share-waba 102290129340398', infobipCommand, ['share-waba'])
    .argument('<waba-id>', 'the WhatsApp Business Account id (digits)')
    .addOption(json('print {waba_id, status, body} on stdout'));

  add(root, 'serve', 'webhooks, the run API, schedules, /healthz and /metrics until SIGINT/SIGTERM', 'herald serve --port 8080', serveCommand)
    .addOption(new Option('--port <n>', 'port to listen on (HERALD_PORT, default 8080)'))
    .addOption(new Option('--jobs <dir>', 'directory of job files for schedules and POST /runs (HERALD_JOBS_DIR, default jobs)'));

  add(root, 'worker', 'PostgreSQL: claim and run parts of the runs serve enqueued, until SIGINT/SIGTERM', 'herald worker --parts 4', workerCommand)
    .addOption(new Option('--jobs <dir>', 'directory of job files (HERALD_JOBS_DIR, default jobs)'))
    .addOption(new Option('--parts <n>', 'parts run at once (default 4)'));

  const imports = root.command('import').description('land outcomes a provider only gives as files');
  add(imports, 'ada-log', 'land a message log exported from the ADA console as events', 'herald import ada-log export.csv --timezone Asia/Singapore', importCommand, ['ada-log'])
    .argument('<file>', 'the CSV exported from Report › Message Log Record')
    .addOption(new Option('--map <field=Header>', 'read a field from this column (repeatable); fields: message_id, recipient, status, occurred_at, sent_at, delivered_at, read_at, failed_at, error_code, error_detail, text')
      .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]))
    .addOption(new Option('--timezone <zone>', 'IANA zone of times written without an offset (providers.ada.log_timezone, default UTC)'))
    .addOption(new Option('--warehouse <name>', 'a warehouse named in the config (default: default)'))
    .addOption(json('print the import\'s counts and column mapping as JSON on stdout'));

  return { root, examples };
}

/** `--dry-run` → `{'dry-run': true}`: the command functions read flags by their long names. */
function flags(cmd: Command): Record<string, unknown> {
  const values = cmd.opts();
  const out: Record<string, unknown> = {};
  for (const o of cmd.options) {
    const value = values[o.attributeName()];
    if (value !== undefined && o.long) out[o.long.replace(/^--/, '')] = value;
  }
  return out;
}

/** report's --json is --format json; asking for both json and another format is a contradiction. */
function reportFlags(f: Record<string, unknown>): Record<string, unknown> {
  if (f.json !== true) return f;
  if (f.format !== undefined && f.format !== 'json') throw ConfigError.of('--json', '', `--json asks for JSON and --format for ${String(f.format)}`, 'drop one of them');
  const { json: _json, ...rest } = f;
  return { ...rest, format: 'json' };
}

export async function main(argv: string[]): Promise<number> {
  tuneHeapForStreaming();
  let code: number | undefined;
  const { root, examples } = program((c) => (code = c));
  let failed: Command = root;
  for (const cmd of walk(root)) {
    cmd.exitOverride((err) => {
      failed = cmd;
      throw err;
    });
  }
  const wantsJson = argv.includes(JSON_OPTION);
  if (argv.length === 0) {
    process.stderr.write(root.helpInformation());
    return 2;
  }
  try {
    await root.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return parseError(err, failed, examples.get(failed), wantsJson);
    return reportError(commandPath(failed, argv), err, wantsJson);
  }
  // A group without a subcommand (`herald templates`) prints its help: a usage error.
  if (code === undefined) {
    process.stderr.write(root.helpInformation());
    return 2;
  }
  return code;
}

function* walk(cmd: Command): Generator<Command> {
  yield cmd;
  for (const sub of cmd.commands) yield* walk(sub);
}

function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The command the arguments name (`herald templates list`), for messages. */
function commandPath(root: Command, argv: string[]): string {
  let at = root;
  for (const word of argv) {
    const sub = at.commands.find((c) => c.name() === word);
    if (!sub) break;
    at = sub;
  }
  return fullName(at);
}

/** commander's own answers (help, version) and its usage errors, in herald's format, exit 2. */
function parseError(err: CommanderError, cmd: Command, example: string | undefined, wantsJson: boolean): number {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
  // A group named without its subcommand (`herald import`): commander showed its help.
  if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') return err.exitCode === 0 ? 0 : 2;
  const name = fullName(cmd);
  const message = err.message.replace(/^error: /, '').replace(/'([^']+)'/g, '"$1"');
  const lines = [`${name}: ${message}`, `usage: ${name} ${cmd.usage()}`];
  if (example) lines.push(`e.g.   ${example}`);
  lines.push(`"${name} --help" describes every option`);
  console.error(lines.join('\n'));
  if (wantsJson) printJsonError(2, message.split('\n')[0]!, []);
  return 2;
}

function reportError(command: string, err: unknown, wantsJson: boolean): number {
  let code: number;
  if (err instanceof ConfigError) {
    console.error(`${command}: ${err.problems.length} problem${err.problems.length > 1 ? 's' : ''}:`);
    for (const line of err.message.split('\n')) console.error(`  ${line}`);
    code = err.exitCode;
  } else if (err instanceof HeraldError) {
    console.error(`${command}: ${err.message}`);
    code = err.exitCode;
  } else {
    console.error(`${command}: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    code = 1;
  }
  if (wantsJson) printJsonError(code, errorMessage(err), err instanceof ConfigError ? err.problems : []);
  return code;
}

/** With --json a failure is a JSON document on stdout too, so a caller always parses exactly one. */
function printJsonError(exitCode: number, error: string, problems: Problem[]): void {
  process.stdout.write(`${JSON.stringify({ ok: false, exit_code: exitCode, error, problems })}\n`);
}
