/**
 * `npm run schema`: writes schema/job.schema.json, the JSON Schema editors validate job files
 * with, from the one zod schema (src/config/job.schema.ts). Input mode, so keys with defaults are
 * optional, as they are in a job file.
 *
 *   node dist/scripts/export-json-schema.js           # (re)writes the file
 *   node dist/scripts/export-json-schema.js --check   # exit 1 when the committed file is stale
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { JobSchema } from '../src/config/job.schema.js';

export const SCHEMA_PATH = 'schema/job.schema.json';
/** The first line of a job file in jobs/: editors with the YAML language server then validate it unasked. */
export const JOB_FILE_MODELINE = `# yaml-language-server: $schema=../${SCHEMA_PATH}`;

/**
 * A resolvable `$id`: the raw GitHub URL when package.json names a GitHub repository, else a
 * relative reference that resolves to this file both from schema/ (the schema's own place) and
 * from jobs/ (where the job files that point at it live).
 */
export function schemaId(root = projectRoot()): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { repository?: string | { url?: string } };
  const url = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url ?? '';
  const gh = /github\.com[/:]([^/]+)\/([^/.]+?)(?:\.git)?\/?$/.exec(url) ?? /^github:([^/]+)\/(.+)$/.exec(url);
  return gh ? `https://raw.githubusercontent.com/${gh[1]}/${gh[2]}/main/${SCHEMA_PATH}` : `../${SCHEMA_PATH}`;
}

/** The JSON Schema of a job file, as the exact text committed (pretty-printed, trailing newline). */
export function jobJsonSchemaText(): string {
  const generated = z.toJSONSchema(JobSchema, { io: 'input' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  const schema = {
    $schema,
    $id: schemaId(),
    title: 'herald job',
    description: 'One herald job: a warehouse segment (SQL) turned into WhatsApp template messages. ' +
      `Generated from src/config/job.schema.ts by \`npm run schema\`; do not edit by hand.`,
    ...rest,
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** The package root: the nearest directory above this file with a package.json (works from dist/ too). */
export function projectRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

function cli(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { check: { type: 'boolean' } }, strict: true, allowPositionals: false });
  const file = resolve(projectRoot(), SCHEMA_PATH);
  const shown = relative(process.cwd(), file) || file;
  const text = jobJsonSchemaText();
  if (values.check) {
    const committed = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    if (committed === text) {
      console.log(`${shown} is up to date`);
      return 0;
    }
    console.error(`${shown} ${committed === undefined ? 'is missing' : 'is out of date'}: run \`npm run schema\` and commit it`);
    return 1;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.log(`wrote ${shown}`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    process.exitCode = cli(process.argv.slice(2));
  } catch (err) {
    console.error(`export-json-schema: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  }
}
