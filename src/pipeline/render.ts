/**
 * Render: a row's values become the template's parameters, checked against WhatsApp's limits (in
 * UTF-16 units, as the payload check counts them) where the payload is built, with a reason that
 * names the parameter, the column and the limit: missing_variable, variable_too_long, invalid_variable.
 */
import type { BodyParam, ButtonSpec, HeaderSpec, Job } from '../config/job.schema.js';
import { overLimit, TEXT_LIMITS as LIMITS } from '../providers/text-length.js';
import type { ButtonParam, Draft, HeaderParam, RenderedMessage, TemplateParam, Verdict } from '../types.js';

/** Thrown inside rendering of one row; becomes that row's verdict, never escapes the stage. */
class RowProblem extends Error {
  constructor(readonly verdict: Verdict) {
    super(verdict.detail ?? verdict.reason ?? 'row problem');
  }
}

/** When each recipient last wrote to us (`herald.events` inbound), for free-form text's 24 h window. */
export type LastInbound = (recipients: string[]) => Promise<Map<string, Date>>;

const SERVICE_WINDOW_MS = 24 * 3_600_000;

export async function* render(job: Job, drafts: AsyncIterable<Draft[]>, options: { lastInbound?: LastInbound; now?: () => Date } = {}): AsyncGenerator<Draft[]> {
  const renderRow = rowRenderer(job);
  for await (const batch of drafts) {
    for (const d of batch) {
      if (!d.verdict && d.row) {
        const result = renderRow(d.row);
        if ('verdict' in result) d.verdict = result.verdict;
        else Object.assign(d, result);
      }
      d.row = null;
    }
    if (job.message.text) await checkServiceWindow(batch, options.lastInbound, (options.now ?? (() => new Date()))());
    yield batch;
  }
}

/** Free-form text only reaches recipients who wrote to us in the last 24 h (else Meta 131047). */
async function checkServiceWindow(batch: Draft[], lastInbound: LastInbound | undefined, now: Date): Promise<void> {
  const open = batch.filter((d) => !d.verdict && d.recipient);
  const last = lastInbound ? await lastInbound(open.map((d) => d.recipient!)) : new Map<string, Date>();
  for (const d of open) {
    const at = last.get(d.recipient!);
    if (!at || now.getTime() - at.getTime() >= SERVICE_WINDOW_MS) {
      d.verdict = { status: 'rejected', reason: 'outside_window', detail: at ? `last message from the recipient at ${at.toISOString()}, over 24 h ago` : 'the recipient has never written; free-form text needs a message from them in the last 24 h' };
    }
  }
}

export type RenderResult = { message: RenderedMessage; variables: Record<string, string> } | { verdict: Verdict };

export function rowRenderer(job: Job): (row: Record<string, unknown>) => RenderResult {
  const { template, body, header, buttons, text } = job.message;
  if (!template) return textRenderer(text!);
  const locale = template.language.replace('_', '-');
  const formats = formatters(locale, job.timezone);
  // Per job, not per row: labels for messages, the keys of `variables`, the template reference.
  const templateRef = { name: template.name, language: template.language };
  const bodyParts = body.map((spec, i) => ({ spec, key: `body.${spec.name ?? i + 1}`, label: `message.body.${i}${spec.name ? ` "${spec.name}"` : ''}` }));
  const buttonParts = buttons.map((spec) => ({
    spec, key: `button.${spec.index}`, label: `message.buttons.${spec.index}.${spec.url_suffix ? 'url_suffix' : 'quick_reply_payload'}`,
  }));
  return (row) => {
    const variables: Record<string, string> = {};
    try {
      const message: RenderedMessage = {
        template: templateRef,
        body: bodyParts.map(({ spec, key, label }) => {
          const param = bodyParam(spec, label, row, formats);
          variables[key] = param.text;
          return param;
        }),
        buttons: buttonParts.map(({ spec, key, label }) => {
          const button = buttonParam(spec, label, row);
          variables[key] = button.kind === 'url' ? button.text : button.payload;
          return button;
        }),
      };
      if (header) {
        message.header = headerParam(header, row);
        variables.header = message.header.kind === 'text' ? message.header.text : message.header.link;
      }
      return { message, variables };
    } catch (err) {
      if (err instanceof RowProblem) return { verdict: err.verdict };
      throw err;
    }
  };
}

