/**
 * herald's views stay joinable at scale on DuckDB: every join in them must plan as a hash join.
 * A nested loop is quadratic — the funnel of a 300,000-send run took 140 s with one, 0.2 s
 * without (a `s.provider_message_id IS NOT NULL` in a LEFT JOIN's ON clause caused it). The plan
 * is checked, not the time, so the test holds on any machine; bench/report.ts times it.
 * And the funnel of one run reads only that run's sends, on both engines: `WHERE run_id = $1`
 * must reach the scan of herald.sends, and on DuckDB that scan reads only the columns the funnel
 * counts (a materialized CTE at the top of message_status once kept every column and aggregate,
 * and the funnel of 1,000,000 sends spilled three times as much at 128MB).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { openWarehouse } from '../src/warehouse/open.js';
import { EVENTS, RUNS, SENDS, VIEWS } from '../src/warehouse/tables.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { freshPgUrl } from './helpers/pg.js';

const QUADRATIC = /NESTED_LOOP_JOIN|BLOCKWISE_NL_JOIN|CROSS_PRODUCT/;

let wh: DuckDbWarehouse;

beforeAll(async () => {
  wh = await DuckDbWarehouse.open(':memory:');
});

afterAll(async () => {
  await wh.close();
});

describe('herald views on DuckDB', () => {
  it.each(VIEWS.map((v) => v.name))('%s joins without a nested loop', async (name) => {
    const rows = await wh.query<{ explain_value: string }>(`EXPLAIN SELECT * FROM herald.${name}`);
    const plan = rows.map((r) => r.explain_value).join('\n');
    expect(plan).toMatch(/HASH_JOIN/);
    expect(plan).not.toMatch(QUADRATIC);
  });

  it('the check catches the nested loop that a one-sided join condition plans', async () => {
    const rows = await wh.query<{ explain_value: string }>(
      'EXPLAIN SELECT count(*) FROM herald.sends s LEFT JOIN herald.events e ON e.provider_message_id = s.provider_message_id AND s.provider_message_id IS NOT NULL');
    expect(rows.map((r) => r.explain_value).join('\n')).toMatch(QUADRATIC);
  });
});

/** A run with one send and its events: on empty tables the engines plan some scans away. */
async function seed(wh: Warehouse): Promise<void> {
  const at = new Date('2026-01-01T00:00:00Z');
  await wh.insert(RUNS, [{
    run_id: 'r-x', job: 'j', run_key: 'k', status: 'succeeded', dry_run: false, started_at: at, finished_at: at, audience: 1,
    rejected: 0, suppressed: 0, duplicate: 0, planned: 0, accepted: 1, failed: 0, deferred: 0, unknown: 0, error: null,
  }]);
  await wh.insert(SENDS, [{
    send_id: 's1', run_id: 'r-x', job: 'j', row_key: 'k1', recipient: '+15550000001', idempotency_key: 'i1', provider: 'meta', sender: null,
    template: null, language: null, variables: null, status: 'accepted', reason: null, error_code: null, error_detail: null,
    provider_message_id: 'wamid.1', attempts: 1, created_at: at, sent_at: at,
  }]);
  const event = (id: string, type: string, wamid: string) => ({
    event_id: id, provider: 'meta', event_type: type, provider_message_id: wamid, recipient: '+15550000001', occurred_at: at, received_at: at,
    error_code: null, error_detail: null, pricing_category: null, payload: {},
  });
  await wh.insert(EVENTS, [event('e1', 'sent', 'wamid.1'), event('e2', 'inbound', 'wamid.in1')]);
}

const FUNNEL_OF_ONE_RUN = "SELECT * FROM herald.run_funnel WHERE run_id = 'r-x'";

interface PlanNode { name?: string; extra_info?: Record<string, unknown>; children?: PlanNode[] }
interface PgPlanNode { 'Relation Name'?: string; Filter?: string; 'Index Cond'?: string; Plans?: PgPlanNode[] }

function nodes<T extends { children?: T[]; Plans?: T[] }>(roots: readonly T[]): T[] {
  return roots.flatMap((n) => [n, ...nodes(n.children ?? n.Plans ?? [])]);
}

describe('the funnel of one run on DuckDB', () => {
  let wh: DuckDbWarehouse;
  beforeAll(async () => {
    wh = await DuckDbWarehouse.open(':memory:');
    await seed(wh);
  });
  afterAll(() => wh.close());

  it('scans the sends of that run only, and only the columns it counts', async () => {
    const [row] = await wh.query<{ explain_value: string }>(`EXPLAIN (FORMAT JSON) ${FUNNEL_OF_ONE_RUN}`);
    const scans = nodes(JSON.parse(row!.explain_value) as PlanNode[]).map((n) => n.extra_info ?? {}).filter((x) => String(x.Table).endsWith('herald.sends'));
    const ofTheRun = scans.filter((x) => String(x.Filters ?? '').includes("run_id='r-x'"));
    expect(ofTheRun).toHaveLength(1);
    expect(ofTheRun[0]!.Projections).not.toContain('row_key');
    expect(ofTheRun[0]!.Projections).not.toContain('job');
  });
});

describe('the funnel of one run on PostgreSQL', () => {
  let wh: Warehouse;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const pg = await freshPgUrl();
    cleanup = pg.cleanup;
    wh = await openWarehouse(pg.url);
    await seed(wh);
  });
  afterAll(async () => {
    await wh?.close();
    await cleanup?.();
  });

  it('scans the sends of that run only', async () => {
    const [row] = await wh.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${FUNNEL_OF_ONE_RUN}`);
    const plan = row!['QUERY PLAN'];
    const [top] = (typeof plan === 'string' ? JSON.parse(plan) : plan) as { Plan: PgPlanNode }[];
    const sends = nodes([top!.Plan]).filter((n) => n['Relation Name'] === 'sends');
    expect(sends.filter((n) => /run_id = 'r-x'/.test(`${n.Filter ?? ''} ${n['Index Cond'] ?? ''}`))).toHaveLength(1);
  });
});
