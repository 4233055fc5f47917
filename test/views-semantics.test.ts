/**
 * What herald.message_status and herald.run_funnel say, row for row, on DuckDB and PostgreSQL, for
 * the edge cases their SQL has to get right: events out of order and twice, precedence
 * failed > read > delivered > sent > accepted, events without a time or for a message herald never
 * sent, sends without a provider message id or recipient, and replies (by context, or by the
 * recipient between this send and the next accepted send to them, across runs). Rows are inserted
 * directly into herald.sends and herald.events; the expected rows are written out in full.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarehouse } from '../src/warehouse/open.js';
import { EVENTS, RUNS, SENDS } from '../src/warehouse/tables.js';
import type { Row, Warehouse } from '../src/warehouse/warehouse.js';
import { freshPgUrl } from './helpers/pg.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000);
const iso = (s: number) => at(s).toISOString();

interface SendSpec {
  id: string;
  run?: string;
  recipient?: string | null;
  status?: string;
  wamid?: string | null;
  sentAt?: number | null;
  provider?: string;
}

function send(s: SendSpec, i: number): Row {
  const status = s.status ?? 'accepted';
  return {
    send_id: s.id, run_id: s.run ?? 'run-a', job: 'views_test', row_key: `k-${s.id}`, recipient: s.recipient === undefined ? `+8190000${s.id}` : s.recipient,
    idempotency_key: `idem-${s.id}-${i}`, provider: s.provider ?? 'meta', sender: '15550001234', template: 'welcome_back', language: 'ja',
    variables: {}, status, reason: status === 'accepted' ? null : 'some_reason', error_code: null, error_detail: null,
    provider_message_id: s.wamid === undefined ? (status === 'accepted' ? `wamid.${s.id}` : null) : s.wamid,
    attempts: status === 'accepted' ? 1 : 0, created_at: at(-1000), sent_at: s.sentAt === undefined ? (status === 'accepted' ? at(0) : null) : (s.sentAt === null ? null : at(s.sentAt)),
  };
}

let eventNo = 0;
/** A status event of an outbound message. */
function ev(type: string, wamid: string, t: number | null, errorCode: string | null = null): Row {
  eventNo += 1;
  return {
    event_id: `e${eventNo}`, provider: 'meta', event_type: type, provider_message_id: wamid, recipient: null,
    occurred_at: t === null ? null : at(t), received_at: at(1_000_000), error_code: errorCode, error_detail: errorCode ? 'detail' : null,
    pricing_category: null, payload: { id: wamid, status: type },
  };
}
/** An inbound message from `recipient`, replying by context to `contextId` when given. */
function inbound(recipient: string, t: number | null, contextId?: string): Row {
  eventNo += 1;
  const payload: Record<string, unknown> = { from: recipient.slice(1), id: `wamid.in${eventNo}`, type: 'text', text: { body: 'hi' } };
  if (contextId) payload.context = { from: '15550001234', id: contextId };
  return {
    event_id: `e${eventNo}`, provider: 'meta', event_type: 'inbound', provider_message_id: `wamid.in${eventNo}`, recipient,
    occurred_at: t === null ? null : at(t), received_at: at(1_000_000), error_code: null, error_detail: null, pricing_category: null, payload,
  };
}

