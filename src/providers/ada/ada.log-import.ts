/**
 * `herald import ada-log`: ADA has no report API (reports are exported by hand from the console,
 * Report › Message Log Record), so a message log CSV is landed as events. The export's column
 * names are not published: each field takes the configured header, else the first header among
 * common spellings. Good lines land (in batches, deduplicated like webhooks); bad ones are
 * reported with their line numbers.
 *
 * A log line is one message. Where the export gives each step its own time (Sent / Delivered /
 * Read / Failed time columns), each filled one lands as its own event at its own time, and the
 * failure reason goes with the failed event only; a status with no time of its own takes the
 * line's generic time column, never another step's time.
 */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import type { AdaConfig } from '../../config/runtime.schema.js';
import { consentEvent } from '../../consent/events.js';
import type { ConsentRules } from '../../consent/rules.js';
import { type EventType, type ProviderEvent } from '../../events/event.js';
import { e164, parseTime } from '../../events/fields.js';
import { adaEventId } from './ada.webhook.js';
import { isTimeZone } from '../../util/time-zone.js';

/** Per-step time columns: found by spelling, or named by --map / providers.ada.log_columns. */
const STEP_FIELDS = ['sent_at', 'delivered_at', 'read_at', 'failed_at'] as const;
type StepField = (typeof STEP_FIELDS)[number];
export type LogField = keyof AdaConfig['log_columns'] | StepField;
const STEP_TYPE: Record<StepField, EventType> = { sent_at: 'sent', delivered_at: 'delivered', read_at: 'read', failed_at: 'failed' };

/** Spellings tried for a field whose header is not configured, compared without case, spaces or punctuation. */
export const LOG_COLUMN_CANDIDATES: Record<LogField, readonly string[]> = {
  message_id: ['messageid', 'msgid', 'wamid', 'whatsappmessageid', 'id'],
  recipient: ['to', 'recipient', 'receiver', 'mobile', 'mobileno', 'mobilenumber', 'phone', 'phonenumber', 'msisdn', 'destination', 'customernumber'],
  status: ['status', 'messagestatus', 'deliverystatus', 'state', 'eventtype'],
  // A generic time: the status's own time in a one-row-per-status log. Sent time is not one of
  // these: it is the sent step's time, and giving it to a read or a failure was wrong.
  occurred_at: ['timestamp', 'datetime', 'statustime', 'updatedat', 'updatetime', 'date', 'time', 'createdat', 'createdtime'],
  sent_at: ['senttime', 'sentat', 'sentdate', 'sentdatetime', 'sendtime', 'submittedat', 'submittime'],
  delivered_at: ['deliveredtime', 'deliveredat', 'delivereddate', 'delivereddatetime', 'deliverytime', 'deliverydatetime'],
  read_at: ['readtime', 'readat', 'readdate', 'readdatetime', 'seentime', 'seenat'],
  failed_at: ['failedtime', 'failedat', 'faileddate', 'faileddatetime', 'failtime', 'failuretime'],
  error_code: ['errorcode', 'failurecode', 'failedcode'],
  error_detail: ['errormessage', 'errordetail', 'error', 'failedreason', 'failreason', 'failurereason', 'reason', 'remarks'],
  text: ['message', 'text', 'content', 'body', 'messagecontent', 'messagetext'],
};

const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

export interface ImportOptions {
  columns: Partial<Record<LogField, string>>;
  /** IANA zone of timestamps written without an offset. */
  timezone: string;
  rules: ConsentRules;
  /** Where events go (landEvents on the warehouse); called with batches of up to `batchSize`. */
  land: (events: ProviderEvent[]) => Promise<void>;
  batchSize?: number;
  receivedAt?: Date;
}

export interface ImportResult {
  /** Data lines read (the header not counted). */
  lines: number;
  /** Events handed to the warehouse (including derived opt-out / opt-in events). */
  events: number;
  /** Lines that became events. */
  good: number;
  bad: { line: number; reason: string }[];
  /** Which header each field was read from (null: not in this file). */
  mapping: Record<LogField, string | null>;
  /** Lines whose status herald does not know: landed as `other`. */
  otherStatuses: Map<string, number>;
}

