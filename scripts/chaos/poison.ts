/**
 * Poison webhooks: correctly signed, so they pass authentication, but whose content herald
 * cannot store as it is — a body that is a JSON string, a status id with a NUL in it, numbers or
 * objects where Meta writes strings, a timestamp that is no time, a null entry. Posted beside the valid statuses; what herald answered each is
 * tallied (400 is the right answer: Meta stops retrying; a 5xx makes Meta retry it for days).
 */
import { Agent } from 'node:http';
import { postSigned, statusPayload } from './webhooks.js';

export const POISON_KINDS = ['json_string', 'nul_in_id', 'numbers_for_strings', 'nul_in_callback', 'objects_for_strings', 'bad_timestamp', 'null_entry'] as const;
export type PoisonKind = (typeof POISON_KINDS)[number];

export function poisonBody(kind: PoisonKind, phoneNumberId: string, n: number): Buffer {
  const timestamp = Math.floor(Date.now() / 1000);
  switch (kind) {
    case 'json_string':
      return Buffer.from(JSON.stringify('poison: a JSON string, not an object'));
    case 'nul_in_id':
      return Buffer.from(JSON.stringify(statusPayload(phoneNumberId, [{ wamid: `wamid.poison\u0000${n}`, status: 'sent', recipient: '12015550100', callback: null, timestamp }])));
    case 'nul_in_callback':
      return Buffer.from(JSON.stringify(statusPayload(phoneNumberId, [{ wamid: `wamid.poisoncb${n}`, status: 'delivered', recipient: '12015550100', callback: `send\u0000${n}`, timestamp }])));
    case 'numbers_for_strings':
      return withStatus(phoneNumberId, { id: 900000 + n, recipient_id: 12015550100, timestamp, status: 7 });
    case 'objects_for_strings':
      return withStatus(phoneNumberId, { id: { wamid: n }, recipient_id: ['12015550100'], status: { value: 'sent' }, errors: 'none' });
    case 'bad_timestamp':
      return withStatus(phoneNumberId, { id: `wamid.poisonts${n}`, timestamp: 'yesterday at noon', pricing: 'free' });
    case 'null_entry':
      return Buffer.from(JSON.stringify({ object: 'whatsapp_business_account', entry: [null, { id: 1, changes: [{ field: 'messages', value: { statuses: 'not a list' } }] }] }));
  }
}

/** A status webhook whose one status has `fields` replaced. */
function withStatus(phoneNumberId: string, fields: Record<string, unknown>): Buffer {
  const payload = statusPayload(phoneNumberId, [{ wamid: 'x', status: 'sent', recipient: '12015550100', callback: null, timestamp: Math.floor(Date.now() / 1000) }]) as {
    entry: { changes: { value: { statuses: Record<string, unknown>[] } }[] }[];
  };
  Object.assign(payload.entry[0]!.changes[0]!.value.statuses[0]!, fields);
  return Buffer.from(JSON.stringify(payload));
}

/** Posts one poison webhook every `everyMs` (kinds in turn) until stopped; tallies the answers. */
export class PoisonPoster {
  /** `kind answer` → count. */
  readonly answers: Record<string, number> = {};
  private timer: NodeJS.Timeout | null = null;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });
  private n = 0;
  private inFlight = new Set<Promise<void>>();

  constructor(private readonly o: { target: () => string; appSecret: string; phoneNumberId: string; everyMs: number }) {}

  start(): void {
    this.timer = setInterval(() => {
      const kind = POISON_KINDS[this.n % POISON_KINDS.length]!;
      const post = postSigned(this.o.target(), this.o.appSecret, poisonBody(kind, this.o.phoneNumberId, this.n++), this.agent).then((answer) => {
        const key = `${kind} ${answer}`;
        this.answers[key] = (this.answers[key] ?? 0) + 1;
      });
      this.inFlight.add(post);
      void post.finally(() => this.inFlight.delete(post));
    }, this.o.everyMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.inFlight]);
    this.agent.destroy();
  }
}
