/**
 * The `herald` schema (DESIGN "Tables"): one description of every table, from which both engines'
 * DDL and batched writes are derived, so DuckDB and PostgreSQL never drift apart.
 */

export type ColumnType = 'text' | 'integer' | 'boolean' | 'timestamptz' | 'json';

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  notNull?: boolean;
}

export interface TableSpec {
  /** Unqualified name; the table lives in schema `herald`. */
  name: string;
  columns: readonly ColumnSpec[];
  /** Column that identifies a row (primary key in PostgreSQL; match column for updates). */
  key: string;
  /** Extra PostgreSQL indexes: column lists, or partial indexes. DuckDB scans instead (indexes cost it memory). */
  pgIndexes?: readonly (readonly string[] | PartialIndex)[];
  /** PostgreSQL unique constraints (as unique indexes), for ON CONFLICT on them. */
  pgUnique?: readonly (readonly string[])[];
  /** Indexes an older herald made that nothing reads any more: migrations drop them. */
  pgDroppedIndexes?: readonly string[];
}

/**
 * An index of only the rows the queries using it look for. PostgreSQL uses it when a query's
 * conditions imply `where`; a row outside it costs its insert nothing.
 */
export interface PartialIndex {
  name: string;
  columns: readonly string[];
  where: string;
}

const col = (name: string, type: ColumnType, notNull = false): ColumnSpec => ({ name, type, notNull });

export const RUNS: TableSpec = {
  name: 'runs',
  key: 'run_id',
  columns: [
    col('run_id', 'text', true), col('job', 'text', true), col('run_key', 'text', true), col('status', 'text', true),
    col('dry_run', 'boolean', true), col('started_at', 'timestamptz', true), col('finished_at', 'timestamptz'),
    col('audience', 'integer'), col('rejected', 'integer'), col('suppressed', 'integer'), col('duplicate', 'integer'),
    col('planned', 'integer'), col('accepted', 'integer'), col('failed', 'integer'), col('deferred', 'integer'),
    col('unknown', 'integer'), col('error', 'text'),
    // Appended later (migrate.ts adds missing columns to existing tables, at the end).
    col('pending', 'integer'), col('in_flight', 'integer'),
    // A run planned into parts (POST /runs and schedules on PostgreSQL): how many, and the
    // segment params its workers bind. Null for a run made whole by `herald run`.
    col('parts', 'integer'), col('params', 'json'),
  ],
  pgIndexes: [['job', 'run_key']],
  // One run per (job, run key) whichever instance is asked: enqueueing is INSERT … ON CONFLICT.
  pgUnique: [['job', 'run_key']],
};

/**
 * One row per part of a run planned into parts (src/runs/run-queue.ts). A part is claimed by one
 * worker at a time for a lease it renews; a lease that runs out lets another worker resume it.
 */
export const RUN_PARTS: TableSpec = {
  name: 'run_parts',
  key: 'part_id',
  columns: [
    col('part_id', 'text', true), col('run_id', 'text', true), col('part', 'integer', true), col('parts', 'integer', true),
    // queued | running | succeeded | failed | aborted
    col('status', 'text', true), col('claimed_by', 'text'), col('lease_until', 'timestamptz'), col('attempts', 'integer', true),
    col('started_at', 'timestamptz'), col('finished_at', 'timestamptz'), col('error', 'text'),
  ],
  pgIndexes: [['run_id'], ['status', 'lease_until']],
};

export const SENDS: TableSpec = {
  name: 'sends',
  key: 'send_id',
  columns: [
    col('send_id', 'text', true), col('run_id', 'text', true), col('job', 'text', true), col('row_key', 'text', true),
    col('recipient', 'text'), col('idempotency_key', 'text', true), col('provider', 'text', true), col('sender', 'text'),
    col('template', 'text'), col('language', 'text'), col('variables', 'json'), col('status', 'text', true),
    col('reason', 'text'), col('error_code', 'text'), col('error_detail', 'text'), col('provider_message_id', 'text'),
    col('attempts', 'integer', true), col('created_at', 'timestamptz', true), col('sent_at', 'timestamptz'),
    // Appended later: until when the job leaves this key alone (a permanent failure, a deferral).
    col('not_before', 'timestamptz'),
    // Appended for WhatsApp 2026 (issue 12): the API path the send took (Meta `messages` or
    // `marketing_messages`), and the recipient's ISO region (from the number, or a BSUID's prefix)
    // for country rules and costs. `recipient` is the E.164 number, or the BSUID a row gave instead.
    col('api', 'text'), col('country', 'text'),
  ],
  pgIndexes: [['job', 'idempotency_key'], ['run_id', 'row_key'], ['provider_message_id']],
};

