/**
 * Infobip answers → outcomes. Two layers: the HTTP answer as a whole (401/403 abort, 429 slow
 * down, 5xx and network retry, 400 fix the request; it applies to every message of the request),
 * then each message's status inside a 2xx (`REJECTED` comes back inside a 200).
 */
import { genericOutcome, retryAfterMs, type HttpOutcome } from '../http.js';
import type { ErrorAction, SendOutcome } from '../provider.js';
import { asBulkResponse, isObject, type ApiError, type MessageInfo, type ServiceException } from './infobip.wire.js';

/**
 * REJECTED statuses whose action is not `permanent` (Infobip "Response status and error codes":
 * status id, group 5 REJECTED, name, description).
 */
const REJECTED_ACTIONS: Record<string, ErrorAction> = {
  REJECTED_NOT_ENOUGH_CREDITS: 'abort', // 12
  REJECTED_PREPAID_PACKAGE_EXPIRED: 'abort', // 17
  REJECTED_ROUTE_NOT_AVAILABLE: 'abort', // 19
  REJECTED_SOURCE: 'abort', // 11
  REJECTED_SENDER: 'abort', // 13
  REJECTED_SYSTEM_ERROR: 'retry', // 21
  // 25 "Rejected message too long": this message's content, not the template's: the row fails.
  REJECTED_MESSAGE_TOO_LONG: 'invalid_row',
};

/**
 * Infobip's answer-time opt-out: 10 REJECTED_DND "Destination on DND list" (the recipient is on a
 * do-not-disturb list). The table is Infobip's general one; no WhatsApp-specific opt-out status
 * (an equivalent of Meta's 131050 in the send answer) could be found in its documentation or SDKs;
 * Infobip accepts first and learns Meta's answer later, so a 131050 presumably arrives in a report.
 */
const OPTED_OUT = new Set(['REJECTED_DND']);

/** Request problems that every message of a job would repeat. */
const FIX_REQUEST_STATUSES = new Set([400, 404, 405, 413, 415, 422]);

/** Code and human detail of either Infobip error shape, or null when the body is neither. */
export function describeError(json: unknown): { code: string; detail: string } | null {
  if (!isObject(json)) return null;
  const requestError = json.requestError;
  if (isObject(requestError) && isObject(requestError.serviceException)) {
    const e = requestError.serviceException as ServiceException;
    const fields = Object.entries(isObject(e.validationErrors) ? e.validationErrors : {})
      .map(([field, problems]) => `${field}: ${(Array.isArray(problems) ? problems : [problems]).join('; ')}`);
    return { code: str(e.messageId) ?? 'ERROR', detail: [str(e.text), ...fields].filter(Boolean).join(' — ') || '(no detail)' };
  }
  if (typeof json.errorCode === 'string') {
    const e = json as ApiError;
    const violations = (Array.isArray(e.violations) ? e.violations : []).filter(isObject)
      .map((v) => [str(v.property), str(v.violation)].filter(Boolean).join(': '));
    const action = str(e.action);
    return { code: e.errorCode!, detail: [str(e.description), ...violations, ...(action ? [`action: ${action}`] : [])].filter(Boolean).join(' — ') || '(no detail)' };
  }
  return null;
}

/**
 * What a whole request's answer means for each of its messages: an outcome, or null for a 2xx
 * with a JSON body whose messages are to be read one by one.
 */
export function requestOutcome(r: HttpOutcome): SendOutcome | null {
  if (r.kind !== 'response' || r.json === undefined || r.json === null || typeof r.json !== 'object' || (r.status >= 300 && r.status < 400)) {
    return genericOutcome(r);
  }
  const { status } = r;
  if (status >= 200 && status < 300) return null;
  const described = describeError(r.json) ?? { code: `http:${status}`, detail: snippet(r.text) };
  const error = (action: ErrorAction, extra: { retryAfterMs?: number } = {}): SendOutcome =>
    ({ kind: 'error', action, code: described.code, detail: `HTTP ${status}: ${described.detail}`, ...extra });
  const wait = retryAfterMs(r.headers);
  const after = wait === undefined ? {} : { retryAfterMs: wait };
  if (status === 401 || status === 403) return error('abort');
  if (status === 429) return error('slow_down', after);
  if (status >= 500 || status === 408) return error('retry', after);
  if (FIX_REQUEST_STATUSES.has(status)) return error('fix_request');
  return error('permanent');
}

