/**
 * The meta adapter over undici's MockAgent (no network): the request it makes (path, headers,
 * exact JSON), how each answer becomes an outcome, template listing across pages, credential
 * checks, and its construction from the runtime config.
 */
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/config/job.schema.js';
import { MetaConfigSchema, RuntimeConfigSchema } from '../../src/config/runtime.schema.js';
import { ConfigError } from '../../src/errors.js';
import { MetaApiError } from '../../src/providers/meta/meta.errors.js';
import { MetaProvider } from '../../src/providers/meta/meta.provider.js';
import type { OutboundMessage } from '../../src/providers/provider.js';
import type { TemplateMessage } from '../../src/types.js';
import { createProvider } from '../../src/providers/registry.js';
import { EXPIRED_TOKEN_BODY, RATE_LIMIT_BODY, UNDELIVERABLE_BODY } from '../support/fake-meta.js';

const ORIGIN = 'https://graph.facebook.com';
const PHONE_ID = '106540352242922';
const SEND_PATH = `/v24.0/${PHONE_ID}/messages`;

const outbound = (message: Partial<TemplateMessage> | { text: string } = {}): OutboundMessage => ({
  sendId: 'send-1',
  recipient: '+12015550100',
  sender: PHONE_ID,
  attempt: 1,
  message: 'text' in message && message.text !== undefined
    ? { text: message.text, body: [], buttons: [] }
    : { template: { name: 'welcome_back', language: 'ja' }, body: [{ kind: 'text', text: 'Aiko' }], buttons: [], ...(message as Partial<TemplateMessage>) },
});

const success = (status = 'accepted') => ({
  messaging_product: 'whatsapp',
  contacts: [{ input: '+12015550100', wa_id: '12015550100' }],
  messages: [{ id: 'wamid.HBgLMTIwMTU1NTAxMDAVAgARGBI', message_status: status }],
});

interface Captured { path: string; method: string; headers: Record<string, string>; body: unknown }