export const EVENTS: TableSpec = {
  name: 'events',
  key: 'event_id',
  columns: [
    col('event_id', 'text', true), col('provider', 'text', true), col('event_type', 'text', true),
    col('provider_message_id', 'text'), col('recipient', 'text'), col('occurred_at', 'timestamptz'),
    col('received_at', 'timestamptz', true), col('error_code', 'text'), col('error_detail', 'text'),
    col('pricing_category', 'text'), col('payload', 'json'),
    // Appended later: herald's send id when the provider echoes it (Meta biz_opaque_callback_data,
    // Infobip callbackData / messageId), so a webhook settles a send whose outcome was unknown.
    col('send_id', 'text'),
    // Appended for WhatsApp 2026 (issue 12): the business-scoped user id (BSUID) when the provider
    // gives one (the only identity of a username-only user), the account the event came through
    // (Meta: the WABA id of the entry), and a status's pricing (billable, PMP, regular / free_…).
    col('user_id', 'text'), col('account', 'text'),
    col('billable', 'boolean'), col('pricing_model', 'text'), col('pricing_type', 'text'),
    // A failed status the provider files as "not now" (Meta 131049): the send is deferred until then.
    col('defer_until', 'timestamptz'),
  ],
  // Each index is paid by every insert (random keys: ~1 B-tree page touched, and WAL, per row), so
  // only what queries read. event_id, the primary key, stores each event once (ON CONFLICT).
  // - provider_message_id: unknown sends released when later sends got events (pipeline/land.ts).
  // - recipient: consent (consent/apply.ts) and the 24 h window (store/inbound.store.ts) read only
  //   inbound and consent events, a small share: status events stay out of the index.
  // - send_id: unknown sends settled by events that echo it (pipeline/land.ts joins on it, which
  //   implies NOT NULL); events without one stay out.
  // Nothing reads events by user_id (identities and suppressions have their own tables).
  pgIndexes: [
    ['provider_message_id'],
    { name: 'events_inbound_consent_recipient_idx', columns: ['recipient', 'event_type'], where: "event_type IN ('inbound', 'opted_out', 'opted_in')" },
    { name: 'events_echoed_send_id_idx', columns: ['send_id'], where: 'send_id IS NOT NULL' },
  ],
  pgDroppedIndexes: ['events_recipient_event_type_idx', 'events_send_id_idx', 'events_user_id_idx'],
};

/**
 * Every phone ↔ business-scoped user id pair a webhook showed (Meta, from April 2026): one row per
 * (provider, account, phone, user id), with when it was first and last seen. A username-only user
 * has no phone; a changed number gives a new BSUID (`user_changed_number`). Suppressions by either
 * identity reach the other through this table.
 */
export const IDENTITIES: TableSpec = {
  name: 'identities',
  key: 'identity_id',
  columns: [
    col('identity_id', 'text', true), col('provider', 'text', true), col('account', 'text'), col('phone', 'text'),
    col('user_id', 'text'), col('parent_user_id', 'text'), col('username', 'text'),
    col('first_seen', 'timestamptz', true), col('last_seen', 'timestamptz', true),
  ],
  pgIndexes: [['phone'], ['user_id'], ['parent_user_id']],
};

/** One row per suppressed identity: `recipient` is an E.164 number or a BSUID (`US.1349…`). */
export const SUPPRESSIONS: TableSpec = {
  name: 'suppressions',
  key: 'recipient',
  columns: [col('recipient', 'text', true), col('reason', 'text', true), col('source_event_id', 'text'), col('created_at', 'timestamptz', true)],
};

/**
 * The rate card herald prices sends with (src/cost/rate-card.ts), mirrored from its CSV file by
 * `herald run` and `herald report`: one row per (provider, country or `*`, category, effective_from).
 * `price` is the decimal as written (text: exact, and no numeric column type is needed for one
 * table); herald.send_costs casts it.
 */
export const RATE_CARD: TableSpec = {
  name: 'rate_card',
  key: 'rate_id',
  columns: [
    col('rate_id', 'text', true), col('provider', 'text', true), col('country', 'text', true), col('category', 'text', true),
    col('currency', 'text', true), col('price', 'text', true), col('effective_from', 'timestamptz', true), col('source', 'text'),
  ],
};

