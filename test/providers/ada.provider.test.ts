/**
 * The ADA adapter against undici MockAgent (no network): exact bodies for each job shape, the
 * configurable field names and message-id path, and every answer class.
 */
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobSchema } from '../../src/config/job.schema.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { RuntimeConfigSchema } from '../../src/config/runtime.schema.js';
import type { OutboundMessage, Provider, SendOutcome } from '../../src/providers/provider.js';
import { createProvider } from '../../src/providers/registry.js';
import { outbound } from '../support/fake-infobip.js';

const ORIGIN = 'https://bizmsgapi.ada-asia.com';

let agent: MockAgent;
let captured: { path: string; auth: string; body: unknown }[];

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  captured = [];
});
afterEach(() => agent.close());

function loaded(ada: Record<string, unknown> = {}): LoadedConfig {
  return { config: RuntimeConfigSchema.parse({ providers: { ada: { api_key: 'ada-key', ...ada } } }), file: 'herald.yaml', missing: [] };
}

function provider(ada: Record<string, unknown> = {}, message?: Record<string, unknown>): Provider {
  const jobMessage = message ? JobSchema.parse({
    name: 'ada_test', source: { query: 'SELECT 1' }, audience: { key: 'k', phone: 'p', default_region: 'MY', consent: 'c' },
    message: { provider: 'ada', sender: '60136959014', template: { name: 'promo', language: 'en' }, ...message },
  }).message : undefined;
  return createProvider('ada', loaded(ada), { events: async () => {}, dispatcher: agent, ...(jobMessage ? { message: jobMessage } : {}) }, 'jobs/ada.yaml');
}

/** Replies to the next POST on `path` with `status`/`data` and records what was sent. */
function answer(path: string, status: number, data: object | string = { messageId: 'ada-1' }, headers: Record<string, string> = {}) {
  agent.get(ORIGIN).intercept({ path, method: 'POST' }).reply((opts) => {
    captured.push({ path: opts.path, auth: (opts.headers as Record<string, string>).authorization!, body: JSON.parse(String(opts.body)) });
    return { statusCode: status, data, responseOptions: { headers } };
  });
}

async function send(msg: OutboundMessage, p = provider()): Promise<SendOutcome> {
  const outcome = await p.send(msg);
  await p.close();
  return outcome;
}

const ada = (over: Parameters<typeof outbound>[0] = {}) =>
  outbound({ sender: '60136959014', recipient: '+60 17-522 8785', ...over });

