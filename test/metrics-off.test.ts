/** A process that serves no metrics (`herald run`) stops recording: records after that leave no trace. */
import { describe, expect, it } from 'vitest';
import { metricsText, recordProviderRequest, recordRunEnded, recordSends, stopRecording } from '../src/observability/metrics.js';

describe('metrics turned off', () => {
  it('records nothing once stopRecording was called', async () => {
    recordSends([{ provider: 'sandbox', status: 'accepted' }]);
    stopRecording();
    recordSends([{ provider: 'sandbox', status: 'accepted' }, { provider: 'sandbox', status: 'failed' }]);
    recordProviderRequest('sandbox', 'accepted', 0.1);
    recordRunEnded({ job: 'off_job', status: 'succeeded', exit_code: 0, seconds: 1 });
    const { body } = await metricsText();
    expect(body).toContain('herald_sends_total{provider="sandbox",status="accepted"} 1');
    expect(body).not.toContain('status="failed"');
    expect(body).not.toMatch(/herald_provider_request_seconds_count\{/);
    expect(body).not.toContain('off_job');
  });
});
