/**
 * The exact JSON herald posts to Infobip for each job shape, captured at the transport (undici
 * MockAgent, no network): positional and named bodies, text / image / video / document headers,
 * URL and quick-reply buttons, urlOptions + notifyUrl + callbackData, free-form text.
 */
import { fixture as loadFixture } from '../support/fixtures.js';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobSchema, type Job } from '../../src/config/job.schema.js';
import { InfobipConfigSchema } from '../../src/config/runtime.schema.js';
import type { OutboundMessage, SendOutcome } from '../../src/providers/provider.js';
import { InfobipProvider, infobipHttp } from '../../src/providers/infobip/infobip.provider.js';
import { outbound, pendingStatus } from '../support/fake-infobip.js';

const ORIGIN = 'https://xyz123.api.infobip.com';
const fixture = (name: string) => loadFixture<Record<string, unknown>>(`infobip/${name}`);

interface Captured { path: string; headers: Record<string, string>; body: Record<string, unknown> }

let agent: MockAgent;
let captured: Captured[];

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  captured = [];
  const pool = agent.get(ORIGIN);
  for (const path of ['/whatsapp/1/message/template', '/whatsapp/1/message/text']) {
    pool.intercept({ path, method: 'POST' }).reply((opts) => {
      const body = JSON.parse(String(opts.body)) as Record<string, unknown>;
      captured.push({ path: opts.path, headers: opts.headers as Record<string, string>, body });
      const messages = (body.messages as { to: string; messageId: string }[] | undefined) ?? [body as { to: string; messageId: string }];
      const answers = messages.map((m) => ({ to: m.to, messageCount: 1, messageId: m.messageId, status: pendingStatus }));
      return { statusCode: 200, data: path.endsWith('text') ? answers[0]! : { messages: answers } };
    }).persist();
  }
});

afterEach(async () => {
  await agent.close();
});

function provider(message?: Job['message'], publicUrl?: string): InfobipProvider {
  const config = InfobipConfigSchema.parse({ base_url: ORIGIN, api_key: 'secret-key', batch_size: 1 });
  return new InfobipProvider(config, infobipHttp(config, 'test.yaml', agent), { ...(message ? { message } : {}), ...(publicUrl ? { publicUrl } : {}) });
}

function jobMessage(extra: Record<string, unknown> = {}): Job['message'] {
  return JobSchema.parse({
    name: 'payload_test',
    source: { query: 'SELECT 1' },
    audience: { key: 'k', phone: 'p', default_region: 'US', consent: 'c' },
    message: { provider: 'infobip', sender: '441134960000', template: { name: 'welcome_back', language: 'en_US' }, ...extra },
  }).message;
}

/** Sends one message and returns the one request body it produced. */
async function bodyOf(msg: OutboundMessage, p = provider()): Promise<{ outcome: SendOutcome; request: Captured }> {
  const outcome = await p.send(msg);
  await p.close();
  expect(captured).toHaveLength(1);
  return { outcome, request: captured[0]! };
}

/** Every message carries the send id twice: as messageId and in callbackData (JSON, so reports can tell it apart). */
const envelope = { from: '441134960000', to: '12015550100', messageId: 'send-0001', callbackData: '{"send_id":"send-0001"}' };

