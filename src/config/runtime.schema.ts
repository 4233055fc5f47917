/**
 * `config/herald.yaml` (DESIGN "Runtime configuration"): named warehouses and providers. Values
 * come from the environment through `${VAR}`; a provider whose variables are unset is only an
 * error when a job uses it.
 */
import { z } from 'zod';

const url = z.string().url();

/**
 * How a provider without request signing proves a webhook is its own: `basic` (Authorization:
 * Basic, password = webhook_secret, user checked when webhook_user is set), `header` (header
 * `webhook_header` = webhook_secret) or `query` (`?secret=` in the URL, for consoles that only take a URL).
 */
function webhookAuthFields(mode: 'basic' | 'header' | 'query') {
  return {
    webhook_auth: z.enum(['basic', 'header', 'query']).default(mode),
    webhook_user: z.string().optional(),
    webhook_header: z.string().min(1).default('x-webhook-secret'),
  };
}

/** ADA documents 5 messages per second per account (shared/reference); more is refused. */
export const ADA_MAX_RATE_PER_SECOND = 5;

/**
 * `senders`: the cap of each sender (phone number id, Infobip sender number, ADA channel) the
 * account may send from, when it differs from `rate_per_second` (a number with a higher tier, or
 * one shared with another system). Every job and process sending from it shares the cap.
 */
function sendersField(max?: number) {
  const rate = max === undefined ? z.coerce.number().positive() : z.coerce.number().positive().max(max, `at most ${max} messages per second`);
  return z.record(z.string().min(1), z.strictObject({ rate_per_second: rate })).default({});
}

/** `senders` as sender → messages per second. */
export function senderRates(senders: Readonly<Record<string, { rate_per_second: number }>>): Record<string, number> {
  return Object.fromEntries(Object.entries(senders).map(([sender, s]) => [sender, s.rate_per_second]));
}

const keywordLists = z.record(z.string(), z.array(z.string().min(1)));

/** Consent loop (DESIGN "Consent"): what in an inbound message means stop, or start again. */
export const ConsentConfigSchema = z.strictObject({
  /**
   * Whole-message keywords by language (trimmed, case- and width-insensitive). Every language's
   * list applies to every inbound message: a WhatsApp message does not say its language.
   */
  opt_out_keywords: keywordLists.default({ en: ['STOP', 'UNSUBSCRIBE'], ja: ['停止', '配信停止'], id: ['BERHENTI'] }),
  opt_in_keywords: keywordLists.default({ en: ['START'], ja: ['再開'], id: ['MULAI'] }),
  /** Quick-reply button payloads (template buttons the job defines) that opt out or back in; exact match. */
  opt_out_payloads: z.array(z.string().min(1)).default(['STOP', 'UNSUBSCRIBE', 'OPT_OUT']),
  opt_in_payloads: z.array(z.string().min(1)).default(['START', 'OPT_IN']),
});
export type ConsentConfig = z.infer<typeof ConsentConfigSchema>;

export const WarehouseConfigSchema = z.strictObject({
  url: z.string().regex(/^(duckdb:|postgres(ql)?:\/\/)/, 'duckdb:<file>, duckdb::memory: or postgres://…'),
});

export const SandboxConfigSchema = z.strictObject({
  seed: z.coerce.number().int().default(42),
  permanent_failure_ratio: z.coerce.number().min(0).max(1).default(0.02),
  transient_failure_ratio: z.coerce.number().min(0).max(1).default(0.03),
  latency_ms: z.coerce.number().min(0).default(2),
  max_event_delay_ms: z.coerce.number().min(0).default(1500),
  rate_per_second: z.coerce.number().positive().default(200),
  senders: sendersField(),
  /** JSON-lines file where the simulator records every acceptance, like a provider's own log. */
  ledger_file: z.string().optional(),
});

