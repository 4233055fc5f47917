/**
 * `ada`: WhatsApp through ADA's Business Messaging Platform, one message per request at ADA's
 * 5 messages/s. ADA has no report API and publishes no error codes: 401/403 abort the run, 429
 * slows down, 5xx retries, any other 4xx fails the row with ADA's code (or `http:<status>`).
 */
import type { LoadedConfig } from '../../config/load.js';
import { senderRates, ADA_MAX_RATE_PER_SECOND, type AdaConfig } from '../../config/runtime.schema.js';
import { ConfigError } from '../../errors.js';
import { HttpClient, genericOutcome, retryAfterMs, type HttpOutcome } from '../http.js';
import type { ErrorAction, OutboundMessage, Provider, SendOutcome } from '../provider.js';
import type { ProviderDeps } from '../registry.js';
import { adaBody, atPath } from './ada.payload.js';
import { adaCheckVerdict, type CredentialCheck } from './ada.check.js';

export class AdaProvider implements Provider {
  readonly name = 'ada' as const;
  readonly defaultRatePerSecond: number;
  readonly senderRates: Readonly<Record<string, number>>;
  readonly maxRatePerSecond = ADA_MAX_RATE_PER_SECOND;

  constructor(private readonly config: AdaConfig, private readonly http: HttpClient) {
    this.defaultRatePerSecond = config.rate_per_second;
    this.senderRates = senderRates(config.senders);
  }

  async send(msg: OutboundMessage): Promise<SendOutcome> {
    const built = adaBody(msg, this.config);
    // A problem of this row's values fails the row; one every row of the job shares stops the run.
    if ('problem' in built) return { kind: 'error', action: built.everyRow ? 'fix_request' : 'invalid_row', code: 'invalid_parameter', detail: built.problem };
    return adaOutcome(await this.http.request('POST', this.config.send_path, built.body, {}, msg.departed), this.config);
  }

  /** A send without a recipient: proves reachability and the key, sends nothing (ada.check.ts). */
  async checkCredentials(): Promise<CredentialCheck> {
    const r = await this.http.request('POST', this.config.send_path, { platform: this.config.platform });
    return adaCheckVerdict(r, `POST ${this.config.base_url.replace(/\/+$/, '')}${this.config.send_path}`);
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

export function adaOutcome(r: HttpOutcome, config: AdaConfig): SendOutcome {
  if (r.kind !== 'response' || r.json === undefined || r.json === null || typeof r.json !== 'object' || (r.status >= 300 && r.status < 400)) {
    return genericOutcome(r) ?? { kind: 'unknown', detail: 'unreadable answer' };
  }
  const { status, json } = r;
  if (status >= 200 && status < 300) {
    const id = atPath(json, config.message_id_path);
    if (typeof id === 'string' || typeof id === 'number') return { kind: 'accepted', providerMessageId: String(id) };
    // Taken, but the id is not where the config says: keep the row accepted and say so.
    return { kind: 'accepted', providerMessageId: '', detail: `no_message_id_at:${config.message_id_path}` };
  }
  const found = atPath(json, config.error_code_path);
  const code = typeof found === 'string' || typeof found === 'number' ? String(found) : `http:${status}`;
  const message = atPath(json, 'message') ?? atPath(json, 'error');
  const detail = `HTTP ${status}: ${typeof message === 'string' ? message : r.text.replace(/\s+/g, ' ').trim().slice(0, 200)}`;
  const wait = retryAfterMs(r.headers);
  const after = wait === undefined ? {} : { retryAfterMs: wait };
  const action: ErrorAction = status === 401 || status === 403 ? 'abort' : status === 429 ? 'slow_down' : status >= 500 || status === 408 ? 'retry' : 'permanent';
  return { kind: 'error', action, code, detail, ...(action === 'retry' || action === 'slow_down' ? after : {}) };
}

export function createAdaProvider(loaded: LoadedConfig, deps: ProviderDeps, jobFile: string): AdaProvider {
  const config = loaded.config.providers.ada;
  if (!config.api_key) {
    throw ConfigError.of(loaded.file, 'providers.ada.api_key', 'ADA_API_KEY is not set', 'export ADA_API_KEY=… (the API key from the ADA console)');
  }
  const m = deps.message;
  if (m?.header || (m?.buttons.length ?? 0) > 0) {
    throw ConfigError.of(jobFile, m?.header ? 'message.header' : 'message.buttons',
      'the ada provider sends body parameters only: ADA\'s fields for header and button parameters are not public',
      'remove them, or send this template through meta or infobip');
  }
  return new AdaProvider(config, new HttpClient({
    baseUrl: config.base_url,
    timeoutMs: config.timeout_ms,
    headers: { authorization: `Bearer ${config.api_key}` },
    ...(deps.dispatcher ? { dispatcher: deps.dispatcher } : {}),
  }));
}
