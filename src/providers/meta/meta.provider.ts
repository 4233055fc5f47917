/**
 * `meta`: WhatsApp Cloud API. One POST per message to `/{version}/{phone-number-id}/messages`, or
 * `/marketing_messages` (the Marketing Messages API) when the run sends that way (the job's sender
 * is the phone number id); meta.errors.ts reads the answer.
 */
import type { Dispatcher } from 'undici';
import { senderRates, type MetaConfig } from '../../config/runtime.schema.js';
import { ConfigError } from '../../errors.js';
import { HttpClient } from '../http.js';
import type { OutboundMessage, Provider, ProviderTemplate, SendOutcome } from '../provider.js';
import { describeGraphError, graphError, metaSendOutcome } from './meta.errors.js';
import { metaRequestBody, MetaPayloadError } from './meta.payload.js';
import { listMetaTemplates } from './meta.templates.js';
import type { MetaSendRequest } from './meta.wire.js';

export interface MetaProviderOptions {
  /** The runtime config file, for messages about missing settings. */
  configFile: string;
  /** The job's sender, used by `checkCredentials`; absent for commands without a job. */
  phoneNumberId?: string | undefined;
  dispatcher?: Dispatcher | undefined;
}

/** Messages per second of each throughput level Meta reports for a number. */
const THROUGHPUT_LEVELS: Readonly<Record<string, number>> = { STANDARD: 80, HIGH: 1000 };

/** Meta's messaging limit levels in unique users per rolling 24 h (null: unlimited). */
const MESSAGING_TIERS: Readonly<Record<string, number | null>> = {
  TIER_50: 50, TIER_250: 250, TIER_1K: 1000, TIER_2K: 2000, TIER_10K: 10_000, TIER_100K: 100_000, TIER_UNLIMITED: null,
};

export class MetaProvider implements Provider {
  readonly name = 'meta' as const;
  readonly defaultRatePerSecond: number;
  readonly senderRates: Readonly<Record<string, number>>;
  /** Cloud API's highest throughput level (shared/reference/meta-cloud-api.md). */
  readonly maxRatePerSecond = 1000;
  readonly portfolioSenders?: readonly string[];
  private readonly http: HttpClient;

  constructor(private readonly config: MetaConfig, private readonly options: MetaProviderOptions) {
    if (!config.access_token) {
      throw ConfigError.of(options.configFile, 'providers.meta.access_token', 'META_ACCESS_TOKEN is not set: the meta provider needs an access token',
        'export META_ACCESS_TOKEN=… (a system user token with whatsapp_business_messaging)');
    }
    this.defaultRatePerSecond = config.rate_per_second;
    this.senderRates = senderRates(config.senders);
    if (config.portfolio_senders) this.portfolioSenders = config.portfolio_senders;
    this.http = new HttpClient({
      baseUrl: config.base_url,
      headers: { authorization: `Bearer ${config.access_token}` },
      timeoutMs: config.timeout_ms,
      dispatcher: options.dispatcher,
    });
  }

  async send(msg: OutboundMessage): Promise<SendOutcome> {
    let body: MetaSendRequest;
    try {
      body = metaRequestBody(msg);
    } catch (err) {
      // This row's values break a limit: the row fails, the run goes on.
      if (err instanceof MetaPayloadError) return { kind: 'error', action: 'invalid_row', code: 'payload_limit', detail: err.message };
      throw err;
    }
    // The Marketing Messages API takes the same body at its own path (docs/providers/meta-2026.md),
    // plus how long Meta may keep trying: past delivery.not_after the message would arrive too late.
    const marketing = msg.api === 'marketing_messages';
    const payload = marketing && msg.ttlSeconds !== undefined ? { ...body, message_send_ttl_seconds: msg.ttlSeconds } : body;
    const path = `/${this.config.graph_version}/${encodeURIComponent(msg.sender)}/${marketing ? 'marketing_messages' : 'messages'}`;
    return metaSendOutcome(await this.http.request('POST', path, payload, {}, msg.departed));
  }