const SENDS_ROWS: SendSpec[] = [
  // Statuses from events.
  { id: 'a1' }, // read before delivered, sent twice
  { id: 'a2' }, // failed after read: failed wins; two failures
  { id: 'a3' }, // sent only
  { id: 'a4' }, // no event at all
  { id: 'a5' }, // delivered without a time, clicked twice
  { id: 'a6', status: 'rejected', sentAt: null },
  { id: 'a7', status: 'suppressed', recipient: null, sentAt: null },
  { id: 'a8', status: 'failed', sentAt: 5 }, // failed when sending: no provider message id
  { id: 'a9', recipient: '+81900009', wamid: null }, // accepted without a provider message id: replied by recipient only
  // The same provider message id in two runs (two providers): both get its events.
  { id: 'g1', wamid: 'wamid.g' },
  { id: 'g2', run: 'run-b', wamid: 'wamid.g', provider: 'infobip' },
  // Replies by recipient, across runs: b1 (run-a) until b2 (run-b); b3, which failed when sending
  // between them, is no send to them and does not end b1's window.
  { id: 'b1', recipient: '+81900010', sentAt: 100 },
  { id: 'b3', run: 'run-b', recipient: '+81900010', status: 'failed', sentAt: 110 },
  { id: 'b2', run: 'run-b', recipient: '+81900010', sentAt: 200 },
  // A context reply to the earlier send, written after the later one: both replied.
  { id: 'c1', recipient: '+81900011', sentAt: 100 },
  { id: 'c2', recipient: '+81900011', sentAt: 200 },
  // Context replies: one without a time (not replied), one from someone else before the send (replied).
  { id: 'd1', recipient: '+81900012' },
  { id: 'd2', recipient: '+81900013', sentAt: 50 },
  // Accepted without a sent_at: no reply window of its own, and it does not end h1's.
  { id: 'h1', recipient: '+81900014', sentAt: 10 },
  { id: 'h2', recipient: '+81900014', sentAt: null },
  // An inbound message before any send, from someone never sent to, and one after a rejected send.
  { id: 'i1', recipient: '+81900016', sentAt: 100 },
  { id: 'i2', recipient: '+81900017', status: 'rejected', sentAt: null },
];

const EVENT_ROWS: Row[] = [
  ev('read', 'wamid.a1', 9), ev('delivered', 'wamid.a1', 4), ev('sent', 'wamid.a1', 1), ev('sent', 'wamid.a1', 1),
  ev('delivered', 'wamid.a2', 5), ev('read', 'wamid.a2', 6), ev('failed', 'wamid.a2', 8, '131049'), ev('failed', 'wamid.a2', 7, '131026'),
  ev('sent', 'wamid.a3', 1),
  ev('delivered', 'wamid.a5', null), ev('clicked', 'wamid.a5', 20), ev('clicked', 'wamid.a5', 15),
  ev('delivered', 'wamid.g', 3), ev('sent', 'wamid.never-sent', 3), ev('read', 'wamid.never-sent', 4),
  inbound('+81900009', 30), // to a9
  inbound('+81900010', 90), inbound('+81900010', 150), inbound('+81900010', 120), inbound('+81900010', 200), inbound('+81900010', 300, 'wamid.b1'),
  inbound('+81900011', 250, 'wamid.c1'),
  inbound('+81900099', null, 'wamid.d1'),
  inbound('+81900098', 20, 'wamid.d2'),
  inbound('+81900014', 40),
  inbound('+81900016', 99), inbound('+81900015', 150), inbound('+81900017', 150),
];

type ColType = 'text' | 'timestamptz' | 'boolean' | 'bigint' | 'double';
const TYPE_NAMES: Record<'duckdb' | 'postgres', Record<ColType, string>> = {
  duckdb: { text: 'VARCHAR', timestamptz: 'TIMESTAMP WITH TIME ZONE', boolean: 'BOOLEAN', bigint: 'BIGINT', double: 'DOUBLE' },
  postgres: { text: 'text', timestamptz: 'timestamp with time zone', boolean: 'boolean', bigint: 'bigint', double: 'double precision' },
};
// PostgreSQL's CREATE OR REPLACE VIEW refuses to change a column's name or type: they are fixed.
const MESSAGE_STATUS_COLUMNS: [string, ColType][] = [
  ['send_id', 'text'], ['run_id', 'text'], ['job', 'text'], ['row_key', 'text'], ['recipient', 'text'], ['provider', 'text'],
  ['provider_message_id', 'text'], ['send_status', 'text'], ['status', 'text'], ['sent_at', 'timestamptz'], ['delivered_at', 'timestamptz'],
  ['read_at', 'timestamptz'], ['failed_at', 'timestamptz'], ['clicked', 'boolean'], ['failure_code', 'text'], ['replied', 'boolean'],
  ['replied_at', 'timestamptz'], ['clicked_at', 'timestamptz'],
];
const RUN_FUNNEL_COLUMNS: [string, ColType][] = [
  ['run_id', 'text'], ['job', 'text'], ['run_key', 'text'], ['run_status', 'text'], ['dry_run', 'boolean'], ['started_at', 'timestamptz'],
  ['finished_at', 'timestamptz'],
  ...['audience', 'rejected', 'suppressed', 'duplicate', 'planned', 'accepted', 'delivered', 'read', 'failed', 'deferred', 'unknown', 'clicked']
    .map((name): [string, ColType] => [name, 'bigint']),
  ['delivery_rate', 'double'], ['read_rate', 'double'], ['replied', 'bigint'], ['failure_rate', 'double'], ['click_rate', 'double'], ['reply_rate', 'double'],
];

