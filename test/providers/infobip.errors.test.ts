/**
 * Infobip answers → outcomes, from the real fixtures and both HTTP error shapes, and the
 * micro-batching: concurrent sends share a request and each caller gets its own outcome.
 */
import { fixture as loadFixture } from '../support/fixtures.js';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InfobipConfigSchema } from '../../src/config/runtime.schema.js';
import type { HttpOutcome } from '../../src/providers/http.js';
import { batchOutcomes, describeError, messageOutcome, requestOutcome } from '../../src/providers/infobip/infobip.errors.js';
import { InfobipProvider, infobipHttp } from '../../src/providers/infobip/infobip.provider.js';
import { outbound, pendingStatus, SERVER_ERROR_BODY, UNAUTHORIZED_BODY } from '../support/fake-infobip.js';

const ORIGIN = 'https://xyz123.api.infobip.com';
const TEMPLATE = '/whatsapp/1/message/template';
const fixture = (name: string) => loadFixture(`infobip/${name}`);

const response = (status: number, body: unknown, headers: Record<string, string> = {}): HttpOutcome => {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { kind: 'response', status, headers, text, json };
};

let agent: MockAgent;
beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
});
afterEach(() => agent.close());

function provider(over: Record<string, unknown> = {}): InfobipProvider {
  const config = InfobipConfigSchema.parse({ base_url: ORIGIN, api_key: 'k', batch_size: 50, batch_linger_ms: 5, ...over });
  return new InfobipProvider(config, infobipHttp(config, 'test.yaml', agent));
}

