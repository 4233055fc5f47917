/**
 * Infobip refuses a messageId it has already accepted, and herald's messageId is the send id: a send
 * whose outcome was unknown can be sent again with the same id. Proven against the fake Infobip on a
 * local socket, which refuses a reused id the way Infobip's status table says.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InfobipConfigSchema } from '../../src/config/runtime.schema.js';
import { InfobipProvider, infobipHttp } from '../../src/providers/infobip/infobip.provider.js';
import { FakeInfobip, outbound } from '../support/fake-infobip.js';

let fake: FakeInfobip | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('infobip resends safely', () => {
  it('the same messageId twice: accepted both times, taken once', async () => {
    fake = await new FakeInfobip({ refuseDuplicateIds: true }).start();
    const config = InfobipConfigSchema.parse({ base_url: fake.url, api_key: 'test-key', batch_size: 1 });
    const provider = new InfobipProvider(config, infobipHttp(config, 'test.yaml'));
    expect(provider.resendsSafely).toBe(true);

    const first = await provider.send(outbound({ sendId: 'send-0042' }));
    const again = await provider.send(outbound({ sendId: 'send-0042', attempt: 2 }));
    await provider.close();

    expect(first).toEqual({ kind: 'accepted', providerMessageId: 'send-0042' });
    expect(again).toEqual({ kind: 'accepted', providerMessageId: 'send-0042', detail: 'duplicate_message_id' });
    expect(fake.requestsWith('send-0042')).toHaveLength(2);
    expect(fake.accepted.get('send-0042')).toBe(1);
    expect(fake.duplicatesRefused).toBe(1);
  });
});
