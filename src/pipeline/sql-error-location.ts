/**
 * Where in the segment's SQL an engine error points, as `LINE n: <line>` and a caret under the
 * spot (psql's and DuckDB's own layout), numbered in the segment's own lines. Warehouses may wrap
 * the SQL before running it (describe adds a line above), so DuckDB's LINE is found again by its
 * text, and PostgreSQL's character `position` is mapped from the text that ran (`ran`, default the
 * bound SQL itself, as a streamed segment runs) onto the bound SQL.
 */
export function locateSqlError(bound: string, err: unknown, message: string): string | null {
  const duck = /^LINE (\d+): (.*)\n( *)\^/m.exec(message);
  if (duck) return renumbered(bound, duck[1]!, duck[2]!, duck[3]!.length - `LINE ${duck[1]}: `.length);
  const e = (typeof err === 'object' && err !== null ? err : {}) as { position?: unknown; ran?: unknown };
  const position = typeof e.position === 'string' ? Number(e.position) : NaN;
  if (!Number.isInteger(position) || position < 1) return null;
  const ran = typeof e.ran === 'string' ? e.ran : bound;
  const start = ran.indexOf(bound);
  const at = position - 1 - (start < 0 ? 0 : start);
  const text = start < 0 ? ran : bound;
  if (at < 0 || at > text.length) return null;
  const before = text.slice(0, at).split('\n');
  const lineNo = before.length;
  const column = before[lineNo - 1]!.length;
  return caret(lineNo, text.split('\n')[lineNo - 1] ?? '', column);
}

function renumbered(bound: string, shown: string, line: string, column: number): string {
  const lines = bound.split('\n');
  // The first line of the bound SQL with the same text; DuckDB's own number when none matches.
  const found = lines.findIndex((l) => l === line || l.trimEnd() === line.trimEnd());
  return caret(found >= 0 ? found + 1 : Number(shown), line, Math.max(0, column));
}

function caret(lineNo: number, line: string, column: number): string {
  const prefix = `LINE ${lineNo}: `;
  return `${prefix}${line}\n${' '.repeat(prefix.length + column)}^`;
}
