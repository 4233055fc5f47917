/** The job's mapping against the provider's approved template: every difference named. */
import { describe, expect, it } from 'vitest';
import { JobSchema } from '../../src/config/job.schema.js';
import { checkTemplate } from '../../src/preflight/template-check.js';
import type { ProviderTemplate } from '../../src/providers/provider.js';

const WELCOME: ProviderTemplate = {
  name: 'welcome_back', language: 'ja', status: 'APPROVED', category: 'MARKETING',
  header: { format: 'IMAGE', parameters: 1, named: [] },
  body: { parameters: 2, named: [] },
  buttons: [{ index: 0, type: 'URL', dynamic: true }, { index: 1, type: 'QUICK_REPLY', dynamic: true }, { index: 2, type: 'PHONE_NUMBER', dynamic: false }],
};
const NAMED: ProviderTemplate = { name: 'order_ready', language: 'en_US', status: 'APPROVED', body: { parameters: 2, named: ['first_name', 'order_id'] }, buttons: [] };

function job(message: Record<string, unknown>) {
  return JobSchema.parse({
    name: 'pf', source: { query: 'select 1' },
    audience: { key: 'k', phone: 'p', default_region: 'JP', consent: 'c' },
    message: { provider: 'meta', sender: '1', template: { name: 'welcome_back', language: 'ja' }, ...message },
  });
}
const good = {
  header: { image: { column: 'banner' } },
  body: [{ column: 'a' }, { column: 'b' }],
  buttons: [{ index: 0, url_suffix: { column: 'path' } }, { index: 1, quick_reply_payload: { value: 'stop' } }],
};
const check = (message: Record<string, unknown>, templates = [WELCOME, NAMED]) =>
  checkTemplate(job(message), 'jobs/x.yaml', templates).map((p) => `${p.path}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`);

describe('checkTemplate', () => {
  it('accepts a mapping that fits the template', () => {
    expect(check(good)).toEqual([]);
    expect(check({ template: { name: 'order_ready', language: 'en_US' }, body: [{ name: 'order_id', column: 'o' }, { name: 'first_name', column: 'f' }] })).toEqual([]);
  });

  it('names a missing template, language, or a template that is not approved', () => {
    expect(check({ ...good, template: { name: 'welcome', language: 'ja' } })).toEqual(['message.template.name: the provider has no template "welcome" (did you mean "welcome_back"?)']);
    expect(check({ ...good, template: { name: 'welcome_back', language: 'en' } })).toEqual(['message.template.language: template "welcome_back" has no "en" version (its languages: ja)']);
    expect(check(good, [{ ...WELCOME, status: 'PAUSED' }])).toEqual(['message.template: template "welcome_back" (ja) is PAUSED, not APPROVED (Meta paused it for low quality; run again once it is reinstated (or use another template))']);
  });

  it('compares the number and kind of body parameters', () => {
    expect(check({ ...good, body: [{ column: 'a' }] })).toEqual(['message.body: the job gives 1 body parameter, template "welcome_back" takes 2']);
    expect(check({ ...good, body: [{ name: 'a', column: 'a' }, { name: 'b', column: 'b' }] })).toEqual([
      'message.body: template "welcome_back" takes positional parameters ({{1}}, {{2}} …); remove the names',
    ]);
    expect(check({ template: { name: 'order_ready', language: 'en_US' }, body: [{ column: 'f' }, { column: 'o' }] })).toEqual([
      'message.body: template "order_ready" takes named parameters (first_name, order_id); give each body parameter a name',
    ]);
    expect(check({ template: { name: 'order_ready', language: 'en_US' }, body: [{ name: 'first_name', column: 'f' }, { name: 'order', column: 'o' }] })).toEqual([
      'message.body: the template\'s parameter order_id has no value in the job',
      'message.body: the template has no parameter order (its parameters: first_name, order_id)',
    ]);
  });

  it('compares the header', () => {
    const { header: _header, ...noHeader } = good;
    expect(check(noHeader)).toEqual(['message.header: the template\'s IMAGE header needs a value (set message.header.image)']);
    expect(check({ ...good, header: { video: { column: 'v' } } })).toEqual(['message.header: the template\'s header is IMAGE, the job gives video (set message.header.image)']);
    expect(check({ ...good, header: { text: { column: 't' } } }, [{ ...WELCOME, header: undefined }] as ProviderTemplate[])).toEqual(['message.header: the template has no header; remove message.header']);
  });

  it('compares button indexes, types, and the values dynamic buttons need', () => {
    expect(check({ ...good, buttons: [{ index: 1, url_suffix: { column: 'p' } }] })).toEqual([
      'message.buttons.0: button 1 is QUICK_REPLY, the job gives a url_suffix',
      'message.buttons: the template\'s URL button 0 needs a url_suffix',
    ]);
    expect(check({ ...good, buttons: [...good.buttons, { index: 2, quick_reply_payload: { value: 'x' } }] })).toEqual([
      'message.buttons.2: button 2 is PHONE_NUMBER, the job gives a quick_reply_payload',
    ]);
    expect(check({ ...good, buttons: [...good.buttons, { index: 5, url_suffix: { value: 'x' } }] })).toEqual([
      'message.buttons.2: the template has no button at index 5 (its buttons: 0 URL (takes a value), 1 QUICK_REPLY (takes a value), 2 PHONE_NUMBER)',
    ]);
  });
});
