/** Events made storable before they are written: every column its type, NUL gone, payloads as JSON text. */
import { describe, expect, it } from 'vitest';
import type { ProviderEvent } from '../../src/events/event.js';
import { MAX_PAYLOAD_DEPTH, storableEvent, UnstorableEvent } from '../../src/events/storable.js';

const at = new Date('2026-01-01T00:00:00Z');
const event = (extra: Record<string, unknown> = {}): ProviderEvent => ({
  event_id: 'e1', provider: 'meta', event_type: 'sent', provider_message_id: 'wamid.1', recipient: '+819000000001',
  occurred_at: at, received_at: at, error_code: null, error_detail: null, pricing_category: null, payload: { id: 'wamid.1' },
  ...extra,
} as ProviderEvent);
const nested = (depth: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

describe('storableEvent', () => {
  it('keeps a well-formed event as it is, with the payload as JSON text and send_id null when absent', () => {
    expect(storableEvent(event())).toEqual({
      event_id: 'e1', provider: 'meta', event_type: 'sent', provider_message_id: 'wamid.1', recipient: '+819000000001',
      occurred_at: at, received_at: at, error_code: null, error_detail: null, pricing_category: null, payload: '{"id":"wamid.1"}', send_id: null,
      user_id: null, account: null, billable: null, pricing_model: null, pricing_type: null, defer_until: null,
    });
  });

  it('stores a payload that is a plain string or number as a JSON value', () => {
    expect(storableEvent(event({ payload: 'hello' })).payload).toBe('"hello"');
    expect(storableEvent(event({ payload: 42 })).payload).toBe('42');
    expect(storableEvent(event({ payload: null })).payload).toBe('null');
    expect(storableEvent(event({ payload: undefined })).payload).toBeNull();
  });

  it('removes NUL from every string, payload keys and values included, at any depth', () => {
    const row = storableEvent(event({
      provider_message_id: 'wamid.\u0000x', recipient: '\u0000+81', send_id: 's\u00001',
      payload: { ['k\u0000ey']: ['a\u0000b', { deep: '\u0000\u0000c' }] },
    }));
    expect([row.provider_message_id, row.recipient, row.send_id, row.payload]).toEqual(['wamid.x', '+81', 's1', '{"key":["ab",{"deep":"c"}]}']);
  });

  it('keeps text that only looks escaped, control characters, and long payloads exactly; bigints become their digits', () => {
    const tricky = { s: 'C:\\users\\u0041 \t\u0001', n: 1.5, b: false, z: null, list: [1, 'two'] };
    expect(JSON.parse(storableEvent(event({ payload: tricky })).payload!)).toEqual(tricky);
    const long = { text: 'x'.repeat(5000), tail: 'a\u0000b' };
    expect(storableEvent(event({ payload: long })).payload).toBe(JSON.stringify({ text: 'x'.repeat(5000), tail: 'ab' }));
    expect(storableEvent(event({ payload: { id: 7n, at: [2n] } })).payload).toBe('{"id":"7","at":["2"]}');
  });

  it('replaces lone surrogates and keeps paired ones', () => {
    const row = storableEvent(event({ error_detail: 'a\ud800b 😀', payload: { t: '\udc00' } }));
    expect([row.error_detail, row.payload]).toEqual(['a\uFFFDb 😀', '{"t":"\uFFFD"}']);
  });

  it('coerces text columns: numbers and booleans to their text, objects to JSON text', () => {
    const row = storableEvent(event({ provider_message_id: 12345, recipient: 819000000001, error_code: true, error_detail: { code: 1, m: 'x\u0000' }, pricing_category: ['a'], send_id: 7n }));
    expect([row.provider_message_id, row.recipient, row.error_code, row.error_detail, row.pricing_category, row.send_id])
      .toEqual(['12345', '819000000001', 'true', '{"code":1,"m":"x"}', '["a"]', '7']);
  });

  it('turns times that are not valid dates, or outside years 1..9999, into null', () => {
    const times = [new Date('nope'), new Date('-010000-01-01T00:00:00Z'), new Date('+010000-01-01T00:00:00Z'), '2026-01-01T00:00:00Z', 1_767_225_600_000, 'soon', {}];
    expect(times.map((t) => storableEvent(event({ occurred_at: t })).occurred_at)).toEqual([null, null, null, at, at, null, null]);
  });

  it('refuses a payload nested deeper than the limit, and an event without its id or type', () => {
    expect(storableEvent(event({ payload: nested(MAX_PAYLOAD_DEPTH) })).payload).toBe(`${'['.repeat(1000)}"leaf"${']'.repeat(1000)}`);
    expect(() => storableEvent(event({ payload: nested(MAX_PAYLOAD_DEPTH + 1) }))).toThrow(new UnstorableEvent('payload nested deeper than 1000 levels'));
    expect(() => storableEvent(event({ event_id: null }))).toThrow(new UnstorableEvent('event null has no event_id'));
    expect(() => storableEvent(event({ event_type: undefined }))).toThrow(new UnstorableEvent('event e1 has no event_type'));
  });
});