/** One message's status inside a 2xx. */
export function messageOutcome(info: MessageInfo, fallbackId: string): SendOutcome {
  const s = isObject(info.status) ? info.status : {};
  const group = str(s.groupName)?.toUpperCase() ?? (s.groupId === 5 ? 'REJECTED' : s.groupId === 2 ? 'UNDELIVERABLE' : undefined);
  const name = str(s.name);
  const providerMessageId = str(info.messageId) ?? fallbackId;
  // Our messageId was already taken: an earlier attempt of this very send reached Infobip.
  if (name === 'REJECTED_DUPLICATE_MESSAGE_ID') return { kind: 'accepted', providerMessageId, detail: 'duplicate_message_id' };
  if (group === 'REJECTED' || group === 'UNDELIVERABLE') {
    return {
      kind: 'error', action: (name && REJECTED_ACTIONS[name]) || 'permanent', code: name ?? group, detail: str(s.description) ?? group,
      ...(name && OPTED_OUT.has(name) ? { optedOut: true } : {}),
    };
  }
  return { kind: 'accepted', providerMessageId };
}

/**
 * Each message of a template request its own outcome: matched by messageId, else by position
 * when the answer has as many messages and leaves the id out; a message the answer does not
 * mention may or may not have been taken.
 */
export function batchOutcomes(r: HttpOutcome, ids: readonly string[]): SendOutcome[] {
  const whole = requestOutcome(r);
  if (whole) return ids.map(() => whole);
  const json = (r as Extract<HttpOutcome, { kind: 'response' }>).json;
  const bulk = asBulkResponse(json);
  if (!bulk) return ids.map(() => ({ kind: 'unknown', detail: `HTTP ${statusOf(r)} without a messages[] list: ${snippet(textOf(r))}` }));
  const byId = new Map<string, MessageInfo[]>();
  for (const m of bulk.messages) {
    const id = str(m.messageId);
    if (id !== undefined) byId.set(id, [...(byId.get(id) ?? []), m]);
  }
  return ids.map((id, i) => {
    let info = byId.get(id)?.shift();
    const positional = bulk.messages[i];
    if (!info && bulk.messages.length === ids.length && positional && str(positional.messageId) === undefined) info = positional;
    return info ? messageOutcome(info, id) : { kind: 'unknown', detail: `HTTP ${statusOf(r)} answer has no status for message ${id}` };
  });
}

/** The text endpoint answers with one message, unwrapped (a `messages[]` list is read too). */
export function singleOutcome(r: HttpOutcome, id: string): SendOutcome {
  const whole = requestOutcome(r);
  if (whole) return whole;
  const json = (r as Extract<HttpOutcome, { kind: 'response' }>).json;
  if (asBulkResponse(json)) return batchOutcomes(r, [id])[0]!;
  if (isObject(json) && (json.status !== undefined || json.messageId !== undefined)) return messageOutcome(json as MessageInfo, id);
  return { kind: 'unknown', detail: `HTTP ${statusOf(r)} without a message status: ${snippet(textOf(r))}` };
}

/** For CLI and check messages: `401 UNAUTHORIZED: Invalid login details`. */
export function describeFailure(r: HttpOutcome): string {
  if (r.kind !== 'response') return r.detail;
  const d = describeError(r.json);
  return d ? `HTTP ${r.status} ${d.code}: ${d.detail}` : `HTTP ${r.status}: ${snippet(r.text)}`;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function snippet(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 200) || '(empty body)';
}

function statusOf(r: HttpOutcome): number {
  return r.kind === 'response' ? r.status : 0;
}

function textOf(r: HttpOutcome): string {
  return r.kind === 'response' ? r.text : '';
}