export const MetaConfigSchema = z.strictObject({
  base_url: url.default('https://graph.facebook.com'),
  graph_version: z.string().regex(/^v\d+\.\d+$/).default('v24.0'),
  access_token: z.string().optional(),
  app_secret: z.string().optional(),
  verify_token: z.string().optional(),
  waba_id: z.string().optional(),
  /** Per sender, unless `senders` says otherwise; at run start herald also reads the number's throughput level. */
  rate_per_second: z.coerce.number().positive().default(80),
  senders: sendersField(1000),
  /**
   * Unique users the business portfolio may reach in a rolling 24 h (Meta's messaging limit), when
   * Meta cannot be asked or should not be trusted; else herald reads whatsapp_business_manager_messaging_limit.
   */
  messaging_limit: z.union([z.coerce.number().int().positive(), z.literal('unlimited')]).optional(),
  /** The phone number ids of the portfolio whose sends count against the limit (default: every Meta sender in herald.sends). */
  portfolio_senders: z.array(z.coerce.string().min(1)).min(1).optional(),
  /** Headers and body of each Cloud API answer must arrive within this many ms (http.ts default: 15 s). */
  timeout_ms: z.coerce.number().int().positive().optional(),
});

export const InfobipConfigSchema = z.strictObject({
  /** Per account: `https://<subdomain>.api.infobip.com` (a bare host gets `https://`). */
  base_url: z.string().optional(),
  api_key: z.string().optional(),
  webhook_secret: z.string().optional(),
  ...webhookAuthFields('basic'),
  rate_per_second: z.coerce.number().positive().default(100),
  senders: sendersField(),
  /** The WhatsApp sender for `listTemplates` / `check` when no job names one. */
  sender: z.string().optional(),
  /** Template messages gathered into one request (Infobip documents no maximum). */
  batch_size: z.coerce.number().int().min(1).max(1000).default(50),
  /**
   * How long the first message of a batch waits for company. Each message holds its place in the
   * sender's window while it waits, so the linger costs rate: at 80/s, 10 ms held the sender to
   * 94.9% of its cap, 2 ms to 95.x% (bench/sender-pacing). The limiter releases starts a few at a
   * time at high rates, and those still travel together.
   */
  batch_linger_ms: z.coerce.number().min(0).max(1000).default(2),
  /** Headers and body of each answer must arrive within this. */
  timeout_ms: z.coerce.number().int().positive().default(15_000),
});
export type InfobipConfig = z.infer<typeof InfobipConfigSchema>;

