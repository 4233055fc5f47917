/**
 * Editors validate job files without setup: every example in jobs/ names the schema on its first
 * line, that path reaches schema/job.schema.json, and the schema's `$id` resolves to the same file.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { JOB_FILE_MODELINE, SCHEMA_PATH } from '../scripts/export-json-schema.js';

const root = resolve(import.meta.dirname, '..');
const schemaFile = join(root, SCHEMA_PATH);

describe('job files point editors at the schema', () => {
  const jobs = readdirSync(join(root, 'jobs')).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'));

  it.each(jobs)('jobs/%s starts with the yaml-language-server modeline, and its path reaches the schema', (name) => {
    const file = join(root, 'jobs', name);
    const first = readFileSync(file, 'utf8').split('\n')[0]!;
    expect(first).toBe(JOB_FILE_MODELINE);
    const target = /\$schema=(\S+)/.exec(first)![1]!;
    expect(resolve(dirname(file), target)).toBe(schemaFile);
  });

  it('the schema $id resolves to the schema file from schema/ itself, or is an absolute URL', () => {
    const id = (JSON.parse(readFileSync(schemaFile, 'utf8')) as { $id: string }).$id;
    if (/^https:\/\//.test(id)) return expect(id).toMatch(new RegExp(`/${SCHEMA_PATH.replace('.', '\\.')}$`));
    const resolved = fileURLToPath(new URL(id, pathToFileURL(schemaFile)));
    expect(resolved).toBe(schemaFile);
    expect(existsSync(resolved)).toBe(true);
  });
});
