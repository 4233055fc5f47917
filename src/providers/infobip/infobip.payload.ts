/**
 * One rendered message → one Infobip message. Infobip's limits are enforced here, where the
 * payload is built, with a detail naming the parameter: placeholders and button parameters must be
 * non-empty strings, free-form text 1–4,096 UTF-16 units.
 */
import type { Job } from '../../config/job.schema.js';
import type { OutboundMessage } from '../provider.js';
import { overLimit, TEXT_LIMITS } from '../text-length.js';
import type { TemplateButton, TemplateHeader, TemplateMessage, TextMessage, UrlOptions } from './infobip.wire.js';

/** Infobip's limit on `callbackData` (its API reference and SDKs: string of 0–4,000 characters). */
const CALLBACK_DATA_MAX = 4000;

/** What every message of a job carries besides its content. */
export interface Extras {
  notifyUrl?: string;
  callbackData?: string;
  urlOptions?: UrlOptions;
}

/** A message that cannot be built: this row's data breaks an Infobip rule, or (`everyRow`) the job's does. */
export interface PayloadProblem {
  problem: string;
  everyRow?: boolean;
}

/**
 * `callbackData` of every message: herald's send id, and the job's own callback data beside it, as
 * JSON so a report's send id is never confused with the job's text. messageId carries the send id
 * too; callbackData keeps it where a report has no messageId of ours.
 */
function callbackData(sendId: string, jobData: string | undefined): string {
  return JSON.stringify(jobData === undefined ? { send_id: sendId } : { send_id: sendId, data: jobData });
}

/** The send id in a report's callbackData when herald wrote it, else null. */
export function sendIdOfCallbackData(value: unknown): string | null {
  if (typeof value !== 'string' || !value.startsWith('{')) return null;
  try {
    const parsed = JSON.parse(value) as unknown;
    const id = parsed !== null && typeof parsed === 'object' ? (parsed as { send_id?: unknown }).send_id : undefined;
    return typeof id === 'string' && id !== '' ? id : null;
  } catch {
    return null; // someone else's callback data
  }
}

/** From the job's `message.infobip` section and `HERALD_PUBLIC_URL`. */
/**
 * `querySecret`: when herald serve checks Infobip's reports by a secret in the query string
 * (webhook_auth: query), the per-message notifyUrl must carry it, since it has no other place.
 */
export function jobExtras(message: Job['message'] | undefined, publicUrl: string | undefined, querySecret?: string): Extras {
  const extras: Extras = {};
  if (publicUrl) {
    const url = `${publicUrl.replace(/\/+$/, '')}/webhooks/infobip`;
    extras.notifyUrl = querySecret ? `${url}?${new URLSearchParams({ secret: querySecret })}` : url;
  }
  const options = message?.infobip;
  if (options?.callback_data !== undefined) extras.callbackData = options.callback_data;
  const u = options?.url_options;
  if (u) {
    const urlOptions: UrlOptions = {
      ...(u.shorten_url !== undefined ? { shortenUrl: u.shorten_url } : {}),
      ...(u.track_clicks !== undefined ? { trackClicks: u.track_clicks } : {}),
      ...(u.tracking_url !== undefined ? { trackingUrl: u.tracking_url } : {}),
      ...(u.remove_protocol !== undefined ? { removeProtocol: u.remove_protocol } : {}),
      ...(u.custom_domain !== undefined ? { customDomain: u.custom_domain } : {}),
    };
    if (Object.keys(urlOptions).length > 0) extras.urlOptions = urlOptions;
  }
  return extras;
}

/** Infobip numbers are international digits without `+` (`+81 90-1234-5678` → `819012345678`). */
export function address(number: string): string {
  return number.replace(/[\s+\-().]/g, '');
}

export function templateMessage(msg: OutboundMessage, extras: Extras): TemplateMessage | PayloadProblem {
  const { message } = msg;
  if (!message.template) return { problem: 'a free-form text message has no template' };
  const envelope = envelopeExtras(msg.sendId, extras);
  if ('problem' in envelope) return envelope;
  const placeholders: string[] = [];
  // Infobip placeholders are positional: named parameters go in the job's order.
  for (const [i, p] of message.body.entries()) {
    if (isBlank(p.text)) return blank(`message.body.${i}${p.name ? ` "${p.name}"` : ''}`);
    placeholders.push(p.text);
  }
  let header: TemplateHeader | undefined;
  if (message.header) {
    const h = message.header;
    if (h.kind === 'text') {
      if (isBlank(h.text)) return blank('message.header.text');
      header = { type: 'TEXT', placeholder: h.text };
    } else {
      if (isBlank(h.link)) return blank(`message.header.${h.kind}`);
      header = h.kind === 'document'
        ? { type: 'DOCUMENT', mediaUrl: h.link, filename: filenameOf(h.link) }
        : { type: h.kind === 'image' ? 'IMAGE' : 'VIDEO', mediaUrl: h.link };
    }
  }
  const buttons: TemplateButton[] = [];
  // Infobip takes the parameterised buttons in the template's order, without an index.
  for (const b of [...message.buttons].sort((x, y) => x.index - y.index)) {
    const parameter = b.kind === 'url' ? b.text : b.payload;
    if (isBlank(parameter)) return blank(`message.buttons.${b.index}`);
    buttons.push({ type: b.kind === 'url' ? 'URL' : 'QUICK_REPLY', parameter });
  }
  return {
    from: address(msg.sender),
    to: address(msg.recipient),
    messageId: msg.sendId,
    content: {
      templateName: message.template.name,
      templateData: { body: { placeholders }, ...(header ? { header } : {}), ...(buttons.length > 0 ? { buttons } : {}) },
      language: message.template.language,
    },
    ...envelope,
    ...(extras.urlOptions ? { urlOptions: extras.urlOptions } : {}),
  };
}

export function textMessage(msg: OutboundMessage, extras: Extras): TextMessage | PayloadProblem {
  const text = msg.message.text ?? '';
  if (isBlank(text)) return blank('message.text');
  const tooLong = overLimit('message.text', text, TEXT_LIMITS.freeText);
  if (tooLong) return { problem: tooLong };
  const envelope = envelopeExtras(msg.sendId, extras);
  if ('problem' in envelope) return envelope;
  return { from: address(msg.sender), to: address(msg.recipient), messageId: msg.sendId, content: { text }, ...envelope };
}

function envelopeExtras(sendId: string, extras: Extras): (Required<Pick<TextMessage, 'callbackData'>> & Pick<TextMessage, 'notifyUrl'>) | PayloadProblem {
  const data = callbackData(sendId, extras.callbackData);
  if (data.length > CALLBACK_DATA_MAX) {
    return { problem: `message.infobip.callback_data with the send id is ${data.length} characters: Infobip takes at most ${CALLBACK_DATA_MAX}`, everyRow: true };
  }
  return { callbackData: data, ...(extras.notifyUrl !== undefined ? { notifyUrl: extras.notifyUrl } : {}) };
}

/** A document header needs a file name (required by Infobip): the URL's last path segment. */
export function filenameOf(link: string): string {
  try {
    const last = new URL(link).pathname.split('/').filter(Boolean).pop();
    if (last) return decodeURIComponent(last);
  } catch {
    // not a URL Infobip will accept either; it says so in its answer
  }
  return 'document.pdf';
}

function isBlank(value: string): boolean {
  return value.trim() === '';
}

function blank(what: string): PayloadProblem {
  return { problem: `${what} is empty: Infobip placeholders and button parameters must be non-empty strings` };
}
