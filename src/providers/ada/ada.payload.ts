/**
 * One rendered message → one ADA send body. ADA's API is not publicly documented: the field names
 * are configuration, with the values seen in public integration code as defaults (shared/reference).
 */
import type { AdaConfig } from '../../config/runtime.schema.js';
import type { OutboundMessage } from '../provider.js';

export type AdaBody = Record<string, unknown>;

/** `{platform, from, to, type: 'template', templateName, templateLang, templateData}` or `type: 'text'`. */
export function adaBody(msg: OutboundMessage, config: AdaConfig): { body: AdaBody } | { problem: string; everyRow?: boolean } {
  const { message } = msg;
  const base = { platform: config.platform, from: digits(msg.sender), to: digits(msg.recipient) };
  if (message.text !== undefined) {
    if (message.text.trim() === '') return { problem: 'message.text is empty' };
    return { body: { ...base, type: 'text', text: message.text } };
  }
  if (message.header || message.buttons.length > 0) {
    return { problem: 'the ada provider sends body parameters only: ADA\'s fields for header and button parameters are not public', everyRow: true };
  }
  for (const [i, p] of message.body.entries()) {
    if (p.text.trim() === '') return { problem: `message.body.${i} is empty` };
  }
  return {
    body: {
      ...base,
      type: 'template',
      [config.template_name_field]: message.template.name,
      [config.template_lang_field]: message.template.language,
      [config.template_data_field]: message.body.map((p) => p.text),
    },
  };
}

function digits(number: string): string {
  return number.replace(/[\s+\-().]/g, '');
}

/** `data.items.0.id` into a parsed JSON value; undefined when any step is missing. */
export function atPath(value: unknown, path: string): unknown {
  let at = value;
  for (const key of path.split('.')) {
    if (at === null || typeof at !== 'object') return undefined;
    at = Array.isArray(at) ? at[Number(key)] : (at as Record<string, unknown>)[key];
  }
  return at;
}
