/** `herald check`: every configured warehouse answers, and each provider's configuration is usable. */
import { loadConfig, providerSection, requireSection } from '../config/load.js';
import type { ProviderName } from '../config/runtime.schema.js';
import { errorMessage } from '../errors.js';
import { openWarehouse } from '../warehouse/open.js';

export async function checkCommand(): Promise<number> {
  const config = loadConfig();
  let failures = 0;
  const report = (ok: boolean | null, what: string, detail: string) => {
    if (ok === false) failures++;
    console.log(`${ok === null ? 'skip' : ok ? 'ok  ' : 'FAIL'} ${what.padEnd(22)} ${detail}`);
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
  for (const provider of Object.keys(config.config.providers) as ProviderName[]) {
    if (provider === 'sandbox') {
      report(true, 'provider sandbox', 'in-process simulator, nothing to check');
      continue;
    }
    try {
      requireSection(config, providerSection(provider));
      report(null, `provider ${provider}`, 'adapter not in this version; configuration read');
    } catch (err) {
      report(null, `provider ${provider}`, `not configured: ${errorMessage(err).split('\n')[0]}`);
    }
  }
  return failures > 0 ? 1 : 0;
}
