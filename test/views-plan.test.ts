/**
 * herald's views stay joinable at scale on DuckDB: every join in them must plan as a hash join.
 * A nested loop is quadratic — the funnel of a 300,000-send run took 140 s with one, 0.2 s
 * without (a `s.provider_message_id IS NOT NULL` in a LEFT JOIN's ON clause caused it). The plan
 * is checked, not the time, so the test holds on any machine; bench/report.ts times it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { VIEWS } from '../src/warehouse/tables.js';

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
