/**
 * `sandbox`: an in-process simulator of Meta's semantics, so the demo needs no account. It accepts
 * with wamid-like ids (numbers and business-scoped user ids alike), fails a configurable share of
 * recipients permanently (131026, every time)
 * and of first attempts transiently (131000, retried to success), then emits Meta-shaped `sent` / `delivered` / `read` / `failed` statuses
 * after delays: some out of order, some twice. Every choice is a hash of (seed, send, attempt),
 * so runs repeat whatever the timing. Acceptances can be logged to a JSON-lines file, the way a
 * real provider keeps its own record, so tests can prove nobody was messaged twice.
 */
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { senderRates, type SandboxConfig } from '../../config/runtime.schema.js';
import { metaStatusEvent, type MetaStatus } from '../meta/meta.status.js';
import type { EventSink, OutboundMessage, Provider, SendOutcome } from '../provider.js';
import { isBsuid } from '../../util/bsuid.js';

export class SandboxProvider implements Provider {
  readonly name = 'sandbox' as const;
  readonly defaultRatePerSecond: number;
  readonly senderRates: Readonly<Record<string, number>>;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly landing = new Set<Promise<void>>();
  private landingError: unknown;

  constructor(private readonly config: SandboxConfig, private readonly sink: EventSink) {
    this.defaultRatePerSecond = config.rate_per_second;
    this.senderRates = senderRates(config.senders);
  }

  async send(msg: OutboundMessage): Promise<SendOutcome> {
    msg.departed?.(); // the sandbox receives the message at once; its latency is the answer's
    if (this.config.latency_ms > 0) await new Promise((r) => setTimeout(r, this.config.latency_ms));
    // Undeliverable is a property of the recipient (not on WhatsApp, old app): it fails every time.
    if (this.roll(msg.recipient, 'undeliverable') < this.config.permanent_failure_ratio) {
      return { kind: 'error', action: 'permanent', code: '131026', detail: 'Message undeliverable' };
    }
    // Transient failures strike first attempts only, so retries succeed as they do in practice.
    if (msg.attempt === 1 && this.roll(msg.sendId, 'transient') < this.config.transient_failure_ratio) {
      return { kind: 'error', action: 'retry', code: '131000', detail: 'Something went wrong' };
    }
    const wamid = `wamid.${createHash('sha256').update(`${this.config.seed}:${msg.sendId}`).digest('base64url').slice(0, 40)}`;
    if (this.config.ledger_file) {
      appendFileSync(this.config.ledger_file, `${JSON.stringify({ send_id: msg.sendId, recipient: msg.recipient, wamid, at: new Date().toISOString() })}\n`);
    }
    this.scheduleStatuses(msg, wamid);
    return { kind: 'accepted', providerMessageId: wamid, detail: 'accepted' };
  }

  async close(): Promise<void> {
    while (this.timers.size > 0 || this.landing.size > 0) {
      await Promise.race([...this.landing, new Promise((r) => setTimeout(r, 20))]);
    }
    // Events that could not be landed are not dropped quietly: the run reports it.
    if (this.landingError) throw this.landingError;
  }

  /** A uniform number in [0, 1) from the seed and the parts: the same inputs, the same fate. */
  private roll(...parts: string[]): number {
    return createHash('sha256').update([this.config.seed, ...parts].join(':')).digest().readUInt32BE(0) / 2 ** 32;
  }

  private scheduleStatuses(msg: OutboundMessage, wamid: string): void {
    const max = this.config.max_event_delay_ms;
    const at = (name: string) => Math.floor(this.roll(msg.sendId, name) * max);
    // As Meta does: a send to a BSUID is reported by `recipient_user_id` (phone withheld), one to a number by `recipient_id`.
    const base: Omit<MetaStatus, 'status' | 'timestamp'> = {
      id: wamid,
      ...(isBsuid(msg.recipient) ? { recipient_user_id: msg.recipient } : { recipient_id: msg.recipient.slice(1) }),
      biz_opaque_callback_data: msg.sendId,
    };
    const emit = (status: string, delay: number, extra: Partial<MetaStatus> = {}) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        const payload: MetaStatus = { ...base, status, timestamp: String(Math.floor(Date.now() / 1000)), ...extra };
        const event = metaStatusEvent(payload, new Date());
        // At-least-once, like Meta: some events arrive twice.
        const events = this.roll(msg.sendId, `dup:${status}`) < 0.05 ? [event, event] : [event];
        const landing = this.sink(events).catch((err: unknown) => {
          this.landingError ??= err;
        }).finally(() => this.landing.delete(landing));
        this.landing.add(landing);
      }, delay);
      this.timers.add(timer);
    };
    const sentAt = at('sent');
    emit('sent', sentAt, { pricing: { billable: true, pricing_model: 'PMP', category: 'marketing', type: 'regular' } });
    if (this.roll(msg.sendId, 'fate') < 0.03) {
      emit('failed', sentAt + at('failed'), { errors: [{ code: 131026, title: 'Message undeliverable', error_data: { details: 'Message Undeliverable.' } }] });
      return;
    }
    // Delivery delays are drawn independently of `sent`, so some arrive before it: out of order.
    const deliveredAt = at('delivered');
    const skipsDelivered = this.roll(msg.sendId, 'skip') < 0.05; // read at once: Meta may never send delivered
    if (!skipsDelivered) emit('delivered', deliveredAt);
    if (this.roll(msg.sendId, 'reads') < 0.6) emit('read', deliveredAt + at('read'));
  }
}
