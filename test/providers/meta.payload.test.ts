/**
 * Job → rendered row → Cloud API request body, asserted whole for each shape a job can take:
 * the exact JSON Meta receives (field names per Meta's template-components and messages pages,
 * whatsapp-api-js `src/messages/template.ts`, pywa `types/named_parameter.py`).
 */
import { describe, expect, it } from 'vitest';
import { JobSchema } from '../../src/config/job.schema.js';
import { rowRenderer } from '../../src/pipeline/render.js';
import { metaRequestBody, MetaPayloadError } from '../../src/providers/meta/meta.payload.js';
import type { RenderedMessage } from '../../src/types.js';

const SEND_ID = '0f3c2a9e8b7d6c5f4e3d2c1b0a998877';
const envelope = { messaging_product: 'whatsapp', recipient_type: 'individual', to: '+12015550100', biz_opaque_callback_data: SEND_ID };

/** Renders one row with the job's message section, as the pipeline does, then builds the body. */
function bodyFor(message: Record<string, unknown>, row: Record<string, unknown>) {
  const job = JobSchema.parse({
    name: 'payload_test',
    timezone: 'UTC',
    source: { query: 'SELECT 1' },
    audience: { key: 'id', phone: 'phone', default_region: 'US', consent: 'ok' },
    message: { provider: 'meta', sender: '106540352242922', template: { name: 'welcome_back', language: 'en_US' }, ...message },
  });
  const rendered = rowRenderer(job)(row);
  if (!('message' in rendered)) throw new Error(`row rejected: ${JSON.stringify(rendered.verdict)}`);
  return metaRequestBody({ sendId: SEND_ID, recipient: '+12015550100', sender: '106540352242922', message: rendered.message, attempt: 1 });
}