  /**
   * The number's throughput level (`GET /{phone-number-id}?fields=throughput`): STANDARD is
   * 80 msg/s, HIGH 1,000 (Meta "Throughput"). Undefined when Meta does not say either.
   */
  async senderThroughput(phoneNumberId: string): Promise<{ rate: number; source: string } | undefined> {
    const throughput = await this.numberField(phoneNumberId, 'throughput');
    const level = (throughput as { level?: unknown } | undefined)?.level;
    const rate = typeof level === 'string' ? THROUGHPUT_LEVELS[level] : undefined;
    return rate === undefined ? undefined : { rate, source: `meta throughput ${String(level)}` };
  }

  /**
   * The portfolio's messaging limit: `messaging_limit` from the config, else the number's
   * `whatsapp_business_manager_messaging_limit` (TIER_250 … TIER_UNLIMITED; docs/providers/meta-2026.md).
   */
  async messagingLimit(phoneNumberId: string): Promise<{ limit: number | null; source: string } | undefined> {
    const configured = this.config.messaging_limit;
    if (configured !== undefined) return { limit: configured === 'unlimited' ? null : configured, source: 'providers.meta.messaging_limit' };
    const tier = await this.numberField(phoneNumberId, 'whatsapp_business_manager_messaging_limit');
    if (typeof tier !== 'string' || !(tier in MESSAGING_TIERS)) return undefined;
    return { limit: MESSAGING_TIERS[tier]!, source: `meta ${tier}` };
  }

  /** One field of the phone number's node (`GET /{phone-number-id}?fields=…`); undefined unless Meta answers 200. */
  private async numberField(phoneNumberId: string, field: string): Promise<unknown> {
    const r = await this.http.request('GET', `/${this.config.graph_version}/${encodeURIComponent(phoneNumberId)}?fields=${field}`);
    if (r.kind !== 'response' || r.status !== 200) return undefined;
    return (r.json as Record<string, unknown> | undefined)?.[field];
  }

  async listTemplates(): Promise<ProviderTemplate[]> {
    if (!this.config.waba_id) {
      throw ConfigError.of(this.options.configFile, 'providers.meta.waba_id', 'META_WABA_ID is not set: listing templates needs the WhatsApp Business Account id',
        'export META_WABA_ID=… (WhatsApp Manager → Account tools)');
    }
    return listMetaTemplates(this.http, this.config.graph_version, this.config.waba_id);
  }

  /** Reads the sending number (or else the WABA): proves the token, the version and the id. */
  async checkCredentials(): Promise<{ ok: boolean; detail: string }> {
    const target = this.options.phoneNumberId
      ? { what: 'phone number', id: this.options.phoneNumberId, fields: 'id,display_phone_number' }
      : this.config.waba_id ? { what: 'WABA', id: this.config.waba_id, fields: 'id,name' } : null;
    if (!target) return { ok: false, detail: 'nothing to check against: set META_WABA_ID (or run the check with a job whose sender is the phone number id)' };
    const r = await this.http.request('GET', `/${this.config.graph_version}/${encodeURIComponent(target.id)}?fields=${target.fields}`);
    if (r.kind !== 'response') return { ok: false, detail: `${this.config.base_url}: ${r.detail}` };
    const error = graphError(r.json);
    if (error) return { ok: false, detail: `Meta error ${error.code}: ${describeGraphError(error, r.status)}` };
    const node = r.json as { id?: string; display_phone_number?: string; name?: string } | undefined;
    if (r.status !== 200 || !node?.id) return { ok: false, detail: `unexpected HTTP ${r.status} answer from ${this.config.base_url}` };
    const label = node.display_phone_number ?? node.name;
    return { ok: true, detail: `${target.what} ${node.id}${label ? ` (${label})` : ''} readable with this token, ${this.config.graph_version}` };
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}