export const TABLES = [RUNS, SENDS, EVENTS, SUPPRESSIONS, RUN_PARTS, IDENTITIES, RATE_CARD] as const;

/**
 * Views over the tables; portable SQL that both engines accept. Columns are only ever appended
 * (PostgreSQL's CREATE OR REPLACE VIEW keeps existing columns in place).
 */
export const VIEWS: readonly { name: string; sql: string }[] = [
  {
    // One row per send. Latest status by precedence failed > read > delivered > sent > accepted,
    // never by arrival order (events come out of order and twice, and `delivered` may never come
    // when `read` does); delivered_at is the first `delivered` or `read`. Replied: an inbound
    // message whose context is this send's message, or any inbound from the recipient after this
    // send and before the next accepted send to them (in any run; of two sends at the same instant
    // the one with the greater send_id is the later).
    //
    // Shaped for a 1,000,000-send run's funnel at DuckDB's 128MB and PostgreSQL's 4MB work_mem
    // (bench/report.ts):
    // - per_message: the events, aggregated per provider message id BEFORE the join, so that the
    //   join to sends is 1:1 and nothing groups the joined rows. Grouping the join by every send
    //   column instead needed 512MB on DuckDB and an on-disk sort of all joined rows on PostgreSQL.
    //   `seen` has a bit per status event type (1 sent, 2 delivered, 4 read, 8 failed, 16 clicked).
    // - recipient_replies: one window over a timeline per recipient of their accepted sends and
    //   their inbound messages, sends first at the same instant. A send's next row is its first
    //   reply if that row is an inbound message (then it is in the send's window) and no reply if
    //   it is the next send. Only recipients who ever wrote in are on it. The window sees the
    //   recipient's sends of every run (so no run filter gets in); it replaces a join of every
    //   inbound message to every send to its recipient, which grew with their product.
    // - `inbound` is a CTE inside recipient_replies, not at the top: used twice, it is scanned
    //   once, and DuckDB, which drops unused columns and aggregates everywhere except around a
    //   materialized CTE, then drops them from per_message and the scan of sends as well (at the
    //   top it kept them all, and the funnel spilled three times as much).
    // - A filter on run_id (run_funnel WHERE run_id = $1) reaches the scan of herald.sends s on
    //   both engines (test/views-plan.test.ts); per_message and the replies are computed whole.
    // Joins are plain equalities (NULL matches nothing): a condition on one side only, such as
    // `s.provider_message_id IS NOT NULL`, turned DuckDB's hash join into a nested loop, and the
    // funnel of a 300,000-send run took 140 s instead of 0.2 s.
    name: 'message_status',
    sql: `
      WITH per_message AS (
        SELECT provider_message_id,
          bit_or(CASE event_type WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 4 WHEN 'failed' THEN 8 WHEN 'clicked' THEN 16 ELSE 0 END) AS seen,
          min(occurred_at) FILTER (WHERE event_type IN ('delivered', 'read')) AS delivered_at,
          min(occurred_at) FILTER (WHERE event_type = 'read') AS read_at,
          min(occurred_at) FILTER (WHERE event_type = 'failed') AS failed_at,
          max(error_code) FILTER (WHERE event_type = 'failed') AS failure_code,
          min(occurred_at) FILTER (WHERE event_type = 'clicked') AS clicked_at
        FROM herald.events
        GROUP BY provider_message_id
      ),
      context_replies AS (
        SELECT payload->'context'->>'id' AS context_id, min(occurred_at) AS replied_at
        FROM herald.events
        WHERE event_type = 'inbound'
        GROUP BY payload->'context'->>'id'
      ),
      recipient_replies AS (
        WITH inbound AS (
          SELECT recipient, occurred_at FROM herald.events WHERE event_type = 'inbound'
        ),
        timeline AS (
          SELECT recipient, sent_at AS moment, 0 AS kind, send_id, CAST(NULL AS TIMESTAMPTZ) AS inbound_at
          FROM herald.sends
          WHERE status = 'accepted' AND sent_at IS NOT NULL AND recipient IN (SELECT recipient FROM inbound)
          UNION ALL
          SELECT recipient, occurred_at, 1, NULL, occurred_at
          FROM inbound
          WHERE recipient IS NOT NULL AND occurred_at IS NOT NULL
        )
        SELECT send_id, min(replied_at) AS replied_at
        FROM (SELECT send_id, lead(inbound_at) OVER (PARTITION BY recipient ORDER BY moment, kind, send_id) AS replied_at FROM timeline) t
        WHERE send_id IS NOT NULL AND replied_at IS NOT NULL
        GROUP BY send_id
      )
      SELECT s.send_id, s.run_id, s.job, s.row_key, s.recipient, s.provider, s.provider_message_id, s.status AS send_status,
        CASE
          WHEN s.status <> 'accepted' THEN s.status
          WHEN (m.seen & 8) <> 0 THEN 'failed'
          WHEN (m.seen & 4) <> 0 THEN 'read'
          WHEN (m.seen & 2) <> 0 THEN 'delivered'
          WHEN (m.seen & 1) <> 0 THEN 'sent'
          ELSE 'accepted'
        END AS status,
        s.sent_at, m.delivered_at, m.read_at, m.failed_at,
        coalesce((m.seen & 16) <> 0, false) AS clicked,
        m.failure_code,
        least(c.replied_at, r.replied_at) IS NOT NULL AS replied,
        least(c.replied_at, r.replied_at) AS replied_at,
        m.clicked_at
      FROM herald.sends s
      LEFT JOIN per_message m ON m.provider_message_id = s.provider_message_id
      LEFT JOIN context_replies c ON c.context_id = s.provider_message_id
      LEFT JOIN recipient_replies r ON r.send_id = s.send_id`,
  },
  {
    // Rates: delivered, read, clicked and replied per accepted send; failed per attempted send
    // (accepted, or failed when sending). The sends are counted per run before the join to
    // herald.runs, so nothing carries the run's columns through a million rows; a filter on
    // run_id reaches herald.sends through the join.
    name: 'run_funnel',
    sql: `
      SELECT r.run_id, r.job, r.run_key, r.status AS run_status, r.dry_run, r.started_at, r.finished_at,
        coalesce(m.audience, 0) AS audience,
        coalesce(m.rejected, 0) AS rejected,
        coalesce(m.suppressed, 0) AS suppressed,
        coalesce(m.duplicate, 0) AS duplicate,
        coalesce(m.planned, 0) AS planned,
        coalesce(m.accepted, 0) AS accepted,
        coalesce(m.delivered, 0) AS delivered,
        coalesce(m.read, 0) AS read,
        coalesce(m.failed, 0) AS failed,
        coalesce(m.deferred, 0) AS deferred,
        coalesce(m.unknown, 0) AS unknown,
        coalesce(m.clicked, 0) AS clicked,
        CAST(m.delivered AS DOUBLE PRECISION) / NULLIF(m.accepted, 0) AS delivery_rate,
        CAST(m.read AS DOUBLE PRECISION) / NULLIF(m.accepted, 0) AS read_rate,
        coalesce(m.replied, 0) AS replied,
        CAST(m.failed AS DOUBLE PRECISION) / NULLIF(m.attempted, 0) AS failure_rate,
        CAST(m.clicked AS DOUBLE PRECISION) / NULLIF(m.accepted, 0) AS click_rate,
        CAST(m.replied AS DOUBLE PRECISION) / NULLIF(m.accepted, 0) AS reply_rate
      FROM herald.runs r
      LEFT JOIN (
        SELECT run_id,
          count(*) AS audience,
          count(*) FILTER (WHERE send_status = 'rejected') AS rejected,
          count(*) FILTER (WHERE send_status = 'suppressed') AS suppressed,
          count(*) FILTER (WHERE send_status = 'duplicate') AS duplicate,
          count(*) FILTER (WHERE send_status = 'planned') AS planned,
          count(*) FILTER (WHERE send_status = 'accepted') AS accepted,
          count(*) FILTER (WHERE send_status IN ('accepted', 'failed')) AS attempted,
          count(*) FILTER (WHERE status IN ('delivered', 'read')) AS delivered,
          count(*) FILTER (WHERE status = 'read') AS read,
          count(*) FILTER (WHERE status = 'failed') AS failed,
          count(*) FILTER (WHERE send_status = 'deferred') AS deferred,
          count(*) FILTER (WHERE send_status = 'unknown') AS unknown,
          count(*) FILTER (WHERE clicked) AS clicked,
          count(*) FILTER (WHERE replied) AS replied
        FROM herald.message_status
        GROUP BY run_id
      ) m ON m.run_id = r.run_id`,
  },
  {
    // One row per send that a status priced (Meta's `pricing`, per-message pricing), with its cost
    // from herald.rate_card. A send is billed once: Meta puts `pricing` on one status per message,
    // but older versions put it on sent, delivered and read alike, and webhooks come twice, so
    // `priced` keeps one event per message: the first billable one, else the first. A status
    // without `billable` (Meta calls the field deprecated) is billable when its type is `regular`
    // (not free_customer_service / free_entry_point). `marketing_lite` (Marketing Messages API,
    // unconfirmed) is billed as marketing. The rate: the send's country, else the `*` row, of the
    // provider and category, the latest effective_from at or before the priced status's time.
    // The country and the `*` row are two equi-joins (a join on `country IN (s.country, '*')`
    // would pair every send with every country's rows); the rate card is small, so each send
    // meets only its few versions. cost: 0 when not billable, null when billable but unpriced.
    name: 'send_costs',
    sql: `
      WITH priced AS (
        SELECT provider, provider_message_id, category, billable, pricing_type, priced_at FROM (
          SELECT provider, provider_message_id, pricing_type,
            CASE pricing_category WHEN 'marketing_lite' THEN 'marketing' ELSE pricing_category END AS category,
            coalesce(billable, pricing_type = 'regular', false) AS billable,
            coalesce(occurred_at, received_at) AS priced_at,
            row_number() OVER (PARTITION BY provider, provider_message_id
              ORDER BY CASE WHEN coalesce(billable, pricing_type = 'regular', false) THEN 0 ELSE 1 END, coalesce(occurred_at, received_at), event_id) AS n
          FROM herald.events
          WHERE pricing_category IS NOT NULL OR billable IS NOT NULL
        ) e
        WHERE n = 1
      ),
      billed AS (
        SELECT s.send_id, s.run_id, s.job, s.provider, s.country, p.category, p.billable, p.pricing_type, p.priced_at
        FROM herald.sends s
        JOIN priced p ON p.provider = s.provider AND p.provider_message_id = s.provider_message_id
      ),
      candidates AS (
        SELECT b.send_id, 0 AS fallback, r.effective_from, r.currency, r.price
        FROM billed b
        JOIN herald.rate_card r ON r.provider = b.provider AND r.category = b.category AND r.country = b.country
        WHERE r.effective_from <= b.priced_at
        UNION ALL
        SELECT b.send_id, 1 AS fallback, r.effective_from, r.currency, r.price
        FROM billed b
        JOIN herald.rate_card r ON r.provider = b.provider AND r.category = b.category
        WHERE r.country = '*' AND r.effective_from <= b.priced_at
      ),
      rate AS (
        SELECT send_id, currency, price FROM (
          SELECT send_id, currency, price, row_number() OVER (PARTITION BY send_id ORDER BY fallback, effective_from DESC) AS n
          FROM candidates
        ) c
        WHERE n = 1
      )
      SELECT b.send_id, b.run_id, b.job, b.provider, b.country, b.category, b.billable, b.pricing_type, b.priced_at,
        r.currency,
        CAST(r.price AS DECIMAL(18, 6)) AS rate,
        CASE WHEN b.billable THEN CAST(r.price AS DECIMAL(18, 6)) ELSE CAST(0 AS DECIMAL(18, 6)) END AS cost
      FROM billed b
      LEFT JOIN rate r ON r.send_id = b.send_id`,
  },
  {
    // The fatigue signal (Meta 131049, the per-user marketing limit): per recipient and job, how
    // many sends Meta deferred and when the last was. The error code stays on the deferred send
    // whether it came in the send's answer or in a failed status later (src/pipeline/land.ts);
    // the time is the status's when there is one, else when the send was made.
    name: 'marketing_fatigue',
    sql: `
      SELECT s.recipient, s.job, count(*) AS deferrals, max(coalesce(f.failed_at, s.sent_at, s.created_at)) AS last_deferred_at
      FROM herald.sends s
      LEFT JOIN (
        SELECT provider, provider_message_id, max(coalesce(occurred_at, received_at)) AS failed_at
        FROM herald.events
        WHERE error_code = '131049'
        GROUP BY provider, provider_message_id
      ) f ON f.provider = s.provider AND f.provider_message_id = s.provider_message_id
      WHERE s.status = 'deferred' AND s.error_code = '131049'
      GROUP BY s.recipient, s.job`,
  },
];
