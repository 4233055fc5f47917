/**
 * `config/herald.yaml` (DESIGN "Runtime configuration"): named warehouses and providers. Values
 * come from the environment through `${VAR}`; a provider whose variables are unset is only an
 * error when a job uses it.
 */
import { z } from 'zod';

const url = z.string().url();

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
  rate_per_second: z.coerce.number().positive().default(80),
  /** Headers and body of each Cloud API answer must arrive within this many ms (http.ts default: 15 s). */
  timeout_ms: z.coerce.number().int().positive().optional(),
});

export const InfobipConfigSchema = z.strictObject({
  /** Per account: `https://<subdomain>.api.infobip.com` (a bare host gets `https://`). */
  base_url: z.string().optional(),
  api_key: z.string().optional(),
  webhook_secret: z.string().optional(),
  rate_per_second: z.coerce.number().positive().default(100),
  /** The WhatsApp sender for `listTemplates` / `check` when no job names one. */
  sender: z.string().optional(),
  /** Template messages gathered into one request (Infobip documents no maximum). */
  batch_size: z.coerce.number().int().min(1).max(1000).default(50),
  /** How long the first message of a batch waits for company. */
  batch_linger_ms: z.coerce.number().min(0).max(1000).default(10),
  /** Headers and body of each answer must arrive within this. */
  timeout_ms: z.coerce.number().int().positive().default(15_000),
});
export type InfobipConfig = z.infer<typeof InfobipConfigSchema>;

/** ADA's API is not publicly documented: paths and field names are configuration (shared/reference). */
export const AdaConfigSchema = z.strictObject({
  base_url: url.default('https://bizmsgapi.ada-asia.com/prod'),
  api_key: z.string().optional(),
  webhook_secret: z.string().optional(),
  rate_per_second: z.coerce.number().positive().default(5),
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
    public_url: z.string().optional(),
    api_token: z.string().optional(),
  }).default({ port: 8080 }),
});

export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema>;
export type SandboxConfig = z.infer<typeof SandboxConfigSchema>;
export type MetaConfig = z.infer<typeof MetaConfigSchema>;
export type ProviderName = keyof RuntimeConfig['providers'];
