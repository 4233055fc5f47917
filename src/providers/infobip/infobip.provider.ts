/**
 * `infobip`: WhatsApp through Infobip. Template sends that arrive within `batch_linger_ms` of each
 * other (or until `batch_size`) travel in one request; each caller still gets its own outcome, read
 * from the answer's `messages[]` by messageId (= herald's send id). Pacing stays per message: each
 * message holds its place in the sender's window from its grant, and is counted when the request
 * carrying it leaves (`departing`), so a batch never puts more than the cap at Infobip in a second.
 * Free-form text messages go alone (the text endpoint takes one message).
 */
import type { Dispatcher } from 'undici';
import type { LoadedConfig } from '../../config/load.js';
import { senderRates, type InfobipConfig } from '../../config/runtime.schema.js';
import { ConfigError, RunAbortedError, errorMessage } from '../../errors.js';
import { HttpClient } from '../http.js';
import type { OutboundMessage, Provider, ProviderTemplate, SendOutcome } from '../provider.js';
import type { ProviderDeps } from '../registry.js';
import { batchOutcomes, describeFailure, singleOutcome } from './infobip.errors.js';
import { address, jobExtras, templateMessage, textMessage, type Extras, type PayloadProblem } from './infobip.payload.js';
import { parseTemplates } from './infobip.templates.js';
import { PATHS, isObject, type TemplateMessage } from './infobip.wire.js';

interface Waiting {
  message: TemplateMessage;
  departing: (() => Promise<void> | undefined) | undefined;
  departed: (() => void) | undefined;
  settle: (outcome: SendOutcome) => void;
}

export class InfobipProvider implements Provider {
  readonly name = 'infobip' as const;
  readonly defaultRatePerSecond: number;
  readonly senderRates: Readonly<Record<string, number>>;
  readonly batches = true;
  /** Infobip refuses a messageId it has seen (REJECTED_DUPLICATE_MESSAGE_ID), and messageId is the send id. */
  readonly resendsSafely = true;
  private readonly extras: Extras;
  private queue: Waiting[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly requests = new Set<Promise<void>>();

  constructor(
    private readonly config: InfobipConfig,
    private readonly http: HttpClient,
    private readonly deps: Pick<ProviderDeps, 'message' | 'publicUrl'> = {},
    private readonly configFile = 'config',
  ) {
    this.defaultRatePerSecond = config.rate_per_second;
    this.senderRates = senderRates(config.senders);
    this.extras = jobExtras(deps.message, deps.publicUrl, config.webhook_auth === 'query' ? config.webhook_secret : undefined);
  }

  async send(msg: OutboundMessage): Promise<SendOutcome> {
    if (msg.message.text !== undefined) return this.sendText(msg);
    const built = templateMessage(msg, this.extras);
    if (isProblem(built)) return invalid(built);
    return new Promise<SendOutcome>((settle) => {
      this.queue.push({ message: built, departing: msg.departing, departed: msg.departed, settle });
      if (this.queue.length >= this.config.batch_size) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.config.batch_linger_ms);
    });
  }

  /** The sender: the argument, else the job's, else `providers.infobip.sender`. */
  async listTemplates(sender?: string): Promise<ProviderTemplate[]> {
    const from = this.senderFor('listing Infobip templates', sender);
    const r = await this.http.request('GET', PATHS.templates(from));
    const templates = r.kind === 'response' && r.status === 200 ? parseTemplates(r.json) : null;
    if (!templates) throw new RunAbortedError(`Infobip templates of sender ${from}: ${describeFailure(r)}`);
    return templates;
  }

  /** The sender's template list when a sender is known (WhatsApp scope), else the account balance. */
  async checkCredentials(): Promise<{ ok: boolean; detail: string }> {
    const sender = this.deps.message?.sender ?? this.config.sender;
    const path = sender ? PATHS.templates(address(sender)) : PATHS.balance;
    const r = await this.http.request('GET', path);
    if (r.kind !== 'response' || r.status !== 200 || !isObject(r.json)) return { ok: false, detail: `GET ${path}: ${describeFailure(r)}` };
    if (sender) return { ok: true, detail: `${parseTemplates(r.json)?.length ?? 0} templates for sender ${address(sender)}` };
    return { ok: true, detail: `balance ${String(r.json.balance ?? '?')} ${String(r.json.currency ?? '')}`.trim() };
  }