/** The first line names the columns; a file without the needed ones fails before anything lands. */
export class LogFormatError extends Error {}

export async function importAdaLog(file: string, o: ImportOptions): Promise<ImportResult> {
  assertZone(o.timezone);
  const receivedAt = o.receivedAt ?? new Date();
  const batchSize = o.batchSize ?? 1000;
  const result: ImportResult = { lines: 0, events: 0, good: 0, bad: [], mapping: emptyMapping(), otherStatuses: new Map() };
  const parser = createReadStream(file).pipe(parse({
    bom: true, info: true, relax_column_count: true, skip_empty_lines: true, trim: true,
    skip_records_with_error: true,
    on_skip: (err) => {
      result.lines++;
      result.bad.push({ line: Number((err as { lines?: number } | undefined)?.lines ?? 0), reason: `unreadable CSV: ${err?.message ?? 'parse error'}` });
      return undefined;
    },
  }));
  let header: string[] | null = null;
  let index: Record<LogField, number> | null = null;
  let batch: ProviderEvent[] = [];
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    if (!header) {
      header = record;
      ({ index, mapping: result.mapping } = mapColumns(header, o.columns));
      continue;
    }
    result.lines++;
    const line = info.lines;
    if (record.length !== header.length) {
      result.bad.push({ line, reason: `${record.length} fields where the header has ${header.length}` });
      continue;
    }
    const row = lineEvents(record, index!, o.timezone, receivedAt);
    if ('bad' in row) {
      result.bad.push({ line, reason: row.bad });
      continue;
    }
    result.good++;
    for (const event of row.events) {
      if (event.event_type === 'other') {
        const status = record[index!.status] ?? '';
        result.otherStatuses.set(status, (result.otherStatuses.get(status) ?? 0) + 1);
      }
      batch.push(event);
      if (event.event_type === 'inbound' && event.recipient) {
        const consent = o.rules.classify({ text: index!.text >= 0 ? record[index!.text] ?? null : null });
        if (consent) batch.push(consentEvent(event, consent.change, consent.how));
      }
    }
    if (batch.length >= batchSize) {
      await o.land(batch);
      result.events += batch.length;
      batch = [];
    }
  }
  if (!header) throw new LogFormatError('the file is empty: no header line');
  if (batch.length > 0) {
    await o.land(batch);
    result.events += batch.length;
  }
  return result;
}

function emptyMapping(): Record<LogField, string | null> {
  return {
    message_id: null, recipient: null, status: null, occurred_at: null, sent_at: null, delivered_at: null, read_at: null, failed_at: null,
    error_code: null, error_detail: null, text: null,
  };
}

function mapColumns(header: string[], configured: Partial<Record<LogField, string>>): { index: Record<LogField, number>; mapping: Record<LogField, string | null> } {
  const squashed = header.map(squash);
  const index = {} as Record<LogField, number>;
  const mapping = emptyMapping();
  for (const field of Object.keys(LOG_COLUMN_CANDIDATES) as LogField[]) {
    const wanted = configured[field];
    let at = -1;
    if (wanted) {
      at = header.findIndex((h) => h === wanted);
      if (at === -1) at = squashed.indexOf(squash(wanted));
      if (at === -1) throw new LogFormatError(`no column "${wanted}" (configured for ${field}); the header has: ${header.join(', ')}`);
    } else {
      for (const c of LOG_COLUMN_CANDIDATES[field]) {
        at = squashed.indexOf(c);
        if (at !== -1) break;
      }
    }
    index[field] = at;
    mapping[field] = at === -1 ? null : header[at]!;
  }
  const missing: string[] = index.status === -1 ? ['status'] : [];
  if (index.occurred_at === -1 && STEP_FIELDS.every((f) => index[f] === -1)) missing.push('occurred_at (or a sent/delivered/read/failed time)');
  if (index.message_id === -1 && index.recipient === -1) missing.push('message_id or recipient');
  if (missing.length > 0) {
    throw new LogFormatError(`no column found for ${missing.join(', ')}; the header has: ${header.join(', ')} ` +
      '(map them with --map field=Header or providers.ada.log_columns)');
  }
  return { index, mapping };
}