describe('meta request body', () => {
  it('positional text body', () => {
    expect(bodyFor({ body: [{ column: 'first_name' }, { column: 'points', type: 'number' }] }, { first_name: 'Aiko', points: 1200 })).toEqual({
      ...envelope,
      type: 'template',
      template: {
        name: 'welcome_back',
        language: { code: 'en_US' },
        components: [{ type: 'body', parameters: [{ type: 'text', text: 'Aiko' }, { type: 'text', text: '1,200' }] }],
      },
    });
  });

  it('named parameters carry parameter_name', () => {
    expect(bodyFor({ body: [{ name: 'first_name', column: 'first_name' }, { name: 'order_id', value: 'A-1' }] }, { first_name: 'Aiko' })).toEqual({
      ...envelope,
      type: 'template',
      template: {
        name: 'welcome_back',
        language: { code: 'en_US' },
        components: [{
          type: 'body',
          parameters: [{ type: 'text', parameter_name: 'first_name', text: 'Aiko' }, { type: 'text', parameter_name: 'order_id', text: 'A-1' }],
        }],
      },
    });
  });

  it('currency and date_time parameters, positional and named', () => {
    // A job's parameters are all named or all positional: each form of each type, built directly.
    const message: RenderedMessage = {
      template: { name: 'invoice', language: 'en_US' },
      body: [
        { kind: 'currency', text: '$1,234.50', code: 'USD', amount1000: 1_234_500 },
        { kind: 'date_time', name: 'due', text: 'Jan 5, 2026' },
      ],
      buttons: [],
    };
    expect(metaRequestBody({ sendId: SEND_ID, recipient: '+12015550100', sender: 's', message, attempt: 1 })).toEqual({
      ...envelope,
      type: 'template',
      template: {
        name: 'invoice',
        language: { code: 'en_US' },
        components: [{
          type: 'body',
          parameters: [
            { type: 'currency', currency: { fallback_value: '$1,234.50', code: 'USD', amount_1000: 1_234_500 } },
            { type: 'date_time', parameter_name: 'due', date_time: { fallback_value: 'Jan 5, 2026' } },
          ],
        }],
      },
    });
    // From a job: a currency column and a DATE column.
    expect(bodyFor({ body: [{ column: 'total', type: 'currency', currency: 'USD' }, { column: 'due', type: 'date' }] }, { total: '1234.5', due: '2026-01-05' })).toEqual({
      ...envelope,
      type: 'template',
      template: {
        name: 'welcome_back',
        language: { code: 'en_US' },
        components: [{
          type: 'body',
          parameters: [
            { type: 'currency', currency: { fallback_value: '$1,234.50', code: 'USD', amount_1000: 1_234_500 } },
            { type: 'date_time', date_time: { fallback_value: 'Jan 5, 2026' } },
          ],
        }],
      },
    });
  });

  it.each(['image', 'document', 'video'] as const)('%s header with a link', (kind) => {
    expect(bodyFor({ header: { [kind]: { column: 'media' } }, body: [{ column: 'first_name' }] }, { media: `https://cdn.example.com/a.${kind}`, first_name: 'Aiko' })).toEqual({
      ...envelope,
      type: 'template',
      template: {
        name: 'welcome_back',
        language: { code: 'en_US' },
        components: [
          { type: 'header', parameters: [{ type: kind, [kind]: { link: `https://cdn.example.com/a.${kind}` } }] },
          { type: 'body', parameters: [{ type: 'text', text: 'Aiko' }] },
        ],
      },
    });
  });

  it('named text header', () => {
    expect(bodyFor({ header: { text: { name: 'sale_name', column: 'sale' } }, body: [{ name: 'code', value: 'BF2026' }] }, { sale: 'Black Friday' })).toEqual({
      ...envelope,
      type: 'template',
      template: {
        name: 'welcome_back',
        language: { code: 'en_US' },
        components: [
          { type: 'header', parameters: [{ type: 'text', parameter_name: 'sale_name', text: 'Black Friday' }] },
          { type: 'body', parameters: [{ type: 'text', parameter_name: 'code', text: 'BF2026' }] },
        ],
      },
    });
  });

  it('url and quick-reply buttons, index as a string, in index order', () => {
    const buttons = [{ index: 1, quick_reply_payload: { column: 'stop' } }, { index: 0, url_suffix: { column: 'coupon' } }];
    expect(bodyFor({ buttons }, { coupon: 'c/X7Q2', stop: 'STOP_PROMOS' })).toEqual({
      ...envelope,
      type: 'template',
      template: {
        name: 'welcome_back',
        language: { code: 'en_US' },
        components: [
          { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'c/X7Q2' }] },
          { type: 'button', sub_type: 'quick_reply', index: '1', parameters: [{ type: 'payload', payload: 'STOP_PROMOS' }] },
        ],
      },
    });
  });

  it('a template without parameters has no components', () => {
    expect(bodyFor({}, {})).toEqual({ ...envelope, type: 'template', template: { name: 'welcome_back', language: { code: 'en_US' } } });
  });

  it('free-form text, without a link preview', () => {
    const message: RenderedMessage = { text: 'Thanks, your order ships today.', body: [], buttons: [] };
    expect(metaRequestBody({ sendId: SEND_ID, recipient: '+12015550100', sender: 's', message, attempt: 2 })).toEqual({
      ...envelope, type: 'text', text: { body: 'Thanks, your order ships today.', preview_url: false },
    });
  });

  it("refuses what Meta would refuse, naming the part and the limit", () => {
    const base = { template: { name: 'x', language: 'en' }, body: [], buttons: [] };
    const build = (message: RenderedMessage) => () => metaRequestBody({ sendId: SEND_ID, recipient: '+1', sender: 's', message, attempt: 1 });
    expect(build({ text: 'é'.repeat(4097), body: [], buttons: [] })).toThrow(new MetaPayloadError("free text is 4097 UTF-16 units; the provider's limit is 4096"));
    // Counted in UTF-16 units, as Meta may count them: 2,048 emoji are 4,096 units, one more is 4,098.
    expect(build({ text: '😀'.repeat(2048), body: [], buttons: [] })).not.toThrow();
    expect(build({ text: '😀'.repeat(2049), body: [], buttons: [] })).toThrow("free text is 4098 UTF-16 units; the provider's limit is 4096");
    expect(build({ ...base, header: { kind: 'text', text: 'x'.repeat(61) } })).toThrow("header text is 61 UTF-16 units; the provider's limit is 60");
    expect(build({ ...base, body: [{ kind: 'text', name: 'note', text: 'x'.repeat(1025) }] })).toThrow("body parameter note is 1025 UTF-16 units; the provider's limit is 1024");
    expect(build({ ...base, body: [{ kind: 'text', text: '😀'.repeat(513) }] })).toThrow("body parameter 1 is 1026 UTF-16 units; the provider's limit is 1024");
  });
});
