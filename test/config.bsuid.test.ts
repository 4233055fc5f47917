/** Job-level rules for `audience.user_id` (BSUID columns). */
import { describe, expect, it } from 'vitest';
import { JobSchema } from '../src/config/job.schema.js';

const job = (message: Record<string, unknown>, audience: Record<string, unknown> = { user_id: 'bsuid' }) => JobSchema.safeParse({
  name: 'bsuid_job',
  source: { query: 'select 1' },
  audience: { key: 'id', default_region: 'US', consent: 'ok', ...audience },
  message: { sender: '106540352242922', template: { name: 'promo', language: 'en_US' }, ...message },
});
const problems = (r: ReturnType<typeof job>) => (r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));

describe('audience.user_id in a job', () => {
  it('goes with meta and sandbox, alone or next to a phone column', () => {
    expect(problems(job({ provider: 'meta' }))).toEqual([]);
    expect(problems(job({ provider: 'sandbox' }, { user_id: 'bsuid', phone: 'phone' }))).toEqual([]);
    expect(problems(job({ provider: 'meta', category: 'marketing' }))).toEqual([]);
  });

  it('is refused with another provider, naming the field', () => {
    for (const provider of ['infobip', 'ada']) {
      expect(problems(job({ provider }))).toEqual([
        'audience.user_id: audience.user_id (a BSUID column) needs message.provider meta or sandbox: other providers cannot send to a business-scoped user id',
      ]);
    }
  });

  it('is refused for authentication templates (Meta 131062)', () => {
    expect(problems(job({ provider: 'meta', category: 'authentication' }))).toEqual([
      'audience.user_id: audience.user_id cannot go with message.category: authentication: Meta refuses authentication templates to a BSUID (error 131062); give audience.phone only',
    ]);
    expect(problems(job({ provider: 'meta', category: 'authentication' }, { phone: 'phone' }))).toEqual([]);
  });
});