describe('infobip answers', () => {
  it('send-template-response.json: each message accepted under its own messageId', async () => {
    agent.get(ORIGIN).intercept({ path: TEMPLATE, method: 'POST' }).reply(200, fixture('send-template-response.json') as object);
    const p = provider();
    // Sent in the reverse order of the answer: matched by id, not position.
    const [second, first] = await Promise.all([
      p.send(outbound({ sendId: 'a2ga3hgc-sa7n-1ach-0df1-9b55aeb3a1na', recipient: '+441631451112' })),
      p.send(outbound({ sendId: 'a28dd97c-1ffb-4fcf-99f1-0b557ed381da', recipient: '+441134960001' })),
    ]);
    await p.close();
    expect(first).toEqual({ kind: 'accepted', providerMessageId: 'a28dd97c-1ffb-4fcf-99f1-0b557ed381da' });
    expect(second).toEqual({ kind: 'accepted', providerMessageId: 'a2ga3hgc-sa7n-1ach-0df1-9b55aeb3a1na' });
  });

  it('error-400.json: fix_request with the service exception id and the validation errors', async () => {
    agent.get(ORIGIN).intercept({ path: TEMPLATE, method: 'POST' }).reply(400, fixture('error-400.json') as object);
    const p = provider();
    const outcomes = await Promise.all([p.send(outbound({ sendId: 'a' })), p.send(outbound({ sendId: 'b' }))]);
    await p.close();
    const expected = { kind: 'error', action: 'fix_request', code: 'BAD_REQUEST', detail: 'HTTP 400: Bad request — content.text: size must be between 1 and 4096; must not be blank' };
    expect(outcomes).toEqual([expected, expected]); // a whole-request failure applies to every message
  });

  it('the newer error shape: errorCode, description, violations, action', () => {
    expect(describeError({ errorCode: 'E400', description: 'Request cannot be processed.', action: 'Check the syntax.', violations: [{ property: 'messages[0].to', violation: 'must not be null' }], resources: [] }))
      .toEqual({ code: 'E400', detail: 'Request cannot be processed. — messages[0].to: must not be null — action: Check the syntax.' });
    expect(requestOutcome(response(500, SERVER_ERROR_BODY))).toEqual({ kind: 'error', action: 'retry', code: 'E500', detail: 'HTTP 500: Internal server error. — action: Try again later.' });
  });

  it.each([
    [401, UNAUTHORIZED_BODY, 'abort', 'UNAUTHORIZED'],
    [403, { requestError: { serviceException: { messageId: 'FORBIDDEN', text: 'Forbidden' } } }, 'abort', 'FORBIDDEN'],
    [429, { requestError: { serviceException: { messageId: 'TOO_MANY_REQUESTS', text: 'Too many requests' } } }, 'slow_down', 'TOO_MANY_REQUESTS'],
    [503, { errorCode: 'E503', description: 'Service unavailable' }, 'retry', 'E503'],
    [404, { requestError: { serviceException: { messageId: 'NOT_FOUND', text: 'Not found' } } }, 'fix_request', 'NOT_FOUND'],
    [409, { some: 'thing' }, 'permanent', 'http:409'],
  ] as const)('HTTP %i with a JSON body → %s', (status, body, action, code) => {
    expect(requestOutcome(response(status, body))).toMatchObject({ kind: 'error', action, code });
  });

  it('429 honours Retry-After when there is one; transport and unreadable answers go through genericOutcome', () => {
    expect(requestOutcome(response(429, {}, { 'retry-after': '2' }))).toMatchObject({ action: 'slow_down', retryAfterMs: 2000 });
    expect(requestOutcome({ kind: 'not_sent', detail: 'ECONNREFUSED: connect refused' })).toEqual({ kind: 'error', action: 'retry', code: 'network', detail: 'ECONNREFUSED: connect refused' });
    expect(requestOutcome({ kind: 'maybe_sent', detail: 'UND_ERR_HEADERS_TIMEOUT: Headers Timeout Error' })).toEqual({ kind: 'unknown', detail: 'UND_ERR_HEADERS_TIMEOUT: Headers Timeout Error' });
    expect(requestOutcome(response(502, '<html>Bad gateway</html>'))).toMatchObject({ kind: 'error', action: 'retry', code: 'http:502' });
    expect(requestOutcome(response(200, '<html>proxy</html>'))).toMatchObject({ kind: 'unknown' });
    expect(requestOutcome(response(200, ''))).toMatchObject({ kind: 'unknown', detail: 'HTTP 200 with an unreadable body: (empty body)' });
    expect(requestOutcome(response(401, 'Unauthorized'))).toMatchObject({ kind: 'error', action: 'abort', code: 'http:401' });
  });

  it('per-message statuses: REJECTED inside a 200 fails the row with its name; account rejections abort', () => {
    const status = (name: string, description: string) => ({ messageId: 'm', status: { groupId: 5, groupName: 'REJECTED', id: 1, name, description } });
    expect(messageOutcome(status('REJECTED_DESTINATION_NOT_REGISTERED', 'Destination not registered'), 'm'))
      .toEqual({ kind: 'error', action: 'permanent', code: 'REJECTED_DESTINATION_NOT_REGISTERED', detail: 'Destination not registered' });
    expect(messageOutcome(status('REJECTED_NOT_ENOUGH_CREDITS', 'Not enough credits'), 'm')).toMatchObject({ action: 'abort' });
    expect(messageOutcome(status('REJECTED_SYSTEM_ERROR', 'System error'), 'm')).toMatchObject({ action: 'retry' });
    // This message's content, not the template: the row fails and the run goes on.
    expect(messageOutcome(status('REJECTED_MESSAGE_TOO_LONG', 'Rejected message too long'), 'm'))
      .toEqual({ kind: 'error', action: 'invalid_row', code: 'REJECTED_MESSAGE_TOO_LONG', detail: 'Rejected message too long' });
    // On a do-not-disturb list: the recipient opted out, so the settlement suppresses them.
    expect(messageOutcome(status('REJECTED_DND', 'Destination on DND list'), 'm'))
      .toEqual({ kind: 'error', action: 'permanent', code: 'REJECTED_DND', detail: 'Destination on DND list', optedOut: true });
    expect(messageOutcome({ messageId: 'm', status: { groupId: 5, name: 'REJECTED_SOMETHING_NEW' } }, 'm')).toMatchObject({ action: 'permanent', code: 'REJECTED_SOMETHING_NEW' });
    expect(messageOutcome(status('REJECTED_DUPLICATE_MESSAGE_ID', 'Duplicate'), 'm')).toEqual({ kind: 'accepted', providerMessageId: 'm', detail: 'duplicate_message_id' });
    expect(messageOutcome({ messageId: 'm', status: pendingStatus }, 'x')).toEqual({ kind: 'accepted', providerMessageId: 'm' });
  });

  it('answers without ids are matched by position; a message the answer leaves out is unknown', () => {
    const ok = { status: pendingStatus };
    expect(batchOutcomes(response(200, { messages: [ok, ok] }), ['a', 'b'])).toEqual([
      { kind: 'accepted', providerMessageId: 'a' }, { kind: 'accepted', providerMessageId: 'b' },
    ]);
    expect(batchOutcomes(response(200, { messages: [{ messageId: 'a', status: pendingStatus }] }), ['a', 'b'])).toEqual([
      { kind: 'accepted', providerMessageId: 'a' }, { kind: 'unknown', detail: 'HTTP 200 answer has no status for message b' },
    ]);
    expect(batchOutcomes(response(200, { bulkId: 'x' }), ['a'])).toMatchObject([{ kind: 'unknown' }]);
  });
});

