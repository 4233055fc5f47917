/** `herald serve` in-process on 127.0.0.1:0 over a given warehouse, with test secrets. */
import { RuntimeConfigSchema, type RuntimeConfig } from '../../src/config/runtime.schema.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { startServe, type ServeHandle } from '../../src/server/serve.js';
import { RUNS, SENDS } from '../../src/warehouse/tables.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { ADA_SECRET, APP_SECRET, INFOBIP_SECRET, VERIFY_TOKEN } from '../webhooks/support.js';

export function testConfig(extra: Record<string, unknown> = {}): RuntimeConfig {
  return RuntimeConfigSchema.parse({
    providers: {
      meta: { app_secret: APP_SECRET, verify_token: VERIFY_TOKEN },
      infobip: { webhook_secret: INFOBIP_SECRET },
      ada: { webhook_secret: ADA_SECRET },
    },
    ...extra,
  });
}

export async function serve(wh: Warehouse, o: { config?: RuntimeConfig; logger?: Logger } = {}): Promise<ServeHandle> {
  return startServe({ config: o.config ?? testConfig(), wh, logger: o.logger ?? silentLogger, port: 0, host: '127.0.0.1' });
}

/** A run with one accepted send per (wamid, recipient), as dispatch would have landed it. */
export async function seedRun(wh: Warehouse, runId: string, sends: { wamid: string; recipient: string; sentAt: Date; status?: string }[]): Promise<void> {
  const now = new Date('2026-01-01T00:00:00Z');
  await wh.insert(RUNS, [{
    run_id: runId, job: 'webhook_test', run_key: runId, status: 'succeeded', dry_run: false, started_at: now, finished_at: now,
    audience: sends.length, rejected: 0, suppressed: 0, duplicate: 0, planned: 0, accepted: sends.length, failed: 0, deferred: 0, unknown: 0, error: null,
  }]);
  await wh.insert(SENDS, sends.map((s, i) => ({
    send_id: `${runId}-s${i}`, run_id: runId, job: 'webhook_test', row_key: `k${i}`, recipient: s.recipient, idempotency_key: `${runId}-i${i}`,
    provider: 'meta', sender: '106540352242922', template: 'welcome_back', language: 'ja', variables: [], status: s.status ?? 'accepted', reason: null,
    error_code: null, error_detail: null, provider_message_id: s.status && s.status !== 'accepted' ? null : s.wamid, attempts: 1, created_at: s.sentAt, sent_at: s.sentAt,
  })));
}

export async function count(wh: Warehouse, sql: string, params: (string | number)[] = []): Promise<number> {
  const [row] = await wh.query<{ n: number | string }>(sql, params);
  return Number(row?.n ?? 0);
}