  async close(): Promise<void> {
    while (this.queue.length > 0) this.flush();
    await Promise.all(this.requests);
    await this.http.close();
  }

  private senderFor(what: string, sender?: string): string {
    const from = sender ?? this.deps.message?.sender ?? this.config.sender;
    if (!from) {
      throw ConfigError.of(this.configFile, 'providers.infobip.sender', `${what} needs a sender`,
        'name one in the job (message.sender) or in the config (providers.infobip.sender, e.g. ${INFOBIP_SENDER})');
    }
    return address(from);
  }

  /** Sends up to `batch_size` waiting messages as one request; the rest wait for the next. */
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.queue.splice(0, this.config.batch_size);
    if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), this.config.batch_linger_ms);
    if (batch.length === 0) return;
    const request: Promise<void> = this.post(batch).finally(() => this.requests.delete(request));
    this.requests.add(request);
  }

  private async post(batch: Waiting[]): Promise<void> {
    const ids = batch.map((w) => w.message.messageId);
    let outcomes: SendOutcome[];
    await Promise.all(batch.map((w) => w.departing?.()));
    try {
      outcomes = batchOutcomes(await this.http.request('POST', PATHS.template, { messages: batch.map((w) => w.message) }, {}, () => {
        for (const w of batch) w.departed?.();
      }), ids);
    } catch (err) {
      outcomes = ids.map(() => ({ kind: 'unknown', detail: `infobip request failed: ${errorMessage(err)}` }));
    }
    batch.forEach((w, i) => w.settle(outcomes[i]!));
  }

  private async sendText(msg: OutboundMessage): Promise<SendOutcome> {
    const built = textMessage(msg, this.extras);
    if (isProblem(built)) return invalid(built);
    await msg.departing?.();
    return singleOutcome(await this.http.request('POST', PATHS.text, built, {}, msg.departed), msg.sendId);
  }
}

/** The authenticated client for `providers.infobip`; a missing key or base URL is a ConfigError. */
export function infobipHttp(config: InfobipConfig, configFile: string, dispatcher?: Dispatcher): HttpClient {
  if (!config.api_key) {
    throw ConfigError.of(configFile, 'providers.infobip.api_key', 'INFOBIP_API_KEY is not set', 'export INFOBIP_API_KEY=… (an API key of the Infobip account)');
  }
  if (!config.base_url) {
    throw ConfigError.of(configFile, 'providers.infobip.base_url', 'INFOBIP_BASE_URL is not set',
      'export INFOBIP_BASE_URL=https://<subdomain>.api.infobip.com (shown in the Infobip web interface)');
  }
  const baseUrl = /^https?:\/\//i.test(config.base_url) ? config.base_url : `https://${config.base_url}`;
  if (!URL.canParse(baseUrl)) throw ConfigError.of(configFile, 'providers.infobip.base_url', `"${config.base_url}" is not a URL`, 'e.g. https://xyz123.api.infobip.com');
  return new HttpClient({
    baseUrl,
    timeoutMs: config.timeout_ms,
    headers: { authorization: `App ${config.api_key}` },
    ...(dispatcher ? { dispatcher } : {}),
  });
}

export function createInfobipProvider(loaded: LoadedConfig, deps: ProviderDeps): InfobipProvider {
  const config = loaded.config.providers.infobip;
  return new InfobipProvider(config, infobipHttp(config, loaded.file, deps.dispatcher), deps, loaded.file);
}

function isProblem(value: object): value is PayloadProblem {
  return 'problem' in value;
}

/** This row's data breaks an Infobip rule: the row fails, the run goes on; the job's own settings (`everyRow`) stop it. */
function invalid(p: PayloadProblem): SendOutcome {
  return { kind: 'error', action: p.everyRow ? 'fix_request' : 'invalid_row', code: 'invalid_parameter', detail: p.problem };
}
