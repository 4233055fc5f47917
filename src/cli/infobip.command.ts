/**
 * `herald infobip share-waba <WABA id>`: after Meta's embedded signup, shares the customer's
 * WhatsApp Business Account with Infobip (POST /whatsapp/1/embedded-signup/registrations/share-waba,
 * answered 202 Accepted; registration then goes on asynchronously). `--json`: the answer as JSON on stdout.
 */
import type { Dispatcher } from 'undici';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { describeFailure } from '../providers/infobip/infobip.errors.js';
import { infobipHttp } from '../providers/infobip/infobip.provider.js';
import { PATHS } from '../providers/infobip/infobip.wire.js';

const USAGE = 'herald infobip share-waba <WABA id>';

export interface InfobipCommandDeps {
  env?: NodeJS.ProcessEnv;
  /** Provider HTTP goes through this when given (tests). */
  dispatcher?: Dispatcher;
}

export async function infobipCommand(positionals: string[], flags: Record<string, unknown> = {}, deps: InfobipCommandDeps = {}): Promise<number> {
  const [sub, wabaId, ...extra] = positionals;
  if (sub !== 'share-waba') {
    throw ConfigError.of('herald infobip', '', sub === undefined ? 'name a subcommand' : `unknown subcommand "${sub}"`, `usage: ${USAGE}`);
  }
  if (wabaId === undefined || extra.length > 0) throw ConfigError.of('herald infobip share-waba', '', 'give exactly one WABA id', `usage: ${USAGE}`);
  if (!/^\d+$/.test(wabaId)) throw ConfigError.of('herald infobip share-waba', '', `"${wabaId}" is not a WABA id`, 'a WhatsApp Business Account id is digits, e.g. 102290129340398');
  const loaded = loadConfig(deps.env);
  const http = infobipHttp(loaded.config.providers.infobip, loaded.file, deps.dispatcher);
  try {
    const r = await http.request('POST', PATHS.shareWaba, { businessAccountId: wabaId });
    if (r.kind === 'response' && r.status >= 200 && r.status < 300) {
      const body = r.text.trim();
      if (flags.json === true) {
        console.log(JSON.stringify({ ok: true, waba_id: wabaId, status: r.status, body: r.json ?? (body || null) }));
        return 0;
      }
      console.log(`shared WABA ${wabaId} with Infobip: HTTP ${r.status}${r.status === 202 ? ' Accepted' : ''}${body ? ` ${body}` : ''}`);
      return 0;
    }
    console.error(`herald infobip share-waba: Infobip refused WABA ${wabaId}: ${describeFailure(r)}`);
    if (flags.json === true) console.log(JSON.stringify({ ok: false, waba_id: wabaId, status: r.kind === 'response' ? r.status : null, error: describeFailure(r) }));
    return 1;
  } finally {
    await http.close();
  }
}