type Status = [string, string, string | null, string | null, string | null, string | null, boolean, string | null, boolean, string | null, string | null];
// send_id, status, delivered_at, read_at, failed_at, clicked_at, clicked, failure_code, replied, replied_at, sent_at
const EXPECTED_STATUS: Status[] = [
  ['a1', 'read', iso(4), iso(9), null, null, false, null, false, null, iso(0)],
  ['a2', 'failed', iso(5), iso(6), iso(7), null, false, '131049', false, null, iso(0)],
  ['a3', 'sent', null, null, null, null, false, null, false, null, iso(0)],
  ['a4', 'accepted', null, null, null, null, false, null, false, null, iso(0)],
  ['a5', 'delivered', null, null, null, iso(15), true, null, false, null, iso(0)],
  ['a6', 'rejected', null, null, null, null, false, null, false, null, null],
  ['a7', 'suppressed', null, null, null, null, false, null, false, null, null],
  ['a8', 'failed', null, null, null, null, false, null, false, null, iso(5)],
  ['a9', 'accepted', null, null, null, null, false, null, true, iso(30), iso(0)],
  ['b1', 'accepted', null, null, null, null, false, null, true, iso(120), iso(100)],
  ['b2', 'accepted', null, null, null, null, false, null, true, iso(200), iso(200)],
  ['b3', 'failed', null, null, null, null, false, null, false, null, iso(110)],
  ['c1', 'accepted', null, null, null, null, false, null, true, iso(250), iso(100)],
  ['c2', 'accepted', null, null, null, null, false, null, true, iso(250), iso(200)],
  ['d1', 'accepted', null, null, null, null, false, null, false, null, iso(0)],
  ['d2', 'accepted', null, null, null, null, false, null, true, iso(20), iso(50)],
  ['g1', 'delivered', iso(3), null, null, null, false, null, false, null, iso(0)],
  ['g2', 'delivered', iso(3), null, null, null, false, null, false, null, iso(0)],
  ['h1', 'accepted', null, null, null, null, false, null, true, iso(40), iso(10)],
  ['h2', 'accepted', null, null, null, null, false, null, false, null, null],
  ['i1', 'accepted', null, null, null, null, false, null, false, null, iso(100)],
  ['i2', 'rejected', null, null, null, null, false, null, false, null, null],
];

const ts = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string | Date).toISOString());

