/**
 * A rendered message as the Cloud API request body: a template with header, body and button
 * components, or free-form text inside the 24 h window. Meta's limits are checked here too, so a
 * message that would be refused never leaves (render checks them first with the row's column).
 */
import type { OutboundMessage } from '../provider.js';
import { overLimit, TEXT_LIMITS } from '../text-length.js';
import type { ButtonParam, HeaderParam, TemplateParam } from '../../types.js';
import { isBsuid } from '../../util/bsuid.js';
import type { MetaComponent, MetaParameter, MetaSendRequest } from './meta.wire.js';

export const META_LIMITS = { ...TEXT_LIMITS, callbackData: 512 } as const;

/** A message Meta would refuse: which part, which limit. Becomes the row's outcome, never a crash. */
export class MetaPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetaPayloadError';
  }
}

export function metaRequestBody(msg: OutboundMessage): MetaSendRequest {
  const envelope = {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    // A BSUID goes in `recipient`, whole; a number in `to`, E.164 with its '+' (without it Meta
    // may read the number in the sender's country).
    ...(isBsuid(msg.recipient) ? { recipient: msg.recipient } : { to: msg.recipient }),
    biz_opaque_callback_data: checkLength(msg.sendId, META_LIMITS.callbackData, 'callback data (send id)'),
  } as const;
  const { message } = msg;
  if (message.text !== undefined) {
    return { ...envelope, type: 'text', text: { body: checkLength(message.text, META_LIMITS.freeText, 'free text'), preview_url: false } };
  }
  const components: MetaComponent[] = [];
  if (message.header) components.push({ type: 'header', parameters: [headerParameter(message.header)] });
  if (message.body.length > 0) components.push({ type: 'body', parameters: message.body.map(bodyParameter) });
  for (const button of [...message.buttons].sort((a, b) => a.index - b.index)) components.push(buttonComponent(button));
  return {
    ...envelope,
    type: 'template',
    template: {
      name: message.template.name,
      language: { code: message.template.language },
      ...(components.length > 0 ? { components } : {}),
    },
  };
}

function named(name: string | undefined): { parameter_name?: string } {
  return name === undefined ? {} : { parameter_name: name };
}

function headerParameter(h: HeaderParam): MetaParameter {
  switch (h.kind) {
    case 'text':
      return { type: 'text', ...named(h.name), text: checkLength(h.text, META_LIMITS.headerText, 'header text') };
    case 'image':
      return { type: 'image', image: { link: h.link } };
    case 'video':
      return { type: 'video', video: { link: h.link } };
    case 'document':
      return { type: 'document', document: { link: h.link } };
  }
}

function bodyParameter(p: TemplateParam, i: number): MetaParameter {
  const label = `body parameter ${p.name ?? i + 1}`;
  switch (p.kind) {
    case 'text':
      return { type: 'text', ...named(p.name), text: checkLength(p.text, META_LIMITS.bodyParam, label) };
    case 'currency':
      return { type: 'currency', ...named(p.name), currency: { fallback_value: checkLength(p.text, META_LIMITS.bodyParam, label), code: p.code, amount_1000: p.amount1000 } };
    case 'date_time':
      return { type: 'date_time', ...named(p.name), date_time: { fallback_value: checkLength(p.text, META_LIMITS.bodyParam, label) } };
  }
}

function buttonComponent(b: ButtonParam): MetaComponent {
  return b.kind === 'url'
    ? { type: 'button', sub_type: 'url', index: String(b.index), parameters: [{ type: 'text', text: b.text }] }
    : { type: 'button', sub_type: 'quick_reply', index: String(b.index), parameters: [{ type: 'payload', payload: b.payload }] };
}

function checkLength(text: string, limit: number, label: string): string {
  const tooLong = overLimit(label, text, limit);
  if (tooLong) throw new MetaPayloadError(tooLong);
  return text;
}
