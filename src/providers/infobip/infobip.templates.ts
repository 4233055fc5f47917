/**
 * GET /whatsapp/2/senders/{sender}/templates → herald's one template shape. Infobip templates
 * number their placeholders ({{1}}, {{2}} …), so `named` is always empty.
 */
import type { ProviderTemplate } from '../provider.js';
import { isObject, type TemplateInfo } from './infobip.wire.js';

const HEADER_FORMATS = new Set(['TEXT', 'IMAGE', 'VIDEO', 'DOCUMENT', 'LOCATION']);
/** Buttons whose send carries a parameter (Infobip `WhatsAppTemplateDataContent.buttons`). */
const PARAMETER_BUTTONS = new Set(['QUICK_REPLY', 'COPY_CODE', 'FLOW']);

/** The `templates` list of the answer, or null when the body is not one. */
export function parseTemplates(json: unknown): ProviderTemplate[] | null {
  if (!isObject(json) || !Array.isArray(json.templates)) return null;
  return json.templates.filter(isObject).map((t) => toTemplate(t as TemplateInfo));
}

export function toTemplate(t: TemplateInfo): ProviderTemplate {
  const s = isObject(t.structure) ? t.structure : {};
  const bodyText = typeof s.body === 'string' ? s.body : isObject(s.body) && typeof s.body.text === 'string' ? s.body.text : '';
  const template: ProviderTemplate = {
    name: String(t.name ?? ''),
    language: String(t.language ?? ''),
    status: String(t.status ?? 'UNKNOWN'),
    ...(typeof t.category === 'string' ? { category: t.category } : {}),
    ...(typeof t.quality === 'string' ? { quality: t.quality } : {}),
    body: { parameters: placeholderCount(bodyText), named: [] },
    buttons: (Array.isArray(s.buttons) ? s.buttons : []).filter(isObject).map((b, index) => {
      const type = upperSnake(String(b.type ?? ''));
      const dynamic = PARAMETER_BUTTONS.has(type) || (type === 'URL' && typeof b.url === 'string' && placeholderCount(b.url) > 0);
      return { index, type, dynamic };
    }),
  };
  const format = isObject(s.header) ? String(s.header.format ?? '').toUpperCase() : '';
  if (HEADER_FORMATS.has(format)) {
    const text = isObject(s.header) && typeof s.header.text === 'string' ? s.header.text : '';
    template.header = { format: format as NonNullable<ProviderTemplate['header']>['format'], parameters: format === 'TEXT' ? placeholderCount(text) : 1, named: [] };
  }
  return template;
}

/** Distinct {{n}} placeholders in a text. */
export function placeholderCount(text: string): number {
  return new Set([...text.matchAll(/\{\{\s*(\d+)\s*\}\}/g)].map((m) => m[1])).size;
}

/** v1 answers spell button types in camelCase (`phoneNumber`), v2 in UPPER_SNAKE (`PHONE_NUMBER`). */
function upperSnake(type: string): string {
  return type.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}
