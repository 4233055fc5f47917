/**
 * The job file (DESIGN "Job file"): one zod schema, the only place a job's shape is defined.
 * `type Job` is inferred from it; the JSON Schema for editors is generated from it.
 */
// The build phone.normalize.ts parses with: one copy of libphonenumber's code in the process.
import { isSupportedCountry } from 'libphonenumber-js/max/es6';
import cron from 'node-cron';
import { z } from 'zod';
import { isTimeZone } from '../util/time-zone.js';

const identifier = z.string().regex(/^[a-z0-9_]+$/, 'use lowercase letters, digits and _ only');
const column = z.string().min(1, 'name a column of the segment query');

/** Where a template value comes from: a column of the row, or a constant. */
const valueSource = {
  column: column.optional().describe('column of the segment row'),
  value: z.union([z.string(), z.number()]).optional().describe('a constant, the same for every row'),
};
const exactlyOneSource = (s: { column?: unknown; value?: unknown }) => (s.column === undefined) !== (s.value === undefined);
const oneSourceMessage = { message: 'give exactly one of "column" or "value"' };

export const ParamTypeSchema = z.enum(['text', 'number', 'currency', 'date']);

export const BodyParamSchema = z.strictObject({
  ...valueSource,
  name: identifier.optional().describe('parameter name, for templates with named parameters'),
  type: ParamTypeSchema.default('text'),
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as JPY or USD').optional()
    .describe('currency code, required for type: currency'),
})
  .refine(exactlyOneSource, oneSourceMessage)
  .refine((p) => p.type !== 'currency' || p.currency !== undefined, { message: 'type: currency needs "currency" (e.g. JPY)', path: ['currency'] });

const sourceSchema = z.strictObject(valueSource).refine(exactlyOneSource, oneSourceMessage);
const namedSourceSchema = z.strictObject({ ...valueSource, name: identifier.optional() }).refine(exactlyOneSource, oneSourceMessage);

export const HeaderSchema = z.union([
  z.strictObject({ text: namedSourceSchema }),
  z.strictObject({ image: sourceSchema }),
  z.strictObject({ video: sourceSchema }),
  z.strictObject({ document: sourceSchema }),
], { message: 'header takes exactly one of text, image, video or document' });

export const ButtonSchema = z.strictObject({
  index: z.number().int().min(0).max(9),
  url_suffix: sourceSchema.optional().describe('dynamic part of a URL button'),
  quick_reply_payload: sourceSchema.optional().describe('payload echoed back when the button is tapped'),
}).refine((b) => (b.url_suffix === undefined) !== (b.quick_reply_payload === undefined), {
  message: 'a button takes exactly one of "url_suffix" or "quick_reply_payload"',
});

const duration = z.string().regex(/^\d+[smhd]$/, 'a duration such as 30s, 90m, 24h or 7d');

export const DedupeSchema = z.union([
  z.literal('job').describe('never twice per row key for this job'),
  z.literal('run').describe('once per row key per run'),
  z.strictObject({ window: duration }).describe('not twice per row key within the window'),
], { message: 'dedupe is "job", "run" or { window: 7d }' });