describe('infobip payloads', () => {
  it('positional body: placeholders in order, App auth, digits without +', async () => {
    const { outcome, request } = await bodyOf(outbound({ message: { body: [{ kind: 'text', text: 'Aiko' }, { kind: 'text', text: '1,200' }] } }));
    expect(request.path).toBe('/whatsapp/1/message/template');
    expect(request.headers.authorization).toBe('App secret-key');
    expect(request.body).toEqual({
      messages: [{ ...envelope, content: { templateName: 'welcome_back', templateData: { body: { placeholders: ['Aiko', '1,200'] } }, language: 'en_US' } }],
    });
    expect(outcome).toEqual({ kind: 'accepted', providerMessageId: 'send-0001' });
  });

  it('named body parameters go positionally in job order; text header as placeholder', async () => {
    const { request } = await bodyOf(outbound({
      message: {
        header: { kind: 'text', text: 'Spring sale' },
        body: [{ kind: 'text', name: 'first_name', text: 'Aiko' }, { kind: 'currency', name: 'amount', text: '¥1,200', code: 'JPY', amount1000: 1_200_000 }, { kind: 'date_time', name: 'until', text: 'Apr 30, 2026' }],
      },
    }));
    expect(request.body).toEqual({
      messages: [{ ...envelope, content: { templateName: 'welcome_back', language: 'en_US', templateData: {
        body: { placeholders: ['Aiko', '¥1,200', 'Apr 30, 2026'] },
        header: { type: 'TEXT', placeholder: 'Spring sale' },
      } } }],
    });
  });

  it.each([
    ['image', { type: 'IMAGE', mediaUrl: 'https://cdn.example.com/banner.png' }, 'https://cdn.example.com/banner.png'],
    ['video', { type: 'VIDEO', mediaUrl: 'https://cdn.example.com/clip.mp4' }, 'https://cdn.example.com/clip.mp4'],
    ['document', { type: 'DOCUMENT', mediaUrl: 'https://cdn.example.com/docs/Invoice%20042.pdf', filename: 'Invoice 042.pdf' }, 'https://cdn.example.com/docs/Invoice%20042.pdf'],
  ] as const)('%s header: mediaUrl (document: with its file name)', async (kind, header, link) => {
    const { request } = await bodyOf(outbound({ message: { header: { kind, link } } }));
    expect(request.body).toEqual({
      messages: [{ ...envelope, content: { templateName: 'welcome_back', language: 'en_US', templateData: { body: { placeholders: ['Aiko'] }, header } } }],
    });
  });

  it('URL and quick-reply buttons: parameters in button order, no index', async () => {
    const { request } = await bodyOf(outbound({
      message: { buttons: [{ index: 1, kind: 'quick_reply', payload: 'STOP' }, { index: 0, kind: 'url', text: 'c/AB12' }] },
    }));
    expect(request.body).toEqual({
      messages: [{ ...envelope, content: { templateName: 'welcome_back', language: 'en_US', templateData: {
        body: { placeholders: ['Aiko'] },
        buttons: [{ type: 'URL', parameter: 'c/AB12' }, { type: 'QUICK_REPLY', parameter: 'STOP' }],
      } } }],
    });
  });

  it('urlOptions, callbackData and notifyUrl: the shape of the shared request fixture', async () => {
    const expected = (fixture('send-template-request.json').messages as Record<string, unknown>[])[0]!;
    const message = jobMessage({
      template: { name: 'template_name', language: 'en_GB' },
      body: [{ column: 'v' }],
      infobip: {
        callback_data: 'Callback data',
        url_options: { shorten_url: true, track_clicks: true, tracking_url: 'https://example.com/click-report', remove_protocol: true },
      },
    });
    const { request } = await bodyOf(
      outbound({ sendId: 'a28dd97c-1ffb-4fcf-99f1-0b557ed381da', recipient: '+441134960001', message: { template: { name: 'template_name', language: 'en_GB' }, body: [{ kind: 'text', text: 'Placeholder Value 1' }] } }),
      provider(message, 'https://herald.example.com/'),
    );
    // The fixture's callbackData is the job's; herald sends it beside the send id.
    expect(request.body).toEqual({ messages: [{
      ...expected,
      callbackData: '{"send_id":"a28dd97c-1ffb-4fcf-99f1-0b557ed381da","data":"Callback data"}',
      notifyUrl: 'https://herald.example.com/webhooks/infobip',
    }] });
  });

  it('custom domain passes through as customDomain; no publicUrl, no notifyUrl', async () => {
    const message = jobMessage({ infobip: { url_options: { shorten_url: true, custom_domain: 'go.example.com' } } });
    const { request } = await bodyOf(outbound(), provider(message));
    expect(request.body).toEqual({
      messages: [{ ...envelope, content: { templateName: 'welcome_back', language: 'en_US', templateData: { body: { placeholders: ['Aiko'] } } },
        urlOptions: { shortenUrl: true, customDomain: 'go.example.com' } }],
    });
  });

  it('free-form text goes alone to the text endpoint', async () => {
    const { outcome, request } = await bodyOf(outbound({ message: { text: 'Your parcel left the warehouse.' } }), provider(jobMessage({ infobip: { callback_data: 'cb' } }), 'https://h.example.com'));
    expect(request.path).toBe('/whatsapp/1/message/text');
    expect(request.body).toEqual({
      from: '441134960000', to: '12015550100', messageId: 'send-0001', content: { text: 'Your parcel left the warehouse.' },
      callbackData: '{"send_id":"send-0001","data":"cb"}', notifyUrl: 'https://h.example.com/webhooks/infobip',
    });
    expect(outcome).toEqual({ kind: 'accepted', providerMessageId: 'send-0001' });
  });

  it('an empty placeholder or too-long text fails the row (invalid_row) before any request', async () => {
    const p = provider();
    expect(await p.send(outbound({ message: { body: [{ kind: 'text', text: 'Aiko' }, { kind: 'text', text: '  ' }] } }))).toEqual({
      kind: 'error', action: 'invalid_row', code: 'invalid_parameter',
      detail: 'message.body.1 is empty: Infobip placeholders and button parameters must be non-empty strings',
    });
    expect(await p.send(outbound({ message: { text: 'x'.repeat(4097) } }))).toEqual({
      kind: 'error', action: 'invalid_row', code: 'invalid_parameter', detail: "message.text is 4097 UTF-16 units; the provider's limit is 4096",
    });
    expect(await p.send(outbound({ message: { text: '😀'.repeat(2049) } }))).toEqual({ // 4,098 units
      kind: 'error', action: 'invalid_row', code: 'invalid_parameter', detail: "message.text is 4098 UTF-16 units; the provider's limit is 4096",
    });
    await p.close();
    expect(captured).toHaveLength(0);
  });

  it('job callback data too long to carry the send id beside it fails every row: fix_request', async () => {
    // 3,970 + the 33 characters of {"send_id":"send-0001","data":""} = 4,003 > Infobip's 4,000.
    const p = provider(jobMessage({ infobip: { callback_data: 'c'.repeat(3970) } }));
    expect(await p.send(outbound())).toEqual({
      kind: 'error', action: 'fix_request', code: 'invalid_parameter',
      detail: 'message.infobip.callback_data with the send id is 4003 characters: Infobip takes at most 4000',
    });
    await p.close();
    expect(captured).toHaveLength(0);
  });
});

describe('notifyUrl with a query secret', () => {
  it('carries the webhook secret when herald serve checks Infobip reports by query', async () => {
    const { jobExtras } = await import('../../src/providers/infobip/infobip.payload.js');
    expect(jobExtras(undefined, 'https://herald.example.com/', 's3cr&t')).toEqual({ notifyUrl: 'https://herald.example.com/webhooks/infobip?secret=s3cr%26t' });
    expect(jobExtras(undefined, 'https://herald.example.com')).toEqual({ notifyUrl: 'https://herald.example.com/webhooks/infobip' });
  });
});
