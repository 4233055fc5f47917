/**
 * The runs' sends split by template (and language) and by country (herald.sends.country): how many
 * rows, how many attempted, and delivered / read / failed per attempted send, the headline's
 * denominator. Cost by country comes from herald.send_costs.
 */
import type { Warehouse } from '../warehouse/warehouse.js';
import { COUNTS, OUTCOMES, toCounts, type Counts } from './outcomes.js';

export interface Split extends Counts {
  /** The template name (`template@language`, or `(free-form)`), or the ISO country (`(unknown)`). */
  key: string;
}

const KEYS = {
  template: "coalesce(template || '@' || coalesce(language, ''), '(free-form)')",
  country: "coalesce(country, '(unknown)')",
} as const;

export type SplitBy = keyof typeof KEYS;

export async function splits(wh: Warehouse, runIds: readonly string[], by: SplitBy): Promise<Split[]> {
  if (runIds.length === 0) return [];
  const rows = await wh.query<Record<string, unknown>>(
    `SELECT ${KEYS[by]} AS key, ${COUNTS} FROM ${OUTCOMES} GROUP BY 1 ORDER BY count(*) DESC, 1`, [runIds]);
  return rows.map((r) => ({ key: String(r.key), ...toCounts(r) }));
}
