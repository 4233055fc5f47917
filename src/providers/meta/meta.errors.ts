/**
 * Meta error codes → herald actions, as shared/reference/meta-cloud-api.md tables them, except that
 * 131008, 131009 and 132018 are `invalid_row` (one row's value, see docs/providers/meta-errors.md).
 * The decision is on `error.code` only: Meta answers rate limits with HTTP 400, and
 * `error_subcode` is deprecated. Codes not in the table are `permanent` and say so in the detail.
 */
import { HeraldError } from '../../errors.js';
import { genericOutcome, type HttpOutcome } from '../http.js';
import type { ErrorAction, SendOutcome } from '../provider.js';
import type { MetaGraphError, MetaSendResponse } from './meta.wire.js';

/** The user stopped marketing messages: a permanent failure that becomes a suppression, in a send's answer or a status webhook. */
export const META_OPTED_OUT_CODE = 131050;
/** 131057 (maintenance, throughput upgrade): the whole sender pauses this long, then retries. */
export const MAINTENANCE_PAUSE_MS = 60_000;
/** 131049 (per-user marketing limit): not before 24 h. */
export const DEFER_MS = 86_400_000;

const TABLE: Record<Exclude<ErrorAction, 'abort'>, readonly number[]> = {
  retry: [1, 2, 131000, 131016, 133004, 131057],
  slow_down: [4, 80007, 130429],
  retry_recipient_later: [131056],
  defer: [131049],
  permanent: [131026, 131050, 130472, 131021, 130403, 131047],
  // A refused value of one row (a parameter too long or invalid, a required one missing).
  invalid_row: [131008, 131009, 132018],
  fix_request: [100, 131051, 131053, 132000, 132001, 132005, 132007, 132012, 132015, 132016, 135000, 131030],
};
const ABORT = [0, 3, 10, 190, 368, 131005, 131031, 131042, 131045, 131048, 133010, 33];

const ACTIONS = new Map<number, ErrorAction>([
  ...Object.entries(TABLE).flatMap(([action, codes]) => codes.map((c) => [c, action as ErrorAction] as const)),
  ...ABORT.map((c) => [c, 'abort'] as const),
]);

/** The action for a Meta error code, or null when herald's table does not know it. */
export function knownMetaAction(code: number): ErrorAction | null {
  if (code >= 200 && code <= 299) return 'abort'; // permission errors
  return ACTIONS.get(code) ?? null;
}

export function metaErrorAction(code: number): ErrorAction {
  return knownMetaAction(code) ?? 'permanent';
}

/** A Graph error body, or null when the JSON is something else. */
export function graphError(json: unknown): MetaGraphError | null {
  if (json === null || typeof json !== 'object') return null;
  const error = (json as { error?: unknown }).error;
  if (error === null || typeof error !== 'object') return null;
  const code = (error as { code?: unknown }).code;
  const n = typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : code;
  return typeof n === 'number' && Number.isInteger(n) ? { ...(error as MetaGraphError), code: n } : null;
}

/** Message, details and trace id in one line: what an operator needs to search Meta's support. */
export function describeGraphError(e: MetaGraphError, httpStatus?: number): string {
  const parts = [e.message?.trim() || `Meta error ${e.code}`];
  const details = e.error_data?.details?.trim();
  if (details && details !== parts[0]) parts.push(details);
  const extra = [
    httpStatus === undefined ? '' : `HTTP ${httpStatus}`,
    e.error_subcode === undefined ? '' : `subcode ${e.error_subcode}`,
    e.fbtrace_id ? `fbtrace_id ${e.fbtrace_id}` : '',
  ].filter(Boolean);
  return `${parts.join(': ')}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

export function metaErrorOutcome(e: MetaGraphError, httpStatus?: number): Extract<SendOutcome, { kind: 'error' }> {
  const known = knownMetaAction(e.code);
  const detail = describeGraphError(e, httpStatus);
  const outcome: Extract<SendOutcome, { kind: 'error' }> = {
    kind: 'error',
    action: known ?? 'permanent',
    code: String(e.code),
    detail: known ? detail : `${detail}; code ${e.code} is not in herald's table, treated as permanent`,
  };
  if (e.code === META_OPTED_OUT_CODE) outcome.optedOut = true;
  if (e.code === 131057) outcome.pauseSenderMs = MAINTENANCE_PAUSE_MS;
  if (e.code === 131049) outcome.retryAfterMs = DEFER_MS;
  return outcome;
}

/**
 * The answer to a send: Meta's error body decides whatever the HTTP status; what the transport
 * says (resets, timeouts, 5xx without a body, HTML from a proxy, redirects) is http.ts's call.
 */
export function metaSendOutcome(r: HttpOutcome): SendOutcome {
  const error = r.kind === 'response' ? graphError(r.json) : null;
  if (error && r.kind === 'response') return metaErrorOutcome(error, r.status);
  const generic = genericOutcome(r);
  if (generic) return generic;
  if (r.kind !== 'response') return { kind: 'unknown', detail: r.detail }; // genericOutcome took these
  const { status } = r;
  const message = (r.json as MetaSendResponse).messages?.[0];
  const ok = status >= 200 && status < 300;
  if (ok && typeof message?.id === 'string' && message.id) {
    return { kind: 'accepted', providerMessageId: message.id, detail: message.message_status ?? 'accepted' };
  }
  const snippet = r.text.replace(/\s+/g, ' ').trim().slice(0, 200);
  // JSON that is neither an acceptance nor a Graph error. A 2xx may have been accepted: never resend blindly.
  if (ok) return { kind: 'unknown', detail: `HTTP ${status} without a message id: ${snippet}` };
  const code = `http:${status}`;
  if (status === 401 || status === 403) return { kind: 'error', action: 'abort', code, detail: snippet };
  return { kind: 'error', action: status >= 500 ? 'retry' : 'permanent', code, detail: snippet };
}

/** A Graph API call outside sending (template listing) failed: machine-readable fields, exit 1. */
export class MetaApiError extends HeraldError {
  readonly exitCode = 1 as const;
  constructor(message: string, readonly code: string, readonly action: ErrorAction, readonly httpStatus?: number) {
    super(message);
    this.name = 'MetaApiError';
  }
}
