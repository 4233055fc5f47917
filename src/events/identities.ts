/**
 * `herald.identities`: every phone ↔ business-scoped user id (BSUID) pair a webhook showed, so that
 * an opt-out by either reaches the other (store/sends.store.ts `findSuppressed`). Parsers attach
 * what they saw to the event that showed it (`ProviderEvent.identities`); the landing path writes
 * them here. Idempotent under redelivery: the row id is the pair itself, and seeing it again only
 * widens first_seen / last_seen (and takes the latest username).
 */
import { hexDigest } from '../util/hex-digest.js';
import { IDENTITIES } from '../warehouse/tables.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { ProviderEvent } from './event.js';

/** One user as a webhook showed them: a BSUID always, the phone (E.164) when Meta included it. */
export interface IdentitySighting {
  phone: string | null;
  user_id: string;
  parent_user_id: string | null;
  username: string | null;
}

interface IdentityRow {
  identity_id: string;
  provider: string;
  account: string | null;
  phone: string | null;
  user_id: string;
  parent_user_id: string | null;
  username: string | null;
  first_seen: Date;
  last_seen: Date;
}

/** Deterministic from (provider, account, phone, user id): the same pair is the same row. */
export function identityId(provider: string, account: string | null, phone: string | null, userId: string): string {
  return hexDigest([provider, account ?? '', phone ?? '', userId], 32);
}

/** The rows the events' sightings make, one per identity (earliest first_seen, latest last_seen and username). */
export function identityRows(events: readonly ProviderEvent[]): IdentityRow[] {
  const rows = new Map<string, IdentityRow>();
  for (const e of events) {
    const seen = e.occurred_at ?? e.received_at;
    for (const s of e.identities ?? []) {
      const account = e.account ?? null;
      const id = identityId(e.provider, account, s.phone, s.user_id);
      const row = rows.get(id);
      if (!row) {
        rows.set(id, { identity_id: id, provider: e.provider, account, phone: s.phone, user_id: s.user_id, parent_user_id: s.parent_user_id,
          username: storableText(s.username), first_seen: seen, last_seen: seen });
        continue;
      }
      if (seen < row.first_seen) row.first_seen = seen;
      if (seen >= row.last_seen) {
        row.last_seen = seen;
        row.username = storableText(s.username) ?? row.username;
        row.parent_user_id = s.parent_user_id ?? row.parent_user_id;
      } else {
        row.username ??= storableText(s.username);
        row.parent_user_id ??= s.parent_user_id;
      }
    }
  }
  return [...rows.values()];
}

/**
 * Inserts new pairs, then widens the seen times of known ones. The update is a statement of its
 * own (not read-modify-write in JS), so concurrent batches on PostgreSQL never move a time back;
 * the username and parent follow the latest sighting.
 */
export async function landIdentities(wh: Warehouse, events: readonly ProviderEvent[]): Promise<void> {
  const rows = identityRows(events);
  if (rows.length === 0) return;
  await wh.insert(IDENTITIES, rows as unknown as Record<string, unknown>[], { ignoreDuplicates: true });
  // Arrays of text (both engines bind those); '' stands for "not given" and never overwrites.
  await wh.query(
    'UPDATE herald.identities AS t SET ' +
    'first_seen = least(t.first_seen, CAST(s.first_seen AS TIMESTAMPTZ)), ' +
    'last_seen = greatest(t.last_seen, CAST(s.last_seen AS TIMESTAMPTZ)), ' +
    "username = CASE WHEN s.username <> '' AND CAST(s.last_seen AS TIMESTAMPTZ) >= t.last_seen THEN s.username ELSE coalesce(t.username, nullif(s.username, '')) END, " +
    "parent_user_id = CASE WHEN s.parent <> '' AND CAST(s.last_seen AS TIMESTAMPTZ) >= t.last_seen THEN s.parent ELSE coalesce(t.parent_user_id, nullif(s.parent, '')) END " +
    'FROM (SELECT unnest($1::text[]) AS identity_id, unnest($2::text[]) AS first_seen, unnest($3::text[]) AS last_seen, ' +
    'unnest($4::text[]) AS username, unnest($5::text[]) AS parent) AS s ' +
    'WHERE t.identity_id = s.identity_id AND (CAST(s.first_seen AS TIMESTAMPTZ) < t.first_seen OR CAST(s.last_seen AS TIMESTAMPTZ) > t.last_seen ' +
    "OR (s.username <> '' AND s.username IS DISTINCT FROM t.username) OR (s.parent <> '' AND s.parent IS DISTINCT FROM t.parent_user_id))",
    [rows.map((r) => r.identity_id), rows.map((r) => r.first_seen.toISOString()), rows.map((r) => r.last_seen.toISOString()),
      rows.map((r) => r.username ?? ''), rows.map((r) => r.parent_user_id ?? '')]);
}

/** A username is the user's own text: NUL (no PostgreSQL text holds it) and lone surrogates would fail the whole batch. */
function storableText(v: string | null): string | null {
  if (v === null) return null;
  const clean = v.replaceAll('\u0000', '').replace(/\p{Surrogate}/gu, '\uFFFD');
  return clean === '' ? null : clean;
}