describe('ada payloads', () => {
  it('positional body: platform WA, Bearer auth, digits, templateName/Lang/Data', async () => {
    answer('/prod/message', 200);
    expect(await send(ada({ message: { template: { name: 'promo', language: 'en' }, body: [{ kind: 'text', text: 'Aiko' }, { kind: 'text', text: '1,200' }] } })))
      .toEqual({ kind: 'accepted', providerMessageId: 'ada-1' });
    expect(captured).toEqual([{
      path: '/prod/message', auth: 'Bearer ada-key',
      body: { platform: 'WA', from: '60136959014', to: '60175228785', type: 'template', templateName: 'promo', templateLang: 'en', templateData: ['Aiko', '1,200'] },
    }]);
  });

  it('named, currency and date parameters go as their text, in job order', async () => {
    answer('/prod/message', 200);
    await send(ada({ message: { body: [
      { kind: 'text', name: 'first_name', text: 'Aiko' },
      { kind: 'currency', name: 'amount', text: 'RM12.00', code: 'MYR', amount1000: 12_000 },
      { kind: 'date_time', name: 'until', text: '30 Apr 2026' },
    ] } }));
    expect(captured[0]!.body).toEqual({ platform: 'WA', from: '60136959014', to: '60175228785', type: 'template', templateName: 'welcome_back', templateLang: 'en_US', templateData: ['Aiko', 'RM12.00', '30 Apr 2026'] });
  });

  it('a template without parameters sends an empty templateData', async () => {
    answer('/prod/message', 200);
    await send(ada({ message: { body: [] } }));
    expect(captured[0]!.body).toEqual({ platform: 'WA', from: '60136959014', to: '60175228785', type: 'template', templateName: 'welcome_back', templateLang: 'en_US', templateData: [] });
  });

  it('free-form text: type text', async () => {
    answer('/prod/message', 200);
    await send(ada({ message: { text: 'Your parcel is on its way.' } }));
    expect(captured[0]!.body).toEqual({ platform: 'WA', from: '60136959014', to: '60175228785', type: 'text', text: 'Your parcel is on its way.' });
  });

  it('field names, path, platform and the message-id path are configuration', async () => {
    answer('/prod/v2/send', 201, { data: { messages: [{ id: 'wamid.XYZ' }] } });
    const p = provider({ send_path: '/v2/send', platform: 'WHATSAPP', template_name_field: 'template', template_lang_field: 'lang', template_data_field: 'params', message_id_path: 'data.messages.0.id' });
    expect(await send(ada(), p)).toEqual({ kind: 'accepted', providerMessageId: 'wamid.XYZ' });
    expect(captured[0]!.body).toEqual({ platform: 'WHATSAPP', from: '60136959014', to: '60175228785', type: 'template', template: 'welcome_back', lang: 'en_US', params: ['Aiko'] });
  });

  it('header and button parameters are refused: at config time for the job, per message otherwise; an empty value fails its row', async () => {
    expect(() => provider({}, { header: { image: { column: 'banner' } } })).toThrow(/jobs\/ada\.yaml at message\.header: the ada provider sends body parameters only/);
    expect(() => provider({}, { buttons: [{ index: 0, url_suffix: { column: 'c' } }] })).toThrow(/message\.buttons/);
    expect(await send(ada({ message: { buttons: [{ index: 0, kind: 'url', text: 'x' }] } }))).toMatchObject({ kind: 'error', action: 'fix_request', code: 'invalid_parameter' });
    expect(await send(ada({ message: { body: [{ kind: 'text', text: ' ' }] } }))).toEqual({ kind: 'error', action: 'invalid_row', code: 'invalid_parameter', detail: 'message.body.0 is empty' });
    expect(captured).toHaveLength(0);
  });

  it('names ADA_API_KEY when it is missing', () => {
    const noKey: LoadedConfig = { config: RuntimeConfigSchema.parse({}), file: 'herald.yaml', missing: [] };
    expect(() => createProvider('ada', noKey, { events: async () => {} }, 'j.yaml')).toThrow(/herald\.yaml at providers\.ada\.api_key: ADA_API_KEY is not set/);
    expect(provider().defaultRatePerSecond).toBe(5);
  });
});

describe('ada answers', () => {
  it.each([
    [401, { code: 'UNAUTHORIZED', message: 'invalid token' }, { kind: 'error', action: 'abort', code: 'UNAUTHORIZED', detail: 'HTTP 401: invalid token' }],
    [403, 'Forbidden', { kind: 'error', action: 'abort', code: 'http:403', detail: 'Forbidden' }],
    [400, { code: 'INVALID_NUMBER', message: 'to is not a WhatsApp number' }, { kind: 'error', action: 'permanent', code: 'INVALID_NUMBER', detail: 'HTTP 400: to is not a WhatsApp number' }],
    [422, { error: 'template not found' }, { kind: 'error', action: 'permanent', code: 'http:422', detail: 'HTTP 422: template not found' }],
    [500, { message: 'internal' }, { kind: 'error', action: 'retry', code: 'http:500', detail: 'HTTP 500: internal' }],
    [502, '<html>Bad Gateway</html>', { kind: 'error', action: 'retry', code: 'http:502', detail: '<html>Bad Gateway</html>' }],
    [200, '<html>maintenance</html>', { kind: 'unknown', detail: 'HTTP 200 with an unreadable body: <html>maintenance</html>' }],
    [200, { status: 'ok' }, { kind: 'accepted', providerMessageId: '', detail: 'no_message_id_at:messageId' }],
  ] as const)('HTTP %i %j', async (status, data, expected) => {
    answer('/prod/message', status, data as object | string);
    expect(await send(ada())).toEqual(expected);
  });

  it('429 slows down, with Retry-After when given', async () => {
    answer('/prod/message', 429, { message: 'rate limited' }, { 'retry-after': '1' });
    expect(await send(ada())).toEqual({ kind: 'error', action: 'slow_down', code: 'http:429', detail: 'HTTP 429: rate limited', retryAfterMs: 1000 });
  });

  it('a refused connection is retried; a timeout after sending is unknown', async () => {
    agent.get(ORIGIN).intercept({ path: '/prod/message', method: 'POST' }).replyWithError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    expect(await send(ada())).toMatchObject({ kind: 'error', action: 'retry', code: 'network' });
    agent.get(ORIGIN).intercept({ path: '/prod/message', method: 'POST' }).replyWithError(Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' }));
    expect(await send(ada())).toEqual({ kind: 'unknown', detail: 'UND_ERR_HEADERS_TIMEOUT: Headers Timeout Error' });
  });
});
