/**
 * `herald check`: every configured warehouse answers, and every configured provider accepts its
 * credentials (one cheap authenticated call each), and Meta's Graph API version is not retired
 * (a warning 90 days ahead). Exit 1 when anything configured fails; warnings do not fail.
 * `--json`: `{ok, checks: [{what, status: ok|fail|warn|skip, detail}]}` on stdout instead of lines.
 */
import { loadConfig } from '../config/load.js';
import type { ProviderName } from '../config/runtime.schema.js';
import { ConfigError, errorMessage } from '../errors.js';
import { graphVersionVerdict } from '../providers/meta/graph-versions.js';
import { createProvider } from '../providers/registry.js';
import { openWarehouse } from '../warehouse/open.js';

export interface CheckResult {
  what: string;
  status: 'ok' | 'fail' | 'warn' | 'skip';
  detail: string;
}

export async function checkCommand(flags: Record<string, unknown> = {}): Promise<number> {
  const config = loadConfig();
  const checks: CheckResult[] = [];
  const report = (ok: boolean | null | 'warn', what: string, detail: string) => {
    const status = ok === null ? 'skip' : ok === 'warn' ? 'warn' : ok ? 'ok' : 'fail';
    checks.push({ what, status, detail });
    if (flags.json !== true) console.log(`${status === 'ok' ? 'ok  ' : status === 'skip' ? 'skip' : status.toUpperCase()} ${what.padEnd(22)} ${detail}`);
  };
  for (const [name, { url }] of Object.entries(config.config.warehouses)) {
    try {
      const wh = await openWarehouse(url);
      await wh.query('SELECT 1 AS ok');
      report(true, `warehouse ${name}`, wh.description);
      await wh.close();
    } catch (err) {
      report(false, `warehouse ${name}`, errorMessage(err));
    }
  }
  for (const name of Object.keys(config.config.providers) as ProviderName[]) {
    let provider;
    try {
      provider = createProvider(name, config, { events: async () => undefined }, config.file);
    } catch (err) {
      // A provider nobody configured is not a failure: say what it would need.
      report(null, `provider ${name}`, `not configured: ${err instanceof ConfigError ? err.problems[0]?.message : errorMessage(err)}`);
      continue;
    }
    try {
      if (!provider.checkCredentials) report(true, `provider ${name}`, 'nothing to check');
      else {
        const result = await provider.checkCredentials();
        report(result.ok, `provider ${name}`, result.detail);
      }
    } catch (err) {
      report(false, `provider ${name}`, errorMessage(err));
    } finally {
      await provider.close();
    }
    if (name === 'meta') {
      const verdict = graphVersionVerdict(config.config.providers.meta.graph_version, new Date());
      report(verdict.level === 'warn' ? 'warn' : verdict.level === 'ok', 'meta graph_version', verdict.detail);
    }
  }
  const failed = checks.some((c) => c.status === 'fail');
  if (flags.json === true) console.log(JSON.stringify({ ok: !failed, checks }));
  return failed ? 1 : 0;
}