export const JobSchema = z.strictObject({
  name: identifier.describe('unique job name; part of every idempotency key'),
  schedule: z.string().refine((s) => cron.validate(s), 'a cron expression such as "0 9 * * *" (minute hour day month weekday)').optional(),
  timezone: z.string().refine(isTimeZone, 'an IANA time zone such as Asia/Tokyo').default('UTC'),
  source: z.strictObject({
    warehouse: z.string().min(1).default('default'),
    sql: z.string().min(1).optional().describe('path of a .sql file'),
    query: z.string().min(1).optional().describe('inline SQL'),
    params: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.union([z.string(), z.number(), z.boolean(), z.null()]))
      .default({}).describe('values for :name parameters in the SQL'),
  }).refine((s) => (s.sql === undefined) !== (s.query === undefined), { message: 'give exactly one of "sql" or "query"' }),
  audience: z.strictObject({
    key: column.describe('stable row key column'),
    phone: column.optional().describe('phone number column, any common format'),
    user_id: column.optional()
      .describe('WhatsApp business-scoped user id (BSUID, e.g. US.13491208655302741918) column: a row with one is sent to it, not to its phone (Meta only; not for authentication templates)'),
    default_region: z.string().refine((r) => isSupportedCountry(r), 'a two-letter region code such as JP, US or GB')
      .describe('region for numbers written without a country code'),
    consent: column.describe('rows where this column is not true are not sent'),
  }).refine((a) => a.phone !== undefined || a.user_id !== undefined, { message: 'give "phone", "user_id" (a BSUID column), or both', path: ['phone'] }),
  message: z.strictObject({
    provider: z.enum(['meta', 'infobip', 'ada', 'sandbox']),
    // YAML reads an unquoted number id as a number; it is an id all the same.
    sender: z.union([z.string(), z.number().int().transform(String)]).pipe(z.string().min(1, 'the sending number or id, e.g. ${META_PHONE_NUMBER_ID}')),
    template: z.strictObject({ name: identifier, language: z.string().regex(/^[a-z]{2,3}(_[A-Za-z]{2,4})?$/, 'a language code such as ja or en_US') }).optional(),
    text: sourceSchema.optional().describe('free-form text instead of a template: sent only within 24 h of the recipient\'s last message'),
    category: z.enum(['marketing', 'utility', 'authentication']).optional()
      .describe('the category the job means to send (and pay for): validate and run refuse a template the provider now files under another'),
    meta: z.strictObject({
      api: z.enum(['messages', 'marketing_messages', 'auto']).default('messages')
        .describe('messages: POST /messages; marketing_messages: the Marketing Messages API (marketing templates only); auto: marketing templates through it, others through /messages'),
    }).optional().describe('options only the meta provider reads'),
    body: z.array(BodyParamSchema).default([]),
    header: HeaderSchema.optional(),
    buttons: z.array(ButtonSchema).default([]),
    infobip: z.strictObject({
      url_options: z.strictObject({
        shorten_url: z.boolean().optional(),
        track_clicks: z.boolean().optional(),
        tracking_url: z.string().url().optional(),
        remove_protocol: z.boolean().optional(),
        custom_domain: z.string().optional(),
      }).optional().describe('Infobip urlOptions: shortening and click tracking of URLs in the message'),
      callback_data: z.string().max(4000).optional().describe('echoed in Infobip reports (herald adds the send id)'),
    }).optional().describe('options only the infobip provider reads'),
  }).refine((m) => (m.template === undefined) !== (m.text === undefined), {
    message: 'give exactly one of "template" or "text"',
  }).refine((m) => m.text === undefined || (m.body.length === 0 && m.header === undefined && m.buttons.length === 0), {
    message: 'a text message has no body parameters, header or buttons (those belong to templates)',
  }).refine((m) => new Set(m.body.map((p) => p.name !== undefined)).size <= 1, {
    message: 'body parameters are either all named or all positional', path: ['body'],
  }).refine((m) => new Set(m.buttons.map((b) => b.index)).size === m.buttons.length, {
    message: 'two buttons share an index', path: ['buttons'],
  }),
  delivery: z.strictObject({
    rate_per_second: z.number().positive().max(1000).optional().describe('at most this much of the sender\'s cap; default: the sender\'s cap'),
    concurrency: z.number().int().min(1).max(1000).optional()
      .describe('sends in flight at once; bounds unknowns after a crash (default: one second of the rate, 16 to 1,000)'),
    dedupe: DedupeSchema.default('job'),
    not_before: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time such as 09:00').optional()
      .describe('no sends before this time of day in the recipient\'s zone'),
    not_after: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time such as 21:00').optional()
      .describe('no sends from this time of day in the recipient\'s zone: later rows are deferred'),
    recipient_timezone: column.optional().describe('column with each recipient\'s IANA time zone (else derived from the number\'s country)'),
    max_failure_ratio: z.number().min(0).max(1).optional().describe('exit code 3 when failed / attempted exceeds it'),
    retry_failed_after: duration.default('7d')
      .describe('a recipient that failed permanently (e.g. undeliverable) is not tried again by this job for this long'),
    parts: z.number().int().min(1).max(64).optional()
      .describe('PostgreSQL: runs from POST /runs and schedules are split into this many parts that workers run at once (default 4); DuckDB runs whole'),
    marketing_not_delivered_in: z.array(z.string().refine((r) => isSupportedCountry(r), 'a two-letter region code such as US'))
      .default(['US'])
      .describe('regions where Meta does not deliver marketing templates: such rows are rejected (marketing_not_delivered_in_country) before any send'),
    over_messaging_limit: z.enum(['refuse', 'defer']).default('refuse')
      .describe('when the audience would pass the sender\'s messaging limit (unique users per rolling 24 h): refuse the run before its first send, or send up to the limit and defer the rest'),
    unknown_resend_after: duration.default('15m')
      .describe('a send whose outcome is unknown and that got no webhook for this long, while the sender\'s later sends did, was never accepted: the next run sends it'),
  }).refine((d) => !d.not_before || !d.not_after || d.not_before < d.not_after, {
    message: 'not_before must be earlier than not_after', path: ['not_after'],
  }).default({ dedupe: 'job', retry_failed_after: '7d', unknown_resend_after: '15m', marketing_not_delivered_in: ['US'], over_messaging_limit: 'refuse' }),
})
  // Only Meta's Cloud API (and the sandbox that imitates it) sends to business-scoped user ids.
  .refine((j) => j.audience.user_id === undefined || j.message.provider === 'meta' || j.message.provider === 'sandbox', {
    message: 'audience.user_id (a BSUID column) needs message.provider meta or sandbox: other providers cannot send to a business-scoped user id',
    path: ['audience', 'user_id'],
  })
  .refine((j) => j.audience.user_id === undefined || j.message.category !== 'authentication', {
    message: 'audience.user_id cannot go with message.category: authentication: Meta refuses authentication templates to a BSUID (error 131062); give audience.phone only',
    path: ['audience', 'user_id'],
  });

export type Job = z.infer<typeof JobSchema>;
export type BodyParam = z.infer<typeof BodyParamSchema>;
export type HeaderSpec = z.infer<typeof HeaderSchema>;
export type ButtonSpec = z.infer<typeof ButtonSchema>;
export type Dedupe = z.infer<typeof DedupeSchema>;

/** `30s`, `90m`, `24h`, `7d` (the `duration` format above) in milliseconds. */
export function durationMs(text: string): number {
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[text.slice(-1) as 's' | 'm' | 'h' | 'd'];
  return Number(text.slice(0, -1)) * unit;
}
