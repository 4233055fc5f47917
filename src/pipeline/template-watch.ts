/**
 * While a run sends, what the provider says about its template: Meta pauses a template whose
 * quality drops, disables it, or files it under another category (and bills it so). `herald
 * serve` lands those webhooks in herald.events (any process may receive them); the run polls
 * them and stops taking new rows when its template may no longer go out as the job meant. Rows
 * not yet sent stay `pending`: the same run key continues once the template is reinstated
 * (pre-flight reads its status again first).
 */
import type { Logger } from '../log.js';
import { sameLanguage } from '../preflight/template-check.js';
import type { Warehouse } from '../warehouse/warehouse.js';

/** Status events after which the template does not go out (Meta's message_template_status_update `event`). */
const STOPS = new Set(['PAUSED', 'DISABLED', 'DELETED', 'PENDING_DELETION', 'REJECTED', 'ARCHIVED', 'LOCKED', 'LIMIT_EXCEEDED']);
/** Status events after which it goes out again. */
const GOES = new Set(['APPROVED', 'REINSTATED', 'UNARCHIVED', 'UNPAUSED']);

export interface TemplateWatchOptions {
  wh: Warehouse;
  provider: string;
  template: { name: string; language: string };
  /** The category the run sends in; a completed re-categorisation away from it stops the run. */
  category: string | null;
  /** Events received from this instant on (the run's start, after pre-flight read the template). */
  since: Date;
  everyMs: number;
  logger: Logger;
}

interface TemplateEventRow {
  event_id: string;
  payload: unknown;
  received_at: Date | string;
}

/** Aborts `signal` with the reason (an Error the run records) when the template stops being sendable. */
export function watchTemplate(o: TemplateWatchOptions): { signal: AbortSignal; close(): void } {
  const stop = new AbortController();
  const seen = new Set<string>();
  let state: { stopped: string | null } = { stopped: null };
  let polling = false;
  const poll = async () => {
    if (polling || stop.signal.aborted) return;
    polling = true;
    try {
      const rows = await o.wh.query<TemplateEventRow>(
        "SELECT event_id, payload, received_at FROM herald.events WHERE provider = $1 AND event_type = 'template' AND received_at >= $2 " +
        "AND (payload->'value'->>'message_template_name') = $3 ORDER BY received_at, event_id",
        [o.provider, o.since, o.template.name]);
      for (const row of rows) {
        if (seen.has(row.event_id)) continue;
        seen.add(row.event_id);
        state = step(state, row, o);
      }
      if (state.stopped) stop.abort(new Error(state.stopped));
    } catch (err) {
      // A warehouse hiccup must not stop a run: the next poll asks again, and the run itself notices a lost warehouse.
      o.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read template events; will try again');
    } finally {
      polling = false;
    }
  };
  const timer = setInterval(() => void poll(), o.everyMs);
  timer.unref();
  return { signal: stop.signal, close: () => clearInterval(timer) };
}

/** The template's state after one more event, in the order they were received. */
function step(state: { stopped: string | null }, row: TemplateEventRow, o: TemplateWatchOptions): { stopped: string | null } {
  const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as { field?: string; value?: Record<string, unknown> } | null;
  const value = payload?.value ?? {};
  const language = typeof value.message_template_language === 'string' ? value.message_template_language : null;
  if (language && !sameLanguage(language, o.template.language)) return state;
  const at = new Date(row.received_at).toISOString();
  const label = `template "${o.template.name}" (${o.template.language})`;
  const rerun = 'the run took no new rows after it; rows not sent stay pending: run again with the same run key';
  switch (payload?.field) {
    case 'message_template_status_update': {
      const event = String(value.event ?? '').toUpperCase();
      const reason = typeof value.reason === 'string' && value.reason !== 'NONE' ? `, reason ${value.reason}` : '';
      if (STOPS.has(event)) return { stopped: `${label} was ${event} by ${o.provider} (webhook received ${at}${reason}); ${rerun} once it is reinstated` };
      if (GOES.has(event)) return { stopped: null };
      return state;
    }
    case 'template_category_update': {
      const next = typeof value.new_category === 'string' ? value.new_category.toLowerCase() : null;
      // The notice 24 h before carries correct_category and no previous_category: only the change itself stops the run.
      if (value.previous_category === undefined || !next) {
        o.logger.warn({ template: o.template.name, value }, 'the provider announced a category change of the run\'s template');
        return state;
      }
      if (o.category && next !== o.category) {
        return { stopped: `${label} was re-categorised from ${String(value.previous_category)} to ${String(value.new_category)} (webhook received ${at}), ` +
          `and the run sends ${o.category}: it is billed differently now. Set message.category: ${next} to accept that; ${rerun}` };
      }
      return state;
    }
    case 'message_template_quality_update':
      o.logger.warn({ template: o.template.name, from: value.previous_quality_score, to: value.new_quality_score }, 'the run\'s template changed quality');
      return state;
    default:
      return state;
  }
}
