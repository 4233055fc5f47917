/**
 * Infobip WhatsApp wire shapes, as the official SDKs name them (infobip-api-java-client
 * `WhatsAppMessage`, `WhatsAppTemplateDataContent`, `WhatsAppTemplate*HeaderContent`,
 * `WhatsAppTemplate*ButtonContent`, `UrlOptions`, `ApiError`, `WhatsAppTemplateApiResponse`;
 * infobip-api-python-sdk test fixtures for the responses).
 */

export const PATHS = {
  template: '/whatsapp/1/message/template',
  text: '/whatsapp/1/message/text',
  templates: (sender: string) => `/whatsapp/2/senders/${encodeURIComponent(sender)}/templates`,
  balance: '/account/1/balance',
  shareWaba: '/whatsapp/1/embedded-signup/registrations/share-waba',
} as const;

/** `UrlOptions`: shortening and click tracking of the URLs in a message. */
export interface UrlOptions {
  shortenUrl?: boolean;
  trackClicks?: boolean;
  trackingUrl?: string;
  removeProtocol?: boolean;
  customDomain?: string;
}

/** `WhatsAppTemplate{Text,Image,Video,Document}HeaderContent` (LOCATION is not rendered by herald). */
export type TemplateHeader =
  | { type: 'TEXT'; placeholder: string }
  | { type: 'IMAGE' | 'VIDEO'; mediaUrl: string }
  | { type: 'DOCUMENT'; mediaUrl: string; filename: string };

/** `WhatsAppTemplate{Url,QuickReply}ButtonContent`: listed in the template's button order. */
export interface TemplateButton {
  type: 'URL' | 'QUICK_REPLY';
  parameter: string;
}

/** `WhatsAppTemplateDataContent`. */
export interface TemplateData {
  body: { placeholders: string[] };
  header?: TemplateHeader;
  buttons?: TemplateButton[];
}

/** What every outbound message carries besides its content (`WhatsAppMessage`). */
interface Envelope {
  from: string;
  /** Digits, international format, no `+`. */
  to: string;
  /** Ours to choose (≤ 100 chars): herald's send id, so reports join without a lookup. */
  messageId: string;
  callbackData?: string;
  notifyUrl?: string;
}

export interface TemplateMessage extends Envelope {
  content: { templateName: string; templateData: TemplateData; language: string };
  urlOptions?: UrlOptions;
}

export interface TextMessage extends Envelope {
  content: { text: string };
}

/** `{ messages: [...] }` of POST /whatsapp/1/message/template. */
export interface TemplateRequest {
  messages: TemplateMessage[];
}

/** Status object of a send answer or a report. */
export interface MessageStatus {
  groupId?: number;
  groupName?: string;
  id?: number;
  name?: string;
  description?: string;
}

/** One message of a send answer (the text endpoint answers with one of these, unwrapped). */
export interface MessageInfo {
  to?: string;
  messageCount?: number;
  messageId?: string;
  status?: MessageStatus;
}

export interface BulkResponse {
  bulkId?: string;
  messages: MessageInfo[];
}

/** The older error shape: `{ requestError: { serviceException: … } }`. */
export interface ServiceException {
  messageId?: string;
  text?: string;
  validationErrors?: Record<string, string[] | string>;
}

/** The newer error shape (`ApiError`). */
export interface ApiError {
  errorCode?: string;
  description?: string;
  action?: string;
  violations?: { property?: string; violation?: string }[];
  resources?: { name?: string; value?: string }[];
}

/** `WhatsAppTemplateApiResponse` (v2); v1 answers had `structure.body` as a plain string. */
export interface TemplateInfo {
  id?: string;
  businessAccountId?: number;
  name?: string;
  language?: string;
  status?: string;
  category?: string;
  /** Infobip's own scale (e.g. HIGH), not Meta's GREEN/YELLOW/RED. */
  quality?: string;
  structure?: {
    header?: { format?: string; text?: string };
    body?: string | { text?: string; examples?: string[] };
    footer?: string | { text?: string };
    buttons?: { type?: string; text?: string; url?: string }[];
    type?: string;
  };
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A send answer's `messages[]`, or null when the body is not one. */
export function asBulkResponse(json: unknown): BulkResponse | null {
  if (!isObject(json) || !Array.isArray(json.messages)) return null;
  return { ...(typeof json.bulkId === 'string' ? { bulkId: json.bulkId } : {}), messages: json.messages.filter(isObject) as MessageInfo[] };
}