/** A log status as an event type; statuses herald does not know land as `other`. */
export function logStatusType(status: string): EventType {
  const s = status.toLowerCase();
  if (/fail|undeliver|reject|error|expire/.test(s)) return 'failed';
  if (/read|seen/.test(s)) return 'read';
  if (/deliver/.test(s)) return 'delivered';
  if (/inbound|received|incoming|repl/.test(s)) return 'inbound';
  if (/sent|submit|accept|queue|sending|pending/.test(s)) return 'sent';
  return 'other';
}

/** One log line as its events: one per filled step time, else one for its status at the line's time. */
function lineEvents(record: string[], index: Record<LogField, number>, zone: string, receivedAt: Date): { events: ProviderEvent[] } | { bad: string } {
  const cell = (f: LogField) => (index[f] >= 0 ? (record[index[f]] ?? '').trim() : '');
  const time = (f: LogField): Date | null | { bad: string } => {
    const when = cell(f);
    if (when === '') return null;
    return zonedTime(when, zone) ?? parseTime(when) ?? { bad: `unreadable time "${when}" in ${f} (ISO-8601, "YYYY-MM-DD HH:mm:ss" in ${zone}, or unix seconds)` };
  };
  const messageId = cell('message_id') || null;
  const rawRecipient = cell('recipient');
  const recipient = e164(rawRecipient);
  if (!messageId && !recipient) return { bad: rawRecipient ? `no message id, and "${rawRecipient}" is not a phone number` : 'no message id and no recipient' };
  const status = cell('status');
  const payload: Record<string, string> = { source: 'ada-log' };
  for (const f of Object.keys(index) as LogField[]) if (index[f] >= 0) payload[f] = cell(f);
  const event = (type: EventType, occurredAt: Date): ProviderEvent => ({
    event_id: adaEventId(type, messageId, occurredAt, messageId ? null : `${recipient}:${status}`),
    provider: 'ada',
    event_type: type,
    provider_message_id: messageId,
    recipient,
    occurred_at: occurredAt,
    received_at: receivedAt,
    // The export's own code and reason, or none: the status word ("Failed") is not an error code.
    error_code: type === 'failed' ? cell('error_code') || null : null,
    error_detail: type === 'failed' ? cell('error_detail') || null : null,
    pricing_category: null,
    payload,
  });

  const events: ProviderEvent[] = [];
  for (const f of STEP_FIELDS) {
    const at = time(f);
    if (at && 'bad' in at) return at;
    if (at) events.push(event(STEP_TYPE[f], at));
  }
  if (status === '') return events.length > 0 ? { events } : { bad: 'empty status' };
  const type = logStatusType(status);
  if (events.some((e) => e.event_type === type)) return { events };
  // The status without a time of its own: the line's generic time, when the file has one.
  const at = time('occurred_at');
  if (at && 'bad' in at) return at;
  if (at) return { events: [...events, event(type, at)] };
  if (events.length > 0) return { events };
  return { bad: index.occurred_at >= 0 ? `no time for status "${status}"` : `no time for status "${status}": its ${type} time is empty and the file has no status time column` };
}

function assertZone(zone: string): void {
  if (!isTimeZone(zone)) throw new LogFormatError(`unknown time zone "${zone}" (an IANA name such as Asia/Singapore or UTC)`);
}

/** `YYYY-MM-DD HH:mm[:ss[.fff]]` (or with `/`) as wall time in `zone`; null for anything else. */
export function zonedTime(s: string, zone: string): Date | null {
  const m = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(s.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  const wall = Date.UTC(y, mo - 1, d, h, mi, sec, Number((m[7] ?? '').padEnd(3, '0')));
  // The zone's offset at that instant, asked twice so a wall time next to a DST change settles.
  let t = wall - offsetMs(wall, zone);
  t = wall - offsetMs(t, zone);
  const date = new Date(t);
  return Number.isNaN(date.getTime()) ? null : date;
}

function offsetMs(at: number, zone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(at));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(at / 1000) * 1000;
}
