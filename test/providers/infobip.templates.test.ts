/**
 * Template listing, credential checks, `herald infobip share-waba`, and the configuration errors
 * that name the variable to set — all against undici MockAgent, no network.
 */
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { infobipCommand } from '../../src/cli/infobip.command.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { InfobipConfigSchema, RuntimeConfigSchema } from '../../src/config/runtime.schema.js';
import { ConfigError, RunAbortedError } from '../../src/errors.js';
import { InfobipProvider, infobipHttp } from '../../src/providers/infobip/infobip.provider.js';
import { placeholderCount, parseTemplates } from '../../src/providers/infobip/infobip.templates.js';
import { createProvider } from '../../src/providers/registry.js';
import { UNAUTHORIZED_BODY } from '../support/fake-infobip.js';

const ORIGIN = 'https://xyz123.api.infobip.com';

let agent: MockAgent;
beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await agent.close();
});

function provider(over: Record<string, unknown> = {}, sender?: string): InfobipProvider {
  const config = InfobipConfigSchema.parse({ base_url: ORIGIN, api_key: 'k', ...over });
  const message = sender ? { sender } as never : undefined;
  return new InfobipProvider(config, infobipHttp(config, 'test.yaml', agent), message ? { message } : {});
}

const v2Templates = {
  templates: [
    {
      id: '111', businessAccountId: 222, name: 'welcome_back', language: 'en_US', status: 'APPROVED', category: 'MARKETING',
      structure: {
        header: { format: 'TEXT', text: 'Hi {{1}}' },
        body: { text: 'Hello {{1}}, you have {{2}} points until {{3}}.', examples: ['Aiko', '1,200', 'Apr 30'] },
        footer: { text: 'Reply STOP to opt out' },
        buttons: [{ type: 'URL', text: 'Coupon', url: 'https://shop.example.com/c/{{1}}' }, { type: 'QUICK_REPLY', text: 'Stop' }, { type: 'PHONE_NUMBER', text: 'Call' }],
        type: 'TEXT',
      },
      quality: 'HIGH',
    },
    // v1 shape (python SDK fixture): body as a string, camelCase button type
    {
      id: '112', businessAccountId: 222, name: 'exampleName', language: 'en', status: 'APPROVED', category: 'ACCOUNT_UPDATE',
      structure: { header: { format: 'IMAGE' }, body: 'example {{1}} body', footer: 'exampleFooter', type: 'MEDIA', buttons: [{ type: 'phoneNumber', text: 'phone', phoneNumber: '38598340098' }] },
    },
  ],
};

describe('infobip templates', () => {
  it('lists the sender\'s templates in herald\'s shape (v2 and v1 structures)', async () => {
    agent.get(ORIGIN).intercept({ path: '/whatsapp/2/senders/441134960000/templates', method: 'GET' }).reply(200, v2Templates);
    const p = provider({}, '+44 113 496 0000');
    expect(await p.listTemplates()).toEqual([
      {
        name: 'welcome_back', language: 'en_US', status: 'APPROVED', category: 'MARKETING', quality: 'HIGH',
        header: { format: 'TEXT', parameters: 1, named: [] },
        body: { parameters: 3, named: [] },
        buttons: [{ index: 0, type: 'URL', dynamic: true }, { index: 1, type: 'QUICK_REPLY', dynamic: true }, { index: 2, type: 'PHONE_NUMBER', dynamic: false }],
      },
      {
        name: 'exampleName', language: 'en', status: 'APPROVED', category: 'ACCOUNT_UPDATE',
        header: { format: 'IMAGE', parameters: 1, named: [] },
        body: { parameters: 1, named: [] },
        buttons: [{ index: 0, type: 'PHONE_NUMBER', dynamic: false }],
      },
    ]);
    await p.close();
  });

  it('takes the sender from the argument, else the job, else providers.infobip.sender; none is a ConfigError', async () => {
    agent.get(ORIGIN).intercept({ path: '/whatsapp/2/senders/15550009999/templates', method: 'GET' }).reply(200, { templates: [] });
    agent.get(ORIGIN).intercept({ path: '/whatsapp/2/senders/15550001111/templates', method: 'GET' }).reply(200, { templates: [] });
    const p = provider({ sender: '15550001111' });
    expect(await p.listTemplates('15550009999')).toEqual([]);
    expect(await p.listTemplates()).toEqual([]);
    await expect(provider().listTemplates()).rejects.toThrow(ConfigError);
    await expect(provider().listTemplates()).rejects.toThrow(/providers\.infobip\.sender/);
    await p.close();
  });

  it('a refused listing throws with Infobip\'s words', async () => {
    agent.get(ORIGIN).intercept({ path: '/whatsapp/2/senders/1555/templates', method: 'GET' }).reply(401, UNAUTHORIZED_BODY);
    await expect(provider().listTemplates('1555')).rejects.toThrow(new RunAbortedError('Infobip templates of sender 1555: HTTP 401 UNAUTHORIZED: Invalid login details'));
  });

  it('counts distinct numbered placeholders', () => {
    expect(placeholderCount('Hi {{1}}, {{2}} and {{1}} again, {{ 3 }}')).toBe(3);
    expect(placeholderCount('no placeholders')).toBe(0);
    expect(parseTemplates({ nope: true })).toBeNull();
  });
});

