/**
 * The port every provider adapter implements. The pipeline imports this, never a vendor.
 */
import type { ProviderName } from '../config/runtime.schema.js';
import type { ProviderEvent } from '../events/event.js';
import type { RenderedMessage } from '../types.js';

/**
 * What herald does about a provider error (DESIGN "Error classes"):
 * - `retry`, `slow_down`, `retry_recipient_later`: transient; the same send is tried again.
 * - `defer`: not now (Meta 131049: not before 24 h); the row is `deferred` with a `not_before`.
 * - `permanent`: this recipient cannot be reached (131026); the row fails and the job does not try
 *   the recipient again for `delivery.retry_failed_after`.
 * - `invalid_row`: this row's values were refused (131009 on a value); the row fails, the run goes on.
 * - `fix_request`: the template or request is wrong for every row; after a few distinct rows the run stops.
 * - `abort`: auth, account, payment; the run stops and the row stays `pending`.
 */
export type ErrorAction = 'retry' | 'slow_down' | 'retry_recipient_later' | 'defer' | 'permanent' | 'invalid_row' | 'fix_request' | 'abort';

export interface OutboundMessage {
  /** herald's id for the send; providers echo it back (callback data, Infobip messageId). */
  sendId: string;
  /** E.164, or a WhatsApp business-scoped user id (`US.1349…`) where the row gave one. */
  recipient: string;
  sender: string;
  message: RenderedMessage;
  /** 1 for the first call, then 2, 3 … on retries. */
  attempt: number;
  /** Meta: `marketing_messages` sends through the Marketing Messages API; else `/messages`. */
  api?: string | null;
  /** Meta Marketing Messages API: drop the message if not delivered within this many seconds (from delivery.not_after). */
  ttlSeconds?: number;
  /**
   * Adapters that gather messages into one request (`batches`) call this when the request
   * carrying the message leaves: the sender's window counts the message then, not when it was
   * handed over, so a batch never puts more than the cap at the provider in any second.
   */
  departing?: () => Promise<void> | undefined;
  /**
   * Adapters call this when the request carrying the message is written to its connection (the
   * HTTP client's `departed` hook), or when it is sent however else they send: the sender's window
   * counts the message then. A request that waited for a connection or a busy event loop would
   * otherwise count as earlier than it reached the provider, and the next ones would leave early.
   */
  departed?: () => void;
}

export type SendOutcome =
  | { kind: 'accepted'; providerMessageId: string; detail?: string }
  | {
    kind: 'error';
    action: ErrorAction;
    /** The provider's code as text (Meta `error.code`, Infobip status name, `http:503`, …). */
    code: string;
    detail: string;
    /** When the provider says how long to wait (Retry-After), or how long a deferral lasts. */
    retryAfterMs?: number;
    /** Stop every send from this sender for a while (Meta 131057: maintenance, throughput upgrade). */
    pauseSenderMs?: number;
    /**
     * The answer says the recipient opted out (Meta 131050, Infobip's equivalent): the settlement
     * lands a suppression in the same transaction, so no later run contacts them.
     */
    optedOut?: boolean;
  }
  /** The request may have reached the provider (e.g. a timeout after it was written): never resend blindly. */
  | { kind: 'unknown'; detail: string };

export interface Provider {
  readonly name: ProviderName;
  /** The sender's cap when neither the config's `senders` nor the provider says otherwise. */
  readonly defaultRatePerSecond: number;
  /** `providers.<p>.senders.<sender>.rate_per_second`: the cap of each sender the config names. */
  readonly senderRates?: Readonly<Record<string, number>>;
  /** The provider's hard maximum per sender (ADA: 5/s); a job asking for more is a config error. */
  readonly maxRatePerSecond?: number;
  /**
   * Unique users the sender's business may reach in a rolling 24 h (Meta's messaging limit, per
   * portfolio): limit null is unlimited; undefined when neither the config nor the provider says.
   */
  messagingLimit?(sender: string): Promise<{ limit: number | null; source: string } | undefined>;
  /** The senders whose sends count against the same messaging limit (undefined: every sender of the provider). */
  readonly portfolioSenders?: readonly string[];
  /** What the provider says the sender may do now (Meta: the number's throughput level). */
  senderThroughput?(sender: string): Promise<{ rate: number; source: string } | undefined>;
  /** Messages travel several per request and the adapter calls `departing` for each (Infobip). */
  readonly batches?: boolean;
  /**
   * The provider refuses a second message with the same send id (Infobip's messageId), so a send
   * whose outcome is unknown can be sent again with its id: a duplicate refusal means accepted.
   */
  readonly resendsSafely?: boolean;
  /**
   * One message. Adapters that can send several per request (Infobip) gather concurrent calls
   * into one request themselves: pacing stays per message, and dispatch stays simple.
   */
  send(message: OutboundMessage): Promise<SendOutcome>;
  /** The approved templates, for pre-flight checks; absent where the provider cannot list them. */
  listTemplates?(): Promise<ProviderTemplate[]>;
  /** One cheap authenticated call that proves the credentials work. */
  checkCredentials?(): Promise<{ ok: boolean; detail: string }>;
  /** Finishes background work (pending events) and frees connections. */
  close(): Promise<void>;
}

/** A template as the provider approved it, in one shape for every provider. */
export interface ProviderTemplate {
  name: string;
  /** As the provider writes it: `ja`, `en_US`. */
  language: string;
  /** APPROVED, PENDING, REJECTED, PAUSED, DISABLED, … as the provider says. */
  status: string;
  category?: string;
  /** Quality as the provider rates it (Meta quality_score: GREEN, YELLOW, RED, UNKNOWN; Infobip: its own scale). */
  quality?: string;
  header?: { format: 'TEXT' | 'IMAGE' | 'VIDEO' | 'DOCUMENT' | 'LOCATION'; parameters: number; named: string[] };
  /** `named` lists parameter names for named-parameter templates, else it is empty. */
  body: { parameters: number; named: string[] };
  buttons: { index: number; type: string; /** takes a parameter (URL suffix, quick-reply payload) */ dynamic: boolean }[];
}

/** Where providers that learn of events while sending (the sandbox) hand them to be landed. */
export type EventSink = (events: ProviderEvent[]) => Promise<void>;
