/**
 * Builders for webhook payloads in the vendors' documented shapes (Meta's webhook reference and
 * test/fixtures; Infobip's SDK models), signing, and an HTTP poster for a running `herald serve`.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const APP_SECRET = 'test-app-secret';
export const VERIFY_TOKEN = 'test-verify-token';
export const INFOBIP_SECRET = 'infobip-webhook-secret';
export const ADA_SECRET = 'ada-webhook-secret';
export const WABA_ID = '102290129340398';
export const PHONE_NUMBER_ID = '106540352242922';

export function fixture(path: string): string {
  return readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8');
}

export function signature(raw: string | Buffer, secret = APP_SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
}

export interface StatusSpec {
  id: string;
  status: string;
  timestamp: number | string;
  recipient: string;
  errors?: { code: number; title?: string; message?: string; error_data?: { details: string } }[];
  pricing?: boolean;
}

export function status(s: StatusSpec): Record<string, unknown> {
  return {
    id: s.id, status: s.status, timestamp: String(s.timestamp), recipient_id: s.recipient,
    ...(s.pricing ? { pricing: { billable: true, pricing_model: 'PMP', type: 'regular', category: 'marketing' } } : {}),
    ...(s.errors ? { errors: s.errors } : {}),
  };
}

export function messagesChange(value: Record<string, unknown>): Record<string, unknown> {
  return {
    field: 'messages',
    value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_NUMBER_ID }, ...value },
  };
}

/** `{ object, entry: [ { id, changes } … ] }`: one entry per list of changes. */
export function envelope(...entries: Record<string, unknown>[][]): Record<string, unknown> {
  return { object: 'whatsapp_business_account', entry: entries.map((changes) => ({ id: WABA_ID, changes })) };
}

export function inboundText(from: string, id: string, body: string, timestamp: number, context?: string): Record<string, unknown> {
  return { from, id, timestamp: String(timestamp), type: 'text', text: { body }, ...(context ? { context: { from: '15550783881', id: context } } : {}) };
}

export function buttonReply(from: string, id: string, text: string, payload: string, timestamp: number): Record<string, unknown> {
  return { from, id, timestamp: String(timestamp), type: 'button', button: { text, payload }, context: { from: '15550783881', id: 'wamid.template' } };
}

export interface Posted {
  status: number;
  text: string;
}

export async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Posted> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: res.status, text: await res.text() };
}

export async function postMeta(base: string, payload: unknown, secret = APP_SECRET): Promise<Posted> {
  const raw = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return post(`${base}/webhooks/meta`, raw, { 'x-hub-signature-256': signature(raw, secret) });
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