describe('infobip credentials', () => {
  it('checks with the template list when a sender is known, else the balance', async () => {
    agent.get(ORIGIN).intercept({ path: '/whatsapp/2/senders/441134960000/templates', method: 'GET' }).reply(200, v2Templates);
    agent.get(ORIGIN).intercept({ path: '/account/1/balance', method: 'GET' }).reply(200, { balance: 47.79, currency: 'EUR' });
    expect(await provider({}, '441134960000').checkCredentials()).toEqual({ ok: true, detail: '2 templates for sender 441134960000' });
    expect(await provider().checkCredentials()).toEqual({ ok: true, detail: 'balance 47.79 EUR' });
  });

  it('reports a refused key without throwing', async () => {
    agent.get(ORIGIN).intercept({ path: '/account/1/balance', method: 'GET' }).reply(401, UNAUTHORIZED_BODY);
    expect(await provider().checkCredentials()).toEqual({ ok: false, detail: 'GET /account/1/balance: HTTP 401 UNAUTHORIZED: Invalid login details' });
  });
});

describe('infobip configuration', () => {
  const loaded = (infobip: Record<string, unknown>): LoadedConfig => ({ config: RuntimeConfigSchema.parse({ providers: { infobip } }), file: 'config/herald.yaml', missing: [] });
  const create = (infobip: Record<string, unknown>) => createProvider('infobip', loaded(infobip), { events: async () => {} }, 'jobs/x.yaml');

  it('names INFOBIP_API_KEY and INFOBIP_BASE_URL when they are missing', () => {
    expect(() => create({ base_url: ORIGIN })).toThrow(/config\/herald\.yaml at providers\.infobip\.api_key: INFOBIP_API_KEY is not set/);
    expect(() => create({ api_key: 'k' })).toThrow(/providers\.infobip\.base_url: INFOBIP_BASE_URL is not set/);
  });

  it('accepts a bare host as the base URL, and uses the configured rate', async () => {
    const p = create({ api_key: 'k', base_url: 'xyz123.api.infobip.com', rate_per_second: 250 });
    expect(p.name).toBe('infobip');
    expect(p.defaultRatePerSecond).toBe(250);
    await p.close();
  });
});

describe('herald infobip share-waba', () => {
  const env = { INFOBIP_API_KEY: 'k', INFOBIP_BASE_URL: ORIGIN, HERALD_CONFIG: 'config/herald.yaml' };
  let out: string[];
  let err: string[];
  beforeEach(() => {
    out = [];
    err = [];
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  });

  it('posts {businessAccountId} and exits 0 on 202', async () => {
    let sent: unknown;
    agent.get(ORIGIN).intercept({ path: '/whatsapp/1/embedded-signup/registrations/share-waba', method: 'POST' }).reply((opts) => {
      sent = { body: JSON.parse(String(opts.body)), auth: (opts.headers as Record<string, string>).authorization };
      return { statusCode: 202, data: '' };
    });
    expect(await infobipCommand(['share-waba', '102290129340398'], {}, { env, dispatcher: agent })).toBe(0);
    expect(sent).toEqual({ body: { businessAccountId: '102290129340398' }, auth: 'App k' });
    expect(out).toEqual(['shared WABA 102290129340398 with Infobip: HTTP 202 Accepted']);
  });

  it('exits 1 with Infobip\'s error on failure', async () => {
    agent.get(ORIGIN).intercept({ path: '/whatsapp/1/embedded-signup/registrations/share-waba', method: 'POST' })
      .reply(400, { errorCode: 'E400', description: 'Business account is not shared with Infobip.', violations: [], resources: [] });
    expect(await infobipCommand(['share-waba', '123'], {}, { env, dispatcher: agent })).toBe(1);
    expect(err).toEqual(['herald infobip share-waba: Infobip refused WABA 123: HTTP 400 E400: Business account is not shared with Infobip.']);
  });

  it('rejects bad usage and missing credentials with a ConfigError (exit 2)', async () => {
    await expect(infobipCommand([], {}, { env })).rejects.toThrow(ConfigError);
    await expect(infobipCommand(['share-wab', '1'], {}, { env })).rejects.toThrow(/unknown subcommand "share-wab"/);
    await expect(infobipCommand(['share-waba'], {}, { env })).rejects.toThrow(/give exactly one WABA id/);
    await expect(infobipCommand(['share-waba', 'abc'], {}, { env })).rejects.toThrow(/is not a WABA id/);
    await expect(infobipCommand(['share-waba', '1'], {}, { env: { ...env, INFOBIP_API_KEY: undefined } })).rejects.toThrow(/INFOBIP_API_KEY/);
  });
});