describe('infobip micro-batching', () => {
  it('7 concurrent sends with batch_size 3 → requests of 3, 3 and 1; each caller gets its own outcome', async () => {
    const bodies: { messages: { to: string; messageId: string }[] }[] = [];
    agent.get(ORIGIN).intercept({ path: TEMPLATE, method: 'POST' }).reply((opts) => {
      const body = JSON.parse(String(opts.body)) as { messages: { to: string; messageId: string }[] };
      bodies.push(body);
      // Answer in reverse order, with recipient …0104 rejected inside the 200.
      const messages = body.messages.map((m) => ({
        to: m.to, messageCount: 1, messageId: m.messageId,
        status: m.to.endsWith('0104')
          ? { groupId: 5, groupName: 'REJECTED', id: 18, name: 'REJECTED_DESTINATION_NOT_REGISTERED', description: 'Destination not registered' }
          : pendingStatus,
      })).reverse();
      return { statusCode: 200, data: { bulkId: `bulk-${bodies.length}`, messages } };
    }).times(3);
    const p = provider({ batch_size: 3, batch_linger_ms: 20 });
    const outcomes = await Promise.all(Array.from({ length: 7 }, (_, i) => p.send(outbound({ sendId: `s${i}`, recipient: `+1201555010${i}` }))));
    await p.close();
    expect(bodies.map((b) => b.messages.length)).toEqual([3, 3, 1]);
    expect(bodies.flatMap((b) => b.messages.map((m) => m.messageId))).toEqual(['s0', 's1', 's2', 's3', 's4', 's5', 's6']);
    expect(outcomes).toEqual(Array.from({ length: 7 }, (_, i) => (i === 4
      ? { kind: 'error', action: 'permanent', code: 'REJECTED_DESTINATION_NOT_REGISTERED', detail: 'Destination not registered' }
      : { kind: 'accepted', providerMessageId: `s${i}` })));
  });

  it('a lone send waits at most the linger, then goes; a network failure settles every caller', async () => {
    agent.get(ORIGIN).intercept({ path: TEMPLATE, method: 'POST' }).replyWithError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const p = provider({ batch_linger_ms: 5 });
    const outcomes = await Promise.all([p.send(outbound({ sendId: 'a' })), p.send(outbound({ sendId: 'b' }))]);
    await p.close();
    expect(outcomes).toEqual([0, 1].map(() => ({ kind: 'error', action: 'retry', code: 'network', detail: 'ECONNREFUSED: connect ECONNREFUSED' })));
  });

  it('text messages are not batched with templates', async () => {
    const paths: string[] = [];
    const pool = agent.get(ORIGIN);
    pool.intercept({ path: TEMPLATE, method: 'POST' }).reply((opts) => {
      paths.push(opts.path);
      const body = JSON.parse(String(opts.body)) as { messages: { messageId: string }[] };
      return { statusCode: 200, data: { messages: body.messages.map((m) => ({ messageId: m.messageId, status: pendingStatus })) } };
    });
    pool.intercept({ path: '/whatsapp/1/message/text', method: 'POST' }).reply((opts) => {
      paths.push(opts.path);
      return { statusCode: 200, data: { messageId: 't', status: pendingStatus } };
    });
    const p = provider();
    const outcomes = await Promise.all([p.send(outbound({ sendId: 'a' })), p.send(outbound({ sendId: 't', message: { text: 'hi' } })), p.send(outbound({ sendId: 'b' }))]);
    await p.close();
    expect(paths.sort()).toEqual([TEMPLATE, '/whatsapp/1/message/text']);
    expect(outcomes.map((o) => o.kind === 'accepted' && o.providerMessageId)).toEqual(['a', 't', 'b']);
  });
});
