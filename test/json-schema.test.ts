import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SCHEMA_PATH, jobJsonSchemaText } from '../scripts/export-json-schema.js';

const committedText = readFileSync(SCHEMA_PATH, 'utf8');
const schema = JSON.parse(committedText) as JsonSchema;

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  [key: string]: unknown;
}

/**
 * A deliberately small validator for the keywords schema/job.schema.json uses (no dependency on
 * a JSON Schema library); returns one "path: problem" per violation.
 */
function validate(s: JsonSchema, v: unknown, path = '$'): string[] {
  if (s.anyOf) return s.anyOf.some((o) => validate(o, v, path).length === 0) ? [] : [`${path}: matches no alternative`];
  const errors: string[] = [];
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const actual = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' && Number.isInteger(v) ? 'integer' : typeof v;
    const ok = types.some((t) => t === actual || (t === 'number' && actual === 'integer'));
    if (!ok) return [`${path}: expected ${types.join('|')}, got ${actual}`];
  }
  if (s.const !== undefined && v !== s.const) errors.push(`${path}: expected ${JSON.stringify(s.const)}`);
  if (s.enum && !s.enum.includes(v)) errors.push(`${path}: not one of ${JSON.stringify(s.enum)}`);
  if (typeof v === 'string') {
    if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v)) errors.push(`${path}: does not match ${s.pattern}`);
    if (s.minLength !== undefined && v.length < s.minLength) errors.push(`${path}: shorter than ${s.minLength}`);
  }
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) errors.push(`${path}: below ${s.minimum}`);
    if (s.maximum !== undefined && v > s.maximum) errors.push(`${path}: above ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) errors.push(`${path}: not above ${s.exclusiveMinimum}`);
  }
  if (Array.isArray(v) && s.items) v.forEach((item, i) => errors.push(...validate(s.items!, item, `${path}[${i}]`)));
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const obj = v as Record<string, unknown>;
    for (const key of s.required ?? []) if (!(key in obj)) errors.push(`${path}: missing required "${key}"`);
    for (const [key, item] of Object.entries(obj)) {
      if (s.propertyNames) errors.push(...validate(s.propertyNames, key, `${path}.${key} (name)`));
      const sub = s.properties?.[key];
      if (sub) errors.push(...validate(sub, item, `${path}.${key}`));
      else if (s.additionalProperties === false) errors.push(`${path}: unknown key "${key}"`);
      else if (typeof s.additionalProperties === 'object') errors.push(...validate(s.additionalProperties, item, `${path}.${key}`));
    }
  }
  return errors;
}

const demoJob = () => parse(readFileSync('jobs/demo.yaml', 'utf8')) as Record<string, unknown>;

describe('schema/job.schema.json', () => {
  it('is exactly what `npm run schema` generates from JobSchema (not stale)', () => {
    expect(committedText, 'schema/job.schema.json is stale: run `npm run schema`').toBe(jobJsonSchemaText());
  });

  it('is a 2020-12 schema with an id, a title and a description, pretty-printed with a trailing newline', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$id).toEqual(expect.any(String));
    expect(schema.title).toEqual(expect.any(String));
    expect(schema.description).toEqual(expect.any(String));
    expect(committedText.endsWith('}\n')).toBe(true);
    expect(committedText).toContain('\n  "type": "object"');
  });

  it('closes the top level and requires the keys without defaults (input mode: defaults are optional)', () => {
    expect(schema.type).toBe('object');
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['name', 'source', 'audience', 'message']);
    expect(Object.keys(schema.properties ?? {})).toEqual(['name', 'schedule', 'timezone', 'source', 'audience', 'message', 'delivery']);
    for (const section of ['source', 'audience', 'message', 'delivery']) {
      expect(schema.properties?.[section]?.additionalProperties, section).toBe(false);
    }
    expect(schema.properties?.delivery?.required ?? []).not.toContain('concurrency');
  });

  it('accepts jobs/demo.yaml', () => {
    const job = demoJob();
    for (const key of schema.required ?? []) expect(job).toHaveProperty(key);
    expect(validate(schema, job)).toEqual([]);
  });

  it('rejects an unknown key, a wrong type and a bad enum value, naming where', () => {
    const job = demoJob();
    expect(validate(schema, { ...job, sechdule: '0 9 * * *' })).toEqual(['$: unknown key "sechdule"']);
    const audience = job.audience as Record<string, unknown>;
    expect(validate(schema, { ...job, audience: { ...audience, phone: 42 } })).toEqual(['$.audience.phone: expected string, got integer']);
    const message = job.message as Record<string, unknown>;
    expect(validate(schema, { ...job, message: { ...message, provider: 'whatsapp' } })).toEqual([
      '$.message.provider: not one of ["meta","infobip","ada","sandbox"]',
    ]);
    const { name: _name, ...nameless } = job;
    expect(validate(schema, nameless)).toEqual(['$: missing required "name"']);
  });
});
