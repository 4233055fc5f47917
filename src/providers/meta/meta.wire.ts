/**
 * Cloud API JSON as Meta writes it (reference: shared/reference/meta-cloud-api.md; Meta's
 * "Template components" and Messages API pages; whatsapp-api-js `src/messages/template.ts`;
 * pywa `types/named_parameter.py`). Only the fields herald sends or reads.
 */

/** A template parameter: header and body. `parameter_name` only for named-parameter templates. */
export type MetaParameter = { parameter_name?: string } & (
  | { type: 'text'; text: string }
  | { type: 'currency'; currency: { fallback_value: string; code: string; amount_1000: number } }
  | { type: 'date_time'; date_time: { fallback_value: string } }
  | { type: 'image'; image: { link: string } }
  | { type: 'video'; video: { link: string } }
  | { type: 'document'; document: { link: string } }
);

export type MetaComponent =
  | { type: 'header' | 'body'; parameters: MetaParameter[] }
  | { type: 'button'; sub_type: 'url'; index: string; parameters: [{ type: 'text'; text: string }] }
  | { type: 'button'; sub_type: 'quick_reply'; index: string; parameters: [{ type: 'payload'; payload: string }] };

type MetaEnvelope = {
  messaging_product: 'whatsapp';
  recipient_type: 'individual';
  /** ≤ 512 chars, echoed in status webhooks: herald's send id. */
  biz_opaque_callback_data: string;
} & (
  | { to: string }
  /** A business-scoped user id (`US.1349…`, docs/providers/meta-2026.md §1); Meta takes `to` when both are given. */
  | { recipient: string }
);

export type MetaSendRequest = MetaEnvelope & (
  | { type: 'template'; template: { name: string; language: { code: string }; components?: MetaComponent[] } }
  | { type: 'text'; text: { body: string; preview_url: boolean } }
);

/** HTTP 200: accepted (not delivered). */
export interface MetaSendResponse {
  messaging_product?: string;
  /** `wa_id` when sent to a phone, `user_id` when sent to a BSUID. */
  contacts?: { input?: string; wa_id?: string; user_id?: string }[];
  /** `message_status`: `accepted` or `held_for_quality_assessment`. */
  messages?: { id?: string; message_status?: string }[];
}

/** Every Graph API error: decide on `code`, never on the HTTP status. */
export interface MetaGraphError {
  message?: string;
  type?: string;
  code: number;
  /** Deprecated by Meta; kept for the detail text only. */
  error_subcode?: number;
  error_data?: { messaging_product?: string; details?: string };
  fbtrace_id?: string;
}

/** `GET /{waba-id}/message_templates` (Business Management API). */
export interface MetaTemplateList {
  data?: MetaTemplate[];
  paging?: { cursors?: { before?: string; after?: string }; next?: string };
}

export interface MetaTemplate {
  id?: string;
  name: string;
  language: string;
  status: string;
  category?: string;
  /** GREEN, YELLOW, RED or UNKNOWN. */
  quality_score?: { score?: string };
  /** `NAMED` or `POSITIONAL` (the default when absent). */
  parameter_format?: string;
  components?: MetaTemplateComponent[];
}

export interface MetaTemplateComponent {
  /** HEADER, BODY, FOOTER, BUTTONS (upper case in listings). */
  type: string;
  /** HEADER: TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION. */
  format?: string;
  text?: string;
  example?: {
    header_text?: string[];
    header_text_named_params?: { param_name: string; example?: string }[];
    body_text?: string[][];
    body_text_named_params?: { param_name: string; example?: string }[];
  };
  buttons?: { type: string; text?: string; url?: string; example?: string[] }[];
}