describe('MetaProvider', () => {
  let agent: MockAgent;
  let captured: Captured[];
  const provider = (extra: Record<string, unknown> = {}, phoneNumberId?: string) =>
    new MetaProvider(MetaConfigSchema.parse({ access_token: 'EAAtest', waba_id: '102290129340398', ...extra }), { configFile: 'config/herald.yaml', phoneNumberId, dispatcher: agent });

  /** Answers the next request on `path` with this status and body, and records what was sent. */
  const answer = (path: string | ((p: string) => boolean), statusCode: number, data?: object | string, headers: Record<string, string> = {}, method = 'POST') => {
    agent.get(ORIGIN).intercept({ path, method }).reply((opts) => {
      captured.push({
        path: opts.path,
        method: opts.method,
        headers: Object.fromEntries(Object.entries(opts.headers as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v])),
        body: opts.body ? JSON.parse(String(opts.body)) as unknown : undefined,
      });
      return { statusCode, ...(data === undefined ? {} : { data }), responseOptions: { headers } };
    });
  };

  beforeEach(() => {
    agent = new MockAgent();
    agent.disableNetConnect();
    captured = [];
  });
  afterEach(async () => {
    agent.assertNoPendingInterceptors();
    await agent.close();
  });

  describe('send', () => {
    it('POSTs the template to /{version}/{phone-number-id}/messages with the bearer token', async () => {
      answer(SEND_PATH, 200, success());
      const outcome = await provider().send(outbound({
        header: { kind: 'image', link: 'https://cdn.example.com/banner.png' },
        buttons: [{ index: 0, kind: 'url', text: 'c/X7Q2' }],
      }));
      expect(outcome).toEqual({ kind: 'accepted', providerMessageId: 'wamid.HBgLMTIwMTU1NTAxMDAVAgARGBI', detail: 'accepted' });
      expect(captured).toHaveLength(1);
      expect(captured[0]!.headers).toMatchObject({ authorization: 'Bearer EAAtest', 'content-type': 'application/json', accept: 'application/json' });
      expect(captured[0]!.body).toEqual({
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to: '+12015550100',
        biz_opaque_callback_data: 'send-1',
        type: 'template',
        template: {
          name: 'welcome_back',
          language: { code: 'ja' },
          components: [
            { type: 'header', parameters: [{ type: 'image', image: { link: 'https://cdn.example.com/banner.png' } }] },
            { type: 'body', parameters: [{ type: 'text', text: 'Aiko' }] },
            { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'c/X7Q2' }] },
          ],
        },
      });
    });

    it('sends free-form text when the message carries text', async () => {
      answer(SEND_PATH, 200, success());
      await provider().send(outbound({ text: 'Your parcel left the warehouse.' }));
      expect(captured[0]!.body).toEqual({
        messaging_product: 'whatsapp', recipient_type: 'individual', to: '+12015550100', biz_opaque_callback_data: 'send-1',
        type: 'text', text: { body: 'Your parcel left the warehouse.', preview_url: false },
      });
    });

    it('keeps held_for_quality_assessment visible as the detail', async () => {
      answer(SEND_PATH, 200, success('held_for_quality_assessment'));
      expect(await provider().send(outbound())).toMatchObject({ kind: 'accepted', detail: 'held_for_quality_assessment' });
    });

    it('decides on error.code, whatever the HTTP status', async () => {
      answer(SEND_PATH, 400, RATE_LIMIT_BODY);
      answer(SEND_PATH, 401, EXPIRED_TOKEN_BODY);
      answer(SEND_PATH, 400, UNDELIVERABLE_BODY);
      answer(SEND_PATH, 200, { error: { message: '(#131049) not delivered to maintain healthy ecosystem engagement', code: 131049, fbtrace_id: 'X' } });
      answer(SEND_PATH, 503, { error: { message: '(#131057) Account in maintenance mode', code: 131057 } });
      const p = provider();
      expect(await p.send(outbound())).toEqual({
        kind: 'error', action: 'slow_down', code: '130429',
        detail: '(#130429) Rate limit hit: Cloud API message throughput has been reached. (HTTP 400, subcode 2494055, fbtrace_id Az8or2yhqkZfEZ-_4Qn_Bam)',
      });
      expect(await p.send(outbound())).toMatchObject({ kind: 'error', action: 'abort', code: '190', detail: expect.stringMatching(/^Error validating access token: Session has expired.*\(HTTP 401, subcode 463, fbtrace_id A2hVQ8pXo3sJ0Fk1d7eVw9Z\)$/) });
      expect(await p.send(outbound())).toEqual({ kind: 'error', action: 'permanent', code: '131026', detail: '(#131026) Message undeliverable: Message Undeliverable. (HTTP 400, fbtrace_id AcMm3PY0QmhVu5S2yFd-cG2)' });
      expect(await p.send(outbound())).toMatchObject({ kind: 'error', action: 'defer', code: '131049', retryAfterMs: 86_400_000 });
      expect(await p.send(outbound())).toMatchObject({ kind: 'error', action: 'retry', code: '131057', pauseSenderMs: 60_000 });
    });

    it('an answer of 131050 (user stopped marketing messages) fails the row as an opt-out', async () => {
      answer(SEND_PATH, 400, { error: {
        message: '(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.',
        type: 'OAuthException', code: 131050, error_data: { messaging_product: 'whatsapp', details: 'User stopped marketing messages' }, fbtrace_id: 'AbCdEf1',
      } });
      expect(await provider().send(outbound())).toEqual({
        kind: 'error', action: 'permanent', code: '131050', optedOut: true,
        detail: '(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.: User stopped marketing messages (HTTP 400, fbtrace_id AbCdEf1)',
      });
    });

    it('leaves transport-level answers to http.ts: 5xx, 429, redirects, unreadable bodies', async () => {
      answer(SEND_PATH, 503, '');
      answer(SEND_PATH, 429, 'Too Many Requests', { 'retry-after': '2' });
      answer(SEND_PATH, 301, '', { location: 'https://example.com/' });
      answer(SEND_PATH, 200, '<html><body>Bad gateway</body></html>', { 'content-type': 'text/html' });
      answer(SEND_PATH, 200, '{"messaging_product":"whatsapp","contacts":[{"in');
      const p = provider();
      expect(await p.send(outbound())).toEqual({ kind: 'error', action: 'retry', code: 'http:503', detail: '(empty body)' });
      expect(await p.send(outbound())).toEqual({ kind: 'error', action: 'slow_down', code: 'http:429', detail: 'Too Many Requests', retryAfterMs: 2000 });
      expect(await p.send(outbound())).toMatchObject({ kind: 'error', action: 'fix_request', code: 'http:301', detail: expect.stringContaining('redirected to https://example.com/') });
      expect(await p.send(outbound())).toEqual({ kind: 'unknown', detail: 'HTTP 200 with an unreadable body: <html><body>Bad gateway</body></html>' });
      expect(await p.send(outbound())).toMatchObject({ kind: 'unknown', detail: expect.stringContaining('unreadable body') });
    });

    it('JSON that is neither an acceptance nor a Graph error', async () => {
      answer(SEND_PATH, 200, { messaging_product: 'whatsapp', messages: [] });
      answer(SEND_PATH, 401, { message: 'unauthorized' });
      answer(SEND_PATH, 404, { message: 'no such route' });
      const p = provider();
      expect(await p.send(outbound())).toEqual({ kind: 'unknown', detail: 'HTTP 200 without a message id: {"messaging_product":"whatsapp","messages":[]}' });
      expect(await p.send(outbound())).toMatchObject({ kind: 'error', action: 'abort', code: 'http:401' });
      expect(await p.send(outbound())).toMatchObject({ kind: 'error', action: 'permanent', code: 'http:404' });
    });

    it('network failures: refused before sending is retried, anything later is unknown', async () => {
      agent.get(ORIGIN).intercept({ path: SEND_PATH, method: 'POST' }).replyWithError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
      agent.get(ORIGIN).intercept({ path: SEND_PATH, method: 'POST' }).replyWithError(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
      const p = provider();
      expect(await p.send(outbound())).toMatchObject({ kind: 'error', action: 'retry', code: 'network' });
      expect(await p.send(outbound())).toMatchObject({ kind: 'unknown', detail: expect.stringContaining('UND_ERR_SOCKET') });
    });

    it('a message over Meta\'s limits fails that row (invalid_row, the run goes on) without a request', async () => {
      expect(await provider().send(outbound({ text: 'x'.repeat(4097) }))).toEqual({
        kind: 'error', action: 'invalid_row', code: 'payload_limit', detail: "free text is 4097 UTF-16 units; the provider's limit is 4096",
      });
      expect(captured).toHaveLength(0);
    });

    it('uses the configured base URL and graph version', async () => {
      agent.get('http://127.0.0.1:9999').intercept({ path: `/meta/v25.0/${PHONE_ID}/messages`, method: 'POST' }).reply(200, success());
      expect(await provider({ base_url: 'http://127.0.0.1:9999/meta', graph_version: 'v25.0' }).send(outbound())).toMatchObject({ kind: 'accepted' });
    });
  });

  describe('listTemplates', () => {
    const templatesPath = (p: string) => p.startsWith('/v24.0/102290129340398/message_templates?');

    it('follows paging.cursors.after while paging.next is present and maps every component', async () => {
      answer(templatesPath, 200, {
        data: [
          {
            name: 'welcome_back', language: 'ja', status: 'APPROVED', category: 'MARKETING', id: '1',
            components: [
              { type: 'HEADER', format: 'IMAGE', example: { header_handle: ['https://…'] } },
              { type: 'BODY', text: 'こんにちは {{1}} さん、{{2}} ポイント。{{1}} さん', example: { body_text: [['Aiko', '1,200']] } },
              { type: 'FOOTER', text: 'Reply STOP to opt out' },
              { type: 'BUTTONS', buttons: [{ type: 'URL', text: 'Coupon', url: 'https://shop.example.com/{{1}}', example: ['https://shop.example.com/c/1'] }, { type: 'QUICK_REPLY', text: 'Stop promotions' }] },
            ],
          },
        ],
        paging: { cursors: { before: 'QVFIUb', after: 'QVFIUa' }, next: 'https://graph.facebook.com/v24.0/102290129340398/message_templates?after=QVFIUa' },
      }, {}, 'GET');
      answer(templatesPath, 200, {
        data: [
          {
            name: 'order_update', language: 'en_US', status: 'PAUSED', category: 'UTILITY', parameter_format: 'NAMED',
            components: [
              { type: 'HEADER', format: 'TEXT', text: 'Order {{order_id}}', example: { header_text_named_params: [{ param_name: 'order_id', example: 'A-1' }] } },
              { type: 'BODY', text: 'Hi {{first_name}}, {{order_id}} ships {{ship_date}}.', example: { body_text_named_params: [{ param_name: 'first_name', example: 'Jo' }] } },
              { type: 'BUTTONS', buttons: [{ type: 'URL', text: 'Help', url: 'https://shop.example.com/help' }, { type: 'PHONE_NUMBER', text: 'Call', phone_number: '+15550001234' }] },
            ],
          },
          { name: 'bare', language: 'en', status: 'REJECTED', components: [{ type: 'BODY', text: 'Hello' }] },
        ],
        paging: { cursors: { before: 'QVFIUa', after: 'QVFIUc' } },
      }, {}, 'GET');

      expect(await provider().listTemplates()).toEqual([
        {
          name: 'welcome_back', language: 'ja', status: 'APPROVED', category: 'MARKETING',
          header: { format: 'IMAGE', parameters: 1, named: [] },
          body: { parameters: 2, named: [] },
          buttons: [{ index: 0, type: 'URL', dynamic: true }, { index: 1, type: 'QUICK_REPLY', dynamic: true }],
        },
        {
          name: 'order_update', language: 'en_US', status: 'PAUSED', category: 'UTILITY',
          header: { format: 'TEXT', parameters: 1, named: ['order_id'] },
          body: { parameters: 3, named: ['first_name', 'order_id', 'ship_date'] },
          buttons: [{ index: 0, type: 'URL', dynamic: false }, { index: 1, type: 'PHONE_NUMBER', dynamic: false }],
        },
        { name: 'bare', language: 'en', status: 'REJECTED', body: { parameters: 0, named: [] }, buttons: [] },
      ]);
      const queries = captured.map((c) => Object.fromEntries(new URL(c.path, ORIGIN).searchParams));
      expect(queries).toEqual([
        { fields: 'name,language,status,category,quality_score,parameter_format,components', limit: '100' },
        { fields: 'name,language,status,category,quality_score,parameter_format,components', limit: '100', after: 'QVFIUa' },
      ]);
      expect(captured[0]!.headers.authorization).toBe('Bearer EAAtest');
    });

    it('a Graph error becomes a MetaApiError with the code and action', async () => {
      answer(templatesPath, 401, EXPIRED_TOKEN_BODY, {}, 'GET');
      const err = await provider().listTemplates().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MetaApiError);
      expect(err).toMatchObject({ code: '190', action: 'abort', httpStatus: 401, exitCode: 1 });
      expect((err as Error).message).toMatch(/^listing templates failed with Meta error 190: Error validating access token/);
    });

    it('needs the WABA id', async () => {
      const err = await provider({ waba_id: undefined }).listTemplates().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toEqual([expect.objectContaining({ file: 'config/herald.yaml', path: 'providers.meta.waba_id', message: expect.stringContaining('META_WABA_ID') })]);
    });
  });

  describe('checkCredentials', () => {
    it('reads the sending number when the job names it', async () => {
      answer(`/v24.0/${PHONE_ID}?fields=id,display_phone_number`, 200, { id: PHONE_ID, display_phone_number: '15550783881' }, {}, 'GET');
      expect(await provider({}, PHONE_ID).checkCredentials()).toEqual({ ok: true, detail: `phone number ${PHONE_ID} (15550783881) readable with this token, v24.0` });
    });

    it('else reads the WABA', async () => {
      answer('/v24.0/102290129340398?fields=id,name', 200, { id: '102290129340398', name: 'Shop' }, {}, 'GET');
      expect(await provider().checkCredentials()).toEqual({ ok: true, detail: 'WABA 102290129340398 (Shop) readable with this token, v24.0' });
    });

    it('reports a refused token, and says when there is nothing to check', async () => {
      answer('/v24.0/102290129340398?fields=id,name', 401, EXPIRED_TOKEN_BODY, {}, 'GET');
      expect(await provider().checkCredentials()).toMatchObject({ ok: false, detail: expect.stringMatching(/^Meta error 190: Error validating access token/) });
      expect(await provider({ waba_id: undefined }).checkCredentials()).toMatchObject({ ok: false, detail: expect.stringContaining('META_WABA_ID') });
    });
  });

  describe('construction', () => {
    it('refuses to start without an access token, naming META_ACCESS_TOKEN', () => {
      const build = () => new MetaProvider(MetaConfigSchema.parse({}), { configFile: 'config/herald.yaml' });
      expect(build).toThrow(ConfigError);
      expect(build).toThrow(/config\/herald\.yaml at providers\.meta\.access_token: META_ACCESS_TOKEN is not set/);
    });

    it('the registry builds it from the runtime config, with the job sender and the injected dispatcher', async () => {
      const config = RuntimeConfigSchema.parse({ providers: { meta: { access_token: 'EAAtest', rate_per_second: 50 } } });
      const message: Job['message'] = { provider: 'meta', sender: PHONE_ID, template: { name: 'welcome_back', language: 'ja' }, body: [], buttons: [] };
      const p = createProvider('meta', { config, file: 'herald.yaml', missing: [] }, { events: async () => {}, message, dispatcher: agent }, 'job.yaml');
      expect(p).toBeInstanceOf(MetaProvider);
      expect(p.defaultRatePerSecond).toBe(50);
      answer(`/v24.0/${PHONE_ID}?fields=id,display_phone_number`, 200, { id: PHONE_ID }, {}, 'GET');
      expect(await p.checkCredentials!()).toMatchObject({ ok: true });
      await p.close();
    });
  });
});
