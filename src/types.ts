/**
 * herald's core types.
 *
 * Glossary
 * - segment: the rows a job's SQL returns; one row is one audience member.
 * - recipient: the E.164 phone number a row normalizes to.
 * - render: turning a row into the template's parameters (a RenderedMessage).
 * - dispatch: sending rendered messages through a provider at the allowed rate.
 * - send: one audience row's fate in one run; exactly one `herald.sends` row.
 * - attempt: one provider call for a send; a send may take several (retries).
 * - event: something a provider told us about a message later (sent, delivered, read, …).
 * - run: one execution of a job; its counts land in `herald.runs`.
 */
import type { Job } from './config/job.schema.js';

/**
 * Status of a send (DESIGN "Tables"; the transitions are in pipeline/land.ts). `pending`: to be
 * attempted, not yet at the provider; `in_flight`: its request has started. The rest are final
 * for the run, except that a resumed run takes `unknown` again when it may resend safely.
 */
export type SendStatus = 'planned' | 'rejected' | 'suppressed' | 'duplicate' | 'pending' | 'in_flight' | 'accepted' | 'failed' | 'deferred' | 'unknown';

export const SEND_STATUSES: readonly SendStatus[] = ['planned', 'rejected', 'suppressed', 'duplicate', 'pending', 'in_flight', 'accepted', 'failed', 'deferred', 'unknown'];

/** A decided outcome for a row: why it was not (or was) sent. */
export interface Verdict {
  status: SendStatus;
  /** Machine code: invalid_phone, not_mobile, no_consent, opted_out, provider:131026, … */
  reason: string | null;
  /** Human detail for the reason (which field, which limit, the provider's text). */
  detail?: string | null;
  errorCode?: string | null;
}

/** A template parameter value, provider-neutral. `text` is what a reader sees. */
export type TemplateParam =
  | { kind: 'text'; name?: string; text: string }
  | { kind: 'currency'; name?: string; text: string; code: string; amount1000: number }
  | { kind: 'date_time'; name?: string; text: string };

export type HeaderParam =
  | { kind: 'text'; name?: string; text: string }
  | { kind: 'image' | 'video' | 'document'; link: string };

export type ButtonParam =
  | { index: number; kind: 'url'; text: string }
  | { index: number; kind: 'quick_reply'; payload: string };

/** Everything a provider needs to send one message to one recipient: a template, or free text. */
export type RenderedMessage = TemplateMessage | TextMessage;

export interface TemplateMessage {
  text?: undefined;
  template: { name: string; language: string };
  header?: HeaderParam;
  body: TemplateParam[];
  buttons: ButtonParam[];
}

/**
 * Free-form text: allowed only inside the 24 h window after the recipient's last message (render
 * checks the window; adapters send a text message).
 */
export interface TextMessage {
  text: string;
  template?: undefined;
  header?: undefined;
  body: [];
  buttons: [];
}

/** One audience row on its way through the stages. Stages fill fields; a verdict ends the way. */
export interface Draft {
  /** Position in the segment (0-based), for messages and for rows without a key. */
  ordinal: number;
  /** The row's stable key (`audience.key`). */
  rowKey: string;
  /** True when an earlier row of the segment had the same key (so this one needs its own send id). */
  repeatsKey?: boolean;
  /** The segment row; dropped once rendered. */
  row: Record<string, unknown> | null;
  /** E.164 (or the row's BSUID, `US.1349…`), or null when neither gave a recipient. */
  recipient: string | null;
  /** The recipient's ISO region (from the number, or a BSUID's prefix). */
  country?: string | null;
  /** A row sent to its BSUID that also gives a valid phone: the phone, for its opt-outs. */
  phone?: string;
  /** The row's `delivery.recipient_timezone` value, for sending hours. */
  timeZone?: string | null;
  /** Set by render. */
  message?: RenderedMessage;
  /** The rendered values, as stored in `herald.sends.variables`. */
  variables?: Record<string, string>;
  /** Set when the row's fate is decided before any provider call. */
  verdict?: Verdict;
}

/** A row of `herald.sends` (snake_case mirrors the table). */
export interface SendRecord {
  send_id: string;
  run_id: string;
  job: string;
  row_key: string;
  recipient: string | null;
  idempotency_key: string;
  provider: string;
  sender: string | null;
  template: string | null;
  language: string | null;
  variables: Record<string, string> | null;
  status: SendStatus;
  reason: string | null;
  error_code: string | null;
  error_detail: string | null;
  provider_message_id: string | null;
  attempts: number;
  created_at: Date;
  sent_at: Date | null;
  /** Until when the job leaves this key alone: a permanent failure (retry_failed_after), a deferral. */
  not_before: Date | null;
  /** The API path the send takes: Meta `messages` or `marketing_messages`; null where there is one path. */
  api: string | null;
  /** The recipient's ISO region (the number's, or a BSUID's prefix), for country rules and costs. */
  country: string | null;
}

/** A row of `herald.runs`. */
export interface RunRecord {
  run_id: string;
  job: string;
  run_key: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'aborted';
  dry_run: boolean;
  started_at: Date;
  finished_at: Date | null;
  error: string | null;
}

export type RunCounts = Record<SendStatus, number> & { audience: number };

/** What every stage gets: the job and the run it belongs to. */
export interface RunContext {
  job: Job;
  runId: string;
  dryRun: boolean;
}
