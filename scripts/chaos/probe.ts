/**
 * Before the scenarios: the built herald answers, and which `delivery.unknown_resend_after` it
 * accepts. The suite wants the shortest (seconds if the build takes them) so that a re-run may
 * send what a crash left unknown without a 15-minute wait; `herald validate` on a sandbox job
 * tells, without a provider.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup } from './cleanup.js';
import { lastLines, spawnHerald } from './herald.js';
import { DuckDbFile, SEGMENT_SQL } from './warehouse.js';
import type { HeraldTraits } from './world.js';

const CANDIDATES: [string, number][] = [['10s', 10_000], ['1m', 60_000]];

export async function probeHerald(dir: string): Promise<HeraldTraits> {
  mkdirSync(dir, { recursive: true });
  const wh = DuckDbFile.in(dir);
  await wh.load([{ customer_id: 'c1', phone: '+12015550100', first_name: 'Ava', whatsapp_opt_in: 'true', ord: 0, recipient: '12015550100', consent: true }]);
  writeFileSync(join(dir, 'segment.sql'), SEGMENT_SQL);
  const config = join(dir, 'herald.yaml');
  writeFileSync(config, `warehouses:\n  default:\n    url: ${JSON.stringify(wh.url)}\n`);
  const cleanup = new Cleanup();
  try {
    const validate = async (resendAfter: string | null): Promise<{ ok: boolean; log: string }> => {
      const job = join(dir, 'probe.yaml');
      writeFileSync(job, [
        'name: chaos_probe', `source: { sql: ${JSON.stringify(join(dir, 'segment.sql'))} }`,
        'audience: { key: customer_id, phone: phone, default_region: US, consent: whatsapp_opt_in }',
        'message: { provider: sandbox, sender: "15550001234", template: { name: chaos_notice, language: en_US }, body: [ { column: first_name } ] }',
        `delivery: { rate_per_second: 100${resendAfter ? `, unknown_resend_after: ${resendAfter}` : ''} }`, '',
      ].join('\n'));
      const logFile = join(dir, 'validate.log');
      const env = { ...process.env, HERALD_CONFIG: config, HERALD_LOG_LEVEL: 'warn', HERALD_CACHE_DIR: join(dir, 'cache') };
      const proc = spawnHerald(['validate', job], { env, logFile, pidFile: join(dir, '..', 'children.pids'), cleanup });
      const exit = await proc.exited;
      return { ok: exit.code === 0, log: lastLines(logFile, 20) };
    };
    for (const [value, ms] of CANDIDATES) {
      if ((await validate(value)).ok) return { resendAfter: value, resendAfterMs: ms };
    }
    const plain = await validate(null);
    if (!plain.ok) throw new Error(`herald validate fails on the chaos job even without unknown_resend_after (is the build broken?):\n${plain.log}`);
    return { resendAfter: null, resendAfterMs: 0 };
  } finally {
    await cleanup.run();
  }
}
