/**
 * Segment SQL uses named parameters (`:since`); both engines take positional `$n`. This rewrites
 * one into the other, skipping string literals, quoted identifiers, comments, `::` casts and
 * PostgreSQL dollar-quoted strings, so values are always bound, never spliced into the text.
 */
import type { SqlValue } from './warehouse.js';

export interface BoundSql {
  sql: string;
  params: SqlValue[];
  /** The names in `$n` order. */
  names: string[];
}

export class MissingParameterError extends Error {
  constructor(readonly missing: string[]) {
    super(`SQL parameter${missing.length > 1 ? 's' : ''} ${missing.map((m) => `:${m}`).join(', ')} ha${missing.length > 1 ? 've' : 's'} no value`);
  }
}

export function bindNamedParams(sql: string, values: Readonly<Record<string, SqlValue>>): BoundSql {
  const names: string[] = [];
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === "'" || ch === '"') {
      const end = closingQuote(sql, i, ch);
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop;
    } else if (ch === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      const stop = end === -1 ? sql.length : end + 2;
      out += sql.slice(i, stop);
      i = stop;
    } else if (ch === '$' && /[A-Za-z_$]/.test(next ?? '')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        const stop = end === -1 ? sql.length : end + tag[0].length;
        out += sql.slice(i, stop);
        i = stop;
      } else {
        out += ch;
        i++;
      }
    } else if (ch === ':' && next === ':') {
      out += '::';
      i += 2;
    } else if (ch === ':' && /[A-Za-z_]/.test(next ?? '')) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1))![0];
      let index = names.indexOf(name);
      if (index === -1) index = names.push(name) - 1;
      out += `$${index + 1}`;
      i += 1 + name.length;
    } else {
      out += ch;
      i++;
    }
  }
  const missing = names.filter((n) => !(n in values));
  if (missing.length > 0) throw new MissingParameterError(missing);
  return { sql: out, params: names.map((n) => values[n]!), names };
}

function closingQuote(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] === quote) i += 2; // doubled quote escapes itself
      else return i + 1;
    } else i++;
  }
  return sql.length;
}