/** ADA's API is not publicly documented: paths and field names are configuration (shared/reference). */
export const AdaConfigSchema = z.strictObject({
  base_url: url.default('https://bizmsgapi.ada-asia.com/prod'),
  api_key: z.string().optional(),
  webhook_secret: z.string().optional(),
  ...webhookAuthFields('header'),
  /** Dot paths of the callback fields (ADA publishes no callback reference: shared/reference). */
  callback_fields: z.strictObject({
    event_type: z.string().min(1).default('eventType'),
    message_id: z.string().min(1).default('messageId'),
    /** The WhatsApp user: `to` of a Delivery/Read, `from` of a Message; the first present wins. */
    recipient: z.array(z.string().min(1)).min(1).default(['to', 'from', 'recipient']),
    timestamp: z.string().min(1).default('timestamp'),
    text: z.string().min(1).default('text'),
    /** Quick-reply payload of an inbound button tap. */
    payload: z.string().min(1).default('payload'),
    /** Message id the inbound answers, when ADA passes WhatsApp's context on. */
    context_id: z.string().min(1).default('context.id'),
    status: z.string().min(1).default('status'),
    error_code: z.string().min(1).default('errorCode'),
  }).default(() => ({
    event_type: 'eventType', message_id: 'messageId', recipient: ['to', 'from', 'recipient'], timestamp: 'timestamp', text: 'text',
    payload: 'payload', context_id: 'context.id', status: 'status', error_code: 'errorCode',
  })),
  /**
   * Header names of a message-log CSV exported from the ADA console (Report › Message Log Record),
   * for `herald import ada-log`. Unset fields are found among common spellings (ada.log-import.ts).
   */
  log_columns: z.strictObject({
    message_id: z.string().min(1).optional(),
    recipient: z.string().min(1).optional(),
    status: z.string().min(1).optional(),
    occurred_at: z.string().min(1).optional(),
    // One time column per step (an export with Sent / Delivered / Read / Failed times on one row).
    sent_at: z.string().min(1).optional(),
    delivered_at: z.string().min(1).optional(),
    read_at: z.string().min(1).optional(),
    failed_at: z.string().min(1).optional(),
    error_code: z.string().min(1).optional(),
    error_detail: z.string().min(1).optional(),
    text: z.string().min(1).optional(),
  }).default({}),
  /** IANA zone of log timestamps written without an offset (the console's local time). */
  log_timezone: z.string().min(1).default('UTC'),
  rate_per_second: z.coerce.number().positive().max(ADA_MAX_RATE_PER_SECOND, `ADA accepts at most ${ADA_MAX_RATE_PER_SECOND} messages per second`).default(ADA_MAX_RATE_PER_SECOND),
  senders: sendersField(ADA_MAX_RATE_PER_SECOND),
  send_path: z.string().regex(/^\//, 'a path starting with /').default('/message'),
  /** `platform` value of every send. */
  platform: z.string().min(1).default('WA'),
  /** Dot path of the message id in the JSON answer (`data.0.id` reaches into arrays). */
  message_id_path: z.string().min(1).default('messageId'),
  /** Dot path of an error code in a JSON error answer; `http:<status>` when absent. */
  error_code_path: z.string().min(1).default('code'),
  template_name_field: z.string().min(1).default('templateName'),
  template_lang_field: z.string().min(1).default('templateLang'),
  template_data_field: z.string().min(1).default('templateData'),
  timeout_ms: z.coerce.number().int().positive().default(15_000),
});
export type AdaConfig = z.infer<typeof AdaConfigSchema>;

/** Costs (README "Costs"): the rate card sends are priced with; herald's shipped one when unset. */
export const CostsConfigSchema = z.strictObject({
  /** A rate card CSV in the shipped file's columns (data/rate-cards/README.md), relative to the working directory. */
  rate_card: z.string().min(1).optional(),
});

export const RuntimeConfigSchema = z.strictObject({
  warehouses: z.record(z.string(), WarehouseConfigSchema).default({ default: { url: 'duckdb:warehouse.duckdb' } }),
  providers: z.strictObject({
    sandbox: SandboxConfigSchema.default(SandboxConfigSchema.parse({})),
    meta: MetaConfigSchema.default(MetaConfigSchema.parse({})),
    infobip: InfobipConfigSchema.default(InfobipConfigSchema.parse({})),
    ada: AdaConfigSchema.default(AdaConfigSchema.parse({})),
  }).default({
    sandbox: SandboxConfigSchema.parse({}),
    meta: MetaConfigSchema.parse({}),
    infobip: InfobipConfigSchema.parse({}),
    ada: AdaConfigSchema.parse({}),
  }),
  server: z.strictObject({
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    /** Interface `herald serve` listens on (all by default: it runs in a container). */
    host: z.string().min(1).default('0.0.0.0'),
    public_url: z.string().optional(),
    api_token: z.string().optional(),
    /** Larger bodies get 413 (Meta documents payloads up to 3 MB). */
    max_body_bytes: z.coerce.number().int().positive().default(3 * 1024 * 1024),
  }).default({ port: 8080, host: '0.0.0.0', max_body_bytes: 3 * 1024 * 1024 }),
  consent: ConsentConfigSchema.default(() => ConsentConfigSchema.parse({})),
  costs: CostsConfigSchema.default({}),
});

export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema>;
export type SandboxConfig = z.infer<typeof SandboxConfigSchema>;
export type MetaConfig = z.infer<typeof MetaConfigSchema>;
export type ProviderName = keyof RuntimeConfig['providers'];