/** Free-form text: any characters, new lines included, up to WhatsApp's 4,096 UTF-16 units. */
function textRenderer(source: { column?: string | undefined; value?: string | number | undefined }): (row: Record<string, unknown>) => RenderResult {
  return (row) => {
    try {
      const text = textValue(source, row, 'message.text');
      const tooLong = overLimit(describe('message.text', source), text, LIMITS.freeText);
      if (tooLong) return { verdict: { status: 'rejected', reason: 'variable_too_long', detail: tooLong } };
      return { message: { text, body: [], buttons: [] }, variables: { text } };
    } catch (err) {
      if (err instanceof RowProblem) return { verdict: err.verdict };
      throw err;
    }
  };
}

interface Formatters {
  number(n: number): string;
  currency(n: number, code: string): string;
  date(d: Date): string;
}

function formatters(locale: string, timeZone: string): Formatters {
  const safeLocale = Intl.NumberFormat.supportedLocalesOf([locale])[0] ?? 'en';
  const number = new Intl.NumberFormat(safeLocale);
  const currencies = new Map<string, (amount: number) => string>();
  const dateTime = new Intl.DateTimeFormat(safeLocale, { dateStyle: 'medium', timeZone });
  const dateOnly = new Intl.DateTimeFormat(safeLocale, { dateStyle: 'medium', timeZone: 'UTC' });
  const formatDate = memo((t: number) => (t % 86_400_000 === 0 ? dateOnly : dateTime).format(t));
  // Segments repeat values (an expiry date, a points tier): Intl formatting is memoized per value.
  return {
    number: memo((n: number) => number.format(n)),
    currency: (n, code) => {
      let f = currencies.get(code);
      if (!f) {
        const format = new Intl.NumberFormat(safeLocale, { style: 'currency', currency: code });
        currencies.set(code, (f = memo((v: number) => format.format(v))));
      }
      return f(n);
    },
    // A value at exactly UTC midnight is a calendar date (a DATE column): never shift it by a zone.
    date: (d) => formatDate(d.getTime()),
  };
}

/** Remembers up to 4,096 results, then starts over: bounded memory whatever the segment. */
function memo<K, V>(fn: (key: K) => V): (key: K) => V {
  const cache = new Map<K, V>();
  return (key) => {
    let value = cache.get(key);
    if (value === undefined) {
      if (cache.size >= 4096) cache.clear();
      cache.set(key, (value = fn(key)));
    }
    return value;
  };
}

function describe(label: string, source: { column?: string | undefined }): string {
  return source.column ? `${label} (column ${source.column})` : label;
}

function rawValue(source: { column?: string | undefined; value?: string | number | undefined }, row: Record<string, unknown>, label: string): unknown {
  const value = source.column !== undefined ? row[source.column] : source.value;
  if (value === null || value === undefined || (typeof value === 'string' && value.trim() === '')) {
    throw new RowProblem({ status: 'rejected', reason: 'missing_variable', detail: `${describe(label, source)} is empty` });
  }
  return value;
}

function textValue(source: { column?: string | undefined; value?: string | number | undefined }, row: Record<string, unknown>, label: string): string {
  const value = rawValue(source, row, label);
  return value instanceof Date ? value.toISOString() : String(value);
}

