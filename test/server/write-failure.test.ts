/**
 * What a provider hears when its events could not be written: 400 for content that will never
 * store, 503 while the warehouse is the problem; the warehouse probe behind that and /readyz; and a
 * parser that throws, which keeps the body as `other` instead of answering 500.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { ProviderEvent } from '../../src/events/event.js';
import { UnstorableEvent } from '../../src/events/storable.js';
import type { WebhookAdapter } from '../../src/events/webhook.js';
import { silentLogger } from '../../src/log.js';
import { readyRoute } from '../../src/server/ready.route.js';
import type { RouteRequest } from '../../src/server/router.js';
import { warehouseProbe, type WarehouseProbe } from '../../src/server/warehouse-probe.js';
import { webhookRoutes } from '../../src/server/webhook.routes.js';
import { writeFailure } from '../../src/server/write-failure.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';

const up: WarehouseProbe = async () => null;
const down: WarehouseProbe = async () => 'postgres unreachable: connect ECONNREFUSED 127.0.0.1:1';
const coded = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('writeFailure', () => {
  it('answers 400 for content the warehouse refuses, whatever the probe says', async () => {
    expect(await writeFailure(new UnstorableEvent('payload nested deeper than 1000 levels'), down)).toEqual({ status: 400, reason: 'payload nested deeper than 1000 levels' });
    expect(await writeFailure(coded('invalid input syntax for type json', '22P02'), down)).toEqual({ status: 400, reason: 'invalid input syntax for type json' });
    expect(await writeFailure(coded('null value in column "event_id" violates not-null constraint', '23502'), down)).toMatchObject({ status: 400 });
    expect(await writeFailure(coded('stack depth limit exceeded', '54001'), down)).toMatchObject({ status: 400 });
    expect(await writeFailure(new Error('Conversion Error: Could not convert string \'x\' to INT32'), down)).toMatchObject({ status: 400 });
  });

  it('answers 503 for the warehouse\'s own failures and broken connections, even when the probe answers', async () => {
    expect(await writeFailure(coded('terminating connection due to administrator command', '57P01'), up)).toEqual({ status: 503, reason: 'terminating connection due to administrator command' });
    expect(await writeFailure(coded('column "send_id" does not exist', '42703'), up)).toMatchObject({ status: 503 });
    expect(await writeFailure(coded('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'), up)).toMatchObject({ status: 503 });
    expect(await writeFailure(new Error('Connection terminated unexpectedly'), up)).toMatchObject({ status: 503 });
    expect(await writeFailure(new Error('IO Error: No space left on device'), up)).toMatchObject({ status: 503 });
  });

  it('asks the warehouse about any other error: 400 when it answers, 503 with its reason when not', async () => {
    expect(await writeFailure(new TypeError('Cannot read properties of undefined'), up)).toEqual({ status: 400, reason: 'Cannot read properties of undefined' });
    expect(await writeFailure(new TypeError('Cannot read properties of undefined'), down)).toEqual({ status: 503, reason: 'postgres unreachable: connect ECONNREFUSED 127.0.0.1:1' });
  });
});

/** A warehouse whose `SELECT 1` does what it is told, counting the queries. */
function fakeWarehouse(answer: () => Promise<unknown>) {
  const calls = { n: 0 };
  const wh = { kind: 'postgres', query: () => { calls.n++; return answer(); } } as unknown as Warehouse;
  return { wh, calls };
}

describe('warehouseProbe and GET /readyz', () => {
  it('is ready while the warehouse answers', async () => {
    const { wh } = fakeWarehouse(async () => [{ ok: 1 }]);
    expect(await readyRoute(warehouseProbe(() => wh)).handle({} as RouteRequest)).toEqual({ status: 200, body: { status: 'ready' } });
  });

  it('is 503 with the reason when the warehouse fails or does not answer in time, and one query serves concurrent callers', async () => {
    const refused = fakeWarehouse(() => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')));
    expect(await readyRoute(warehouseProbe(() => refused.wh)).handle({} as RouteRequest))
      .toEqual({ status: 503, body: { status: 'unavailable', reason: 'postgres unreachable: connect ECONNREFUSED 127.0.0.1:5432' } });
    const hung = fakeWarehouse(() => new Promise(() => undefined));
    const probe = warehouseProbe(() => hung.wh, 50);
    expect(await Promise.all([probe(), probe(), probe()])).toEqual(Array(3).fill('postgres did not answer within 50 ms'));
    expect(hung.calls.n).toBe(1);
    expect(await probe()).toBe('postgres did not answer within 50 ms');
    expect(hung.calls.n).toBe(2); // a later caller asks again
  });
});

describe('the webhook route', () => {
  const adapter = (parse: WebhookAdapter['parse']): WebhookAdapter => ({ provider: 'meta', authenticate: () => null, parse });
  const request = (raw: string): RouteRequest => ({ req: { headers: {} } as IncomingMessage, url: new URL('http://herald.local/webhooks/meta'), params: {}, body: Buffer.from(raw) });
  function route(parse: WebhookAdapter['parse'], land: (events: ProviderEvent[]) => Promise<void>, probe = up) {
    const meta = adapter(parse);
    const found = webhookRoutes({ land, probe, logger: silentLogger, meta, infobip: meta, ada: meta, metaVerifyToken: undefined })
      .find((r) => r.method === 'POST' && r.path === '/webhooks/meta')!;
    return (raw: string) => found.handle(request(raw));
  }

  it('lands the whole body as one `other` event when the parser throws on it', async () => {
    const landed: ProviderEvent[] = [];
    const post = route(() => { throw new TypeError('s.replace is not a function'); }, async (events) => void landed.push(...events));
    expect(await post('{"entry":[{"id":1}]}')).toEqual({ status: 200, body: { received: 1 } });
    expect(landed).toMatchObject([{ provider: 'meta', event_type: 'other', error_detail: 'unparsed body (s.replace is not a function)', payload: { entry: [{ id: 1 }] } }]);
  });

  it('answers 400 naming the problem when the body cannot even be kept whole', async () => {
    const post = route(() => { throw new RangeError('Maximum call stack size exceeded'); }, async () => undefined);
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(await post(deep)).toEqual({ status: 400, body: { error: 'events cannot be stored: body cannot be read: Maximum call stack size exceeded' } });
  });

  it('answers 400 when the events cannot be stored, 503 with Retry-After when the warehouse is down', async () => {
    const parse = () => ({ events: [], unknown: [] });
    expect(await route(parse, () => Promise.reject(new UnstorableEvent('event x has no event_type')))('{}'))
      .toEqual({ status: 400, body: { error: 'events cannot be stored: event x has no event_type' } });
    expect(await route(parse, () => Promise.reject(coded('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')))('{}'))
      .toEqual({ status: 503, headers: { 'retry-after': '5' }, body: { error: 'storage unavailable, retry later' } });
    expect(await route(parse, () => Promise.reject(new TypeError('x is undefined')), down)('{}'))
      .toEqual({ status: 503, headers: { 'retry-after': '5' }, body: { error: 'storage unavailable, retry later' } });
  });
});
