/**
 * Reads a YAML file into plain data and turns zod issues into `Problem`s that name the file, the
 * line and the dotted path, with a hint for the usual mistakes.
 */
import { readFileSync } from 'node:fs';
import { isMap, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type Problem } from '../errors.js';

export interface YamlFile {
  file: string;
  data: unknown;
  /** 1-based line of a dotted path in the file, when the path exists there. */
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

export function readYamlFile(file: string, what: string): YamlFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw ConfigError.of(file, '', code === 'ENOENT' ? `${what} not found` : `cannot read ${what}: ${code ?? String(err)}`,
      code === 'ENOENT' ? 'check the path; relative paths start from the working directory' : undefined);
  }
  return parseYaml(text, file);
}

export function parseYaml(text: string, file: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const [first] = doc.errors;
  if (first) {
    // Only the first: one broken quote or indent makes every later error a consequence of it.
    throw new ConfigError([{
      file,
      path: '',
      line: lineCounter.linePos(first.pos[0]).line,
      message: `invalid YAML: ${first.message.split('\n')[0]}`,
      hint: 'check indentation, quoting and that every key is followed by ": "',
    }]);
  }
  return {
    file,
    data: doc.toJS() as unknown,
    lineOf: (path) => lineOf(doc, lineCounter, path),
  };
}

function lineOf(doc: Document, counter: LineCounter, path: readonly PropertyKey[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return counter.linePos(node.range[0]).line;
    if (depth === 0 && isMap(doc.contents) && doc.contents.range) return counter.linePos(doc.contents.range[0]).line;
  }
  return undefined;
}

/** Parses `data` with `schema`; every issue becomes one Problem. */
export function parseWith<S extends z.ZodType>(schema: S, source: YamlFile): z.infer<S> {
  const result = schema.safeParse(source.data, { reportInput: true });
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => issueToProblem(issue, source, schema)));
}

function issueToProblem(issue: z.core.$ZodIssue, source: YamlFile, schema: z.ZodType): Problem {
  const path = issue.path.map(String).join('.');
  const line = source.lineOf(issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path);
  const base = { file: source.file, path, ...(line ? { line } : {}) };
  if (issue.code === 'unrecognized_keys') {
    const known = objectKeysAt(schema, issue.path);
    return {
      ...base,
      message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`,
      hint: suggest(issue.keys[0] ?? '', known) ?? 'remove it; see schema/job.schema.json for the allowed keys',
    };
  }
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return { ...base, message: `missing required key "${path.split('.').pop() ?? path}"`, hint: `expected ${issue.expected}` };
    return { ...base, message: `expected ${issue.expected}, got ${describeInput(issue.input)}` };
  }
  return { ...base, message: issue.message };
}

function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return `${typeof input} ${JSON.stringify(input).slice(0, 40)}`;
}

/** The keys an object schema allows at `path`, found by walking the schema (zod's issue lacks them). */
function objectKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  type Def = { type: string; shape?: Record<string, unknown>; innerType?: unknown; element?: unknown; options?: unknown[]; in?: unknown; schema?: unknown };
  const defOf = (s: unknown): Def | undefined => (s as { _zod?: { def: Def } } | undefined)?._zod?.def;
  const unwrap = (s: unknown): unknown[] => {
    const def = defOf(s);
    if (!def) return [];
    if (def.innerType) return unwrap(def.innerType);
    if (def.type === 'pipe' && def.in) return unwrap(def.in);
    if (def.type === 'union' && def.options) return def.options.flatMap(unwrap);
    return [s];
  };
  let current = unwrap(schema);
  for (const key of path) {
    current = current.flatMap((s) => {
      const def = defOf(s);
      if (def?.shape && typeof key === 'string' && key in def.shape) return unwrap(def.shape[key]);
      if (def?.element && typeof key === 'number') return unwrap(def.element);
      return [];
    });
  }
  return current.flatMap((s) => Object.keys(defOf(s)?.shape ?? {}));
}

/** "did you mean …" for a mistyped key: the closest known key within two edits. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best === undefined ? undefined : `did you mean "${best}"?`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}
