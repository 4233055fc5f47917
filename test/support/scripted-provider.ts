/** A provider whose answer per call comes from a script, and a small segment job for it. */
import { JobSchema } from '../../src/config/job.schema.js';
import type { LoadedJob } from '../../src/config/load.js';
import type { OutboundMessage, Provider, SendOutcome } from '../../src/providers/provider.js';

/** Generated US numbers in the fictional 201-555-01xx range: valid, FIXED_LINE_OR_MOBILE. */
export const phone = (i: number) => `+1201555${String(100 + i).padStart(4, '0')}`;

function segmentSql(rows: number): string {
  const values = Array.from({ length: rows }, (_, i) => `('k${i}', '${phone(i)}', 'Name ${i}', 'true')`).join(', ');
  return `SELECT * FROM (VALUES ${values}) AS t(customer_id, phone, first_name, opt_in)`;
}

export function loadedJob(rows: number, delivery: Record<string, unknown> = {}, name = 'dispatch_test'): LoadedJob {
  const job = JobSchema.parse({
    name,
    source: { query: segmentSql(rows) },
    audience: { key: 'customer_id', phone: 'phone', default_region: 'US', consent: 'opt_in' },
    message: { provider: 'sandbox', sender: '15550001234', template: { name: 'hello', language: 'en_US' }, body: [{ column: 'first_name' }] },
    delivery: { rate_per_second: 1000, concurrency: 4, ...delivery },
  });
  return { job, file: `${name}.yaml`, sql: job.source.query!, sqlOrigin: `${name}.yaml source.query` };
}

export class ScriptedProvider implements Provider {
  readonly name = 'sandbox' as const;
  readonly defaultRatePerSecond = 1000;
  readonly calls: OutboundMessage[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private readonly script: (msg: OutboundMessage, callIndex: number) => SendOutcome | Promise<SendOutcome>,
    readonly resendsSafely = false,
  ) {}

  async send(msg: OutboundMessage): Promise<SendOutcome> {
    const index = this.calls.push(msg) - 1;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 1));
      return await this.script(msg, index);
    } finally {
      this.inFlight--;
    }
  }

  async close(): Promise<void> {}
}

export const accepted = (msg: OutboundMessage): SendOutcome => ({ kind: 'accepted', providerMessageId: `wamid.${msg.sendId}` });