function bodyParam(spec: BodyParam, label: string, row: Record<string, unknown>, f: Formatters): TemplateParam {
  const value = rawValue(spec, row, label);
  let param: TemplateParam;
  switch (spec.type) {
    case 'text':
      param = { kind: 'text', text: value instanceof Date ? value.toISOString() : String(value) };
      break;
    case 'number':
      param = { kind: 'text', text: f.number(toNumber(value, spec, label)) };
      break;
    case 'currency': {
      const amount = toNumber(value, spec, label);
      param = { kind: 'currency', text: f.currency(amount, spec.currency!), code: spec.currency!, amount1000: Math.round(amount * 1000) };
      break;
    }
    case 'date':
      param = { kind: 'date_time', text: f.date(toDate(value, spec, label)) };
      break;
  }
  if (spec.name) param.name = spec.name;
  checkText(param.text, LIMITS.bodyParam, label, spec);
  return param;
}

function headerParam(spec: HeaderSpec, row: Record<string, unknown>): HeaderParam {
  if ('text' in spec) {
    const text = textValue(spec.text, row, 'message.header.text');
    checkText(text, LIMITS.headerText, 'message.header.text', spec.text);
    return spec.text.name ? { kind: 'text', name: spec.text.name, text } : { kind: 'text', text };
  }
  const kind = 'image' in spec ? 'image' : 'video' in spec ? 'video' : 'document';
  const source = 'image' in spec ? spec.image : 'video' in spec ? spec.video : spec.document;
  const link = textValue(source, row, `message.header.${kind}`);
  if (!/^https?:\/\/\S+$/.test(link)) {
    throw new RowProblem({ status: 'rejected', reason: 'invalid_variable', detail: `${describe(`message.header.${kind}`, source)} is not an http(s) URL` });
  }
  return { kind, link };
}

function buttonParam(spec: ButtonSpec, label: string, row: Record<string, unknown>): ButtonParam {
  if (spec.url_suffix) return { index: spec.index, kind: 'url', text: textValue(spec.url_suffix, row, label) };
  return { index: spec.index, kind: 'quick_reply', payload: textValue(spec.quick_reply_payload!, row, label) };
}

// Meta refuses parameter text with new lines, tabs or more than four spaces in a row (error 132000).
const FORBIDDEN_WHITESPACE = /[\n\r\t]| {5,}/;

/** `label` and `source` name the parameter in the row's reason (built only for a rejected row). */
function checkText(text: string, limit: number, label: string, source: { column?: string | undefined }): void {
  const tooLong = text.length > limit ? overLimit(describe(label, source), text, limit) : null;
  if (tooLong) throw new RowProblem({ status: 'rejected', reason: 'variable_too_long', detail: tooLong });
  if (FORBIDDEN_WHITESPACE.test(text)) {
    throw new RowProblem({ status: 'rejected', reason: 'invalid_variable', detail: `${describe(label, source)} contains a new line, a tab or more than 4 spaces in a row, which WhatsApp refuses` });
  }
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
// ISO 8601 date or timestamp; a timestamp without an offset is read as UTC, never as the server's zone.
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function toNumber(value: unknown, spec: BodyParam, label: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : DECIMAL.test(String(value).trim()) ? Number(String(value).trim()) : NaN;
  if (!Number.isFinite(n)) throw new RowProblem({ status: 'rejected', reason: 'invalid_variable', detail: `${describe(label, spec)} is not a number: ${JSON.stringify(String(value).slice(0, 40))}` });
  return n;
}

function toDate(value: unknown, spec: BodyParam, label: string): Date {
  const d = value instanceof Date ? value : parseIsoDate(String(value).trim());
  if (!d || Number.isNaN(d.getTime())) throw new RowProblem({ status: 'rejected', reason: 'invalid_variable', detail: `${describe(label, spec)} is not a date: ${JSON.stringify(String(value).slice(0, 40))}` });
  return d;
}

function parseIsoDate(text: string): Date | null {
  const m = ISO_DATE.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, zone] = m;
  const iso = `${y}-${mo}-${d}T${h ?? '00'}:${mi ?? '00'}:${s ?? '00'}${zone ?? 'Z'}`;
  const date = new Date(iso);
  // 2026-02-30 would roll over to March: a date that is not on the calendar is not a date.
  const calendar = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (calendar.getUTCMonth() !== Number(mo) - 1 || calendar.getUTCDate() !== Number(d)) return null;
  return date;
}