function views(engine: string, open: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>) {
  describe(`herald views on ${engine}`, () => {
    let wh: Warehouse;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ wh, cleanup } = await open());
      const run = (id: string, n: number) => ({
        run_id: id, job: 'views_test', run_key: id, status: 'succeeded', dry_run: false, started_at: at(-2000 + n), finished_at: at(1000),
        audience: 0, rejected: 0, suppressed: 0, duplicate: 0, planned: 0, accepted: 0, failed: 0, deferred: 0, unknown: 0, error: null,
      });
      await wh.insert(RUNS, [run('run-a', 0), run('run-b', 1), run('run-empty', 2)]);
      await wh.insert(SENDS, SENDS_ROWS.map(send));
      await wh.insert(EVENTS, EVENT_ROWS);
    });
    afterAll(async () => {
      await wh?.close();
      await cleanup?.();
    });

    it('both views keep their columns, in order, with their types', async () => {
      const columns = (view: string) => wh.query<{ name: string; type: string }>(
        'SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
        ['herald', view]).then((rows) => rows.map((c) => `${c.name} ${c.type}`));
      const named = (cols: [string, ColType][]) => cols.map(([name, type]) => `${name} ${TYPE_NAMES[wh.kind][type]}`);
      expect(await columns('message_status')).toEqual(named(MESSAGE_STATUS_COLUMNS));
      expect(await columns('run_funnel')).toEqual(named(RUN_FUNNEL_COLUMNS));
    });

    it('message_status: status by precedence, first times, failure code, clicks and replies', async () => {
      const rows = await wh.query<Record<string, unknown>>('SELECT * FROM herald.message_status ORDER BY send_id');
      expect(rows.map((r) => [r.send_id, r.status, ts(r.delivered_at), ts(r.read_at), ts(r.failed_at), ts(r.clicked_at), r.clicked, r.failure_code, r.replied, ts(r.replied_at), ts(r.sent_at)]))
        .toEqual(EXPECTED_STATUS);
      // The send's own columns pass through.
      const byId = new Map(SENDS_ROWS.map((s, i) => [s.id, send(s, i)]));
      for (const r of rows) {
        const s = byId.get(r.send_id as string)!;
        expect([r.run_id, r.job, r.row_key, r.recipient, r.provider, r.provider_message_id, r.send_status])
          .toEqual([s.run_id, s.job, s.row_key, s.recipient, s.provider, s.provider_message_id, s.status]);
      }
    });

    it('message_status filtered by run equals the unfiltered view\'s rows of that run', async () => {
      const all = await wh.query<Record<string, unknown>>("SELECT * FROM herald.message_status ORDER BY send_id");
      const b = await wh.query<Record<string, unknown>>("SELECT * FROM herald.message_status WHERE run_id = 'run-b' ORDER BY send_id");
      expect(b).toEqual(all.filter((r) => r.run_id === 'run-b'));
      expect(b.map((r) => r.send_id)).toEqual(['b2', 'b3', 'g2']);
    });

    it('run_funnel counts them per run; a run without sends has an audience of 0', async () => {
      const rows = await wh.query<Record<string, unknown>>('SELECT * FROM herald.run_funnel ORDER BY run_id');
      const plain = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k.endsWith('_at') ? ts(v) : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v])));
      const base = { job: 'views_test', run_status: 'succeeded', dry_run: false, finished_at: iso(1000), planned: 0, deferred: 0, unknown: 0 };
      expect(plain).toEqual([
        {
          ...base, run_id: 'run-a', run_key: 'run-a', started_at: iso(-2000), audience: 19, rejected: 2, suppressed: 1, duplicate: 0, accepted: 15,
          delivered: 3, read: 1, failed: 2, clicked: 1, replied: 6,
          delivery_rate: 3 / 15, read_rate: 1 / 15, failure_rate: 2 / 16, click_rate: 1 / 15, reply_rate: 6 / 15,
        },
        {
          ...base, run_id: 'run-b', run_key: 'run-b', started_at: iso(-1999), audience: 3, rejected: 0, suppressed: 0, duplicate: 0, accepted: 2,
          delivered: 1, read: 0, failed: 1, clicked: 0, replied: 1,
          delivery_rate: 1 / 2, read_rate: 0, failure_rate: 1 / 3, click_rate: 0, reply_rate: 1 / 2,
        },
        {
          ...base, run_id: 'run-empty', run_key: 'run-empty', started_at: iso(-1998), audience: 0, rejected: 0, suppressed: 0, duplicate: 0, accepted: 0,
          delivered: 0, read: 0, failed: 0, clicked: 0, replied: 0,
          delivery_rate: null, read_rate: null, failure_rate: null, click_rate: null, reply_rate: null,
        },
      ]);
    });

    // Which of the two is "the next send" is a tie: message_status orders them by send_id (the
    // lead() over sent_at alone that it replaced picked either); counting the reply once holds for both.
    it('two sends to one recipient at the same instant: a reply after them counts once', async () => {
      await wh.insert(SENDS, [send({ id: 'f1', run: 'run-tie', recipient: '+81900020', sentAt: 100 }, 100), send({ id: 'f2', run: 'run-tie', recipient: '+81900020', sentAt: 100 }, 101)]);
      await wh.insert(EVENTS, [inbound('+81900020', 110)]);
      const rows = await wh.query<{ send_id: string; replied: boolean; replied_at: unknown }>(
        "SELECT send_id, replied, replied_at FROM herald.message_status WHERE run_id = 'run-tie' ORDER BY send_id");
      expect(rows.map((r) => r.send_id)).toEqual(['f1', 'f2']);
      expect(rows.filter((r) => r.replied).map((r) => ts(r.replied_at))).toEqual([iso(110)]);
    });
  });
}

views('DuckDB', async () => ({ wh: await openWarehouse('duckdb::memory:'), cleanup: async () => undefined }));
views('PostgreSQL', async () => {
  const pg = await freshPgUrl();
  return { wh: await openWarehouse(pg.url), cleanup: pg.cleanup };
});
