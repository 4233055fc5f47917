import { describe, expect, it } from 'vitest';
import { JobSchema, type Job } from '../src/config/job.schema.js';
import { render, rowRenderer, type RenderResult } from '../src/pipeline/render.js';
import type { Draft } from '../src/types.js';

function job(message: Record<string, unknown>, options: { language?: string; timezone?: string } = {}): Job {
  return JobSchema.parse({
    name: 'render_test',
    timezone: options.timezone ?? 'UTC',
    source: { query: 'select 1' },
    audience: { key: 'customer_id', phone: 'phone', default_region: 'JP', consent: 'opt_in' },
    message: {
      provider: 'sandbox',
      sender: '15550001234',
      template: { name: 'welcome_back', language: options.language ?? 'en_US' },
      ...message,
    },
  });
}

const renderOne = (j: Job, row: Record<string, unknown>): RenderResult => rowRenderer(j)(row);

/** The one body parameter's text, or the verdict when the row was refused. */
function bodyText(j: Job, row: Record<string, unknown>): string | RenderResult {
  const result = renderOne(j, row);
  return 'message' in result ? result.message.body[0]!.text : result;
}

describe('rowRenderer: parameters', () => {
  it('renders positional body parameters with a url button', () => {
    const j = job({
      body: [{ column: 'first_name' }, { column: 'points', type: 'number' }],
      buttons: [{ index: 0, url_suffix: { column: 'coupon_path' } }],
    }, { language: 'ja' });
    expect(renderOne(j, { first_name: '花子', points: 12500, coupon_path: 'c/AB12' })).toEqual({
      message: {
        template: { name: 'welcome_back', language: 'ja' },
        body: [{ kind: 'text', text: '花子' }, { kind: 'text', text: '12,500' }],
        buttons: [{ index: 0, kind: 'url', text: 'c/AB12' }],
      },
      variables: { 'body.1': '花子', 'body.2': '12,500', 'button.0': 'c/AB12' },
    });
  });

  it('renders named body parameters, a named text header and a quick-reply payload', () => {
    const j = job({
      body: [{ column: 'first_name', name: 'first_name' }, { column: 'points', name: 'points', type: 'number' }],
      header: { text: { column: 'headline', name: 'headline' } },
      buttons: [{ index: 1, quick_reply_payload: { column: 'payload' } }],
    });
    expect(renderOne(j, { first_name: 'Ana', points: 1234567.891, headline: 'Welcome back', payload: 'STOP_PROMO' })).toEqual({
      message: {
        template: { name: 'welcome_back', language: 'en_US' },
        header: { kind: 'text', name: 'headline', text: 'Welcome back' },
        body: [{ kind: 'text', name: 'first_name', text: 'Ana' }, { kind: 'text', name: 'points', text: '1,234,567.891' }],
        buttons: [{ index: 1, kind: 'quick_reply', payload: 'STOP_PROMO' }],
      },
      variables: {
        header: 'Welcome back',
        'body.first_name': 'Ana',
        'body.points': '1,234,567.891',
        'button.1': 'STOP_PROMO',
      },
    });
  });

  it('renders an image header from a column', () => {
    const j = job({ body: [], header: { image: { column: 'banner' } } });
    expect(renderOne(j, { banner: 'https://cdn.example.com/b/spring.png' })).toEqual({
      message: {
        template: { name: 'welcome_back', language: 'en_US' },
        header: { kind: 'image', link: 'https://cdn.example.com/b/spring.png' },
        body: [],
        buttons: [],
      },
      variables: { header: 'https://cdn.example.com/b/spring.png' },
    });
  });

  it('uses constants given with value:', () => {
    const j = job({
      body: [{ value: 'Spring sale' }, { value: 42, type: 'number' }, { value: '2026-04-01', type: 'date' }],
      header: { image: { value: 'http://cdn.example.com/x.jpg' } },
      buttons: [{ index: 0, url_suffix: { value: 'spring' } }],
    });
    expect(renderOne(j, {})).toEqual({
      message: {
        template: { name: 'welcome_back', language: 'en_US' },
        header: { kind: 'image', link: 'http://cdn.example.com/x.jpg' },
        body: [{ kind: 'text', text: 'Spring sale' }, { kind: 'text', text: '42' }, { kind: 'date_time', text: 'Apr 1, 2026' }],
        buttons: [{ index: 0, kind: 'url', text: 'spring' }],
      },
      variables: { header: 'http://cdn.example.com/x.jpg', 'body.1': 'Spring sale', 'body.2': '42', 'body.3': 'Apr 1, 2026', 'button.0': 'spring' },
    });
  });

  it('passes emoji and CJK text through unchanged', () => {
    const j = job({ body: [{ column: 'a' }, { column: 'b' }], header: { text: { column: 'h' } } });
    const result = renderOne(j, { a: '👋🏽 こんにちは、世界', b: '👨‍👩‍👧 가족 🎉', h: '春のセール🌸' });
    expect(result).toEqual({
      message: {
        template: { name: 'welcome_back', language: 'en_US' },
        header: { kind: 'text', text: '春のセール🌸' },
        body: [{ kind: 'text', text: '👋🏽 こんにちは、世界' }, { kind: 'text', text: '👨‍👩‍👧 가족 🎉' }],
        buttons: [],
      },
      variables: { header: '春のセール🌸', 'body.1': '👋🏽 こんにちは、世界', 'body.2': '👨‍👩‍👧 가족 🎉' },
    });
  });

  it('renders non-string text values as strings', () => {
    const j = job({ body: [{ column: 'n' }, { column: 'b' }, { column: 'd' }] });
    const result = renderOne(j, { n: 7, b: false, d: new Date('2026-03-05T20:00:00Z') });
    expect('message' in result && result.message.body.map((p) => p.text)).toEqual(['7', 'false', '2026-03-05T20:00:00.000Z']);
  });
});

describe('rowRenderer: numbers, currency and dates follow the template language', () => {
  const numbers = job({ body: [{ column: 'n', type: 'number' }] });

  it.each([
    ['ja', '1,234,567.891'],
    ['en_US', '1,234,567.891'],
    ['de', '1.234.567,891'],
    ['pt_BR', '1.234.567,891'],
  ])('number in %s', (language, text) => {
    expect(bodyText(job({ body: [{ column: 'n', type: 'number' }] }, { language }), { n: 1234567.891 })).toBe(text);
  });

  it('accepts numeric strings and rejects the rest', () => {
    expect(bodyText(numbers, { n: ' 42 ' })).toBe('42');
    expect(bodyText(numbers, { n: 0 })).toBe('0');
    expect(bodyText(numbers, { n: -3.5 })).toBe('-3.5');
    expect(bodyText(numbers, { n: 'abc' })).toEqual({
      verdict: { status: 'rejected', reason: 'invalid_variable', detail: 'message.body.0 (column n) is not a number: "abc"' },
    });
    expect(bodyText(numbers, { n: '1,234' })).toEqual({
      verdict: { status: 'rejected', reason: 'invalid_variable', detail: 'message.body.0 (column n) is not a number: "1,234"' },
    });
    expect(bodyText(numbers, { n: Number.NaN })).toEqual({
      verdict: { status: 'rejected', reason: 'invalid_variable', detail: 'message.body.0 (column n) is not a number: "NaN"' },
    });
  });

  it('currency: amount1000 and the fallback text, JPY and USD, ja and en_US', () => {
    const body = [{ column: 'yen', type: 'currency', currency: 'JPY' }, { column: 'usd', type: 'currency', currency: 'USD' }];
    const row = { yen: 1500, usd: '12.5' };
    const ja = renderOne(job({ body }, { language: 'ja' }), row);
    const en = renderOne(job({ body }, { language: 'en_US' }), row);
    expect('message' in ja && ja.message.body).toEqual([
      { kind: 'currency', text: '￥1,500', code: 'JPY', amount1000: 1_500_000 },
      { kind: 'currency', text: '$12.50', code: 'USD', amount1000: 12_500 },
    ]);
    expect('message' in en && en.message.body).toEqual([
      { kind: 'currency', text: '¥1,500', code: 'JPY', amount1000: 1_500_000 },
      { kind: 'currency', text: '$12.50', code: 'USD', amount1000: 12_500 },
    ]);
    expect('message' in en && en.variables).toEqual({ 'body.1': '¥1,500', 'body.2': '$12.50' });
  });

  it('currency rounds the text to the currency and amount1000 to a thousandth', () => {
    const usd = job({ body: [{ column: 'c', type: 'currency', currency: 'USD', name: 'price' }] });
    const result = renderOne(usd, { c: 19.999 });
    expect('message' in result && result.message.body).toEqual([
      { kind: 'currency', name: 'price', text: '$20.00', code: 'USD', amount1000: 19_999 },
    ]);
    const yen = renderOne(job({ body: [{ column: 'c', type: 'currency', currency: 'JPY' }] }), { c: 1500.4 });
    expect('message' in yen && yen.message.body).toEqual([{ kind: 'currency', text: '¥1,500', code: 'JPY', amount1000: 1_500_400 }]);
  });

  it('date from a YYYY-MM-DD string, by language', () => {
    const body = [{ column: 'd', type: 'date' }];
    expect(bodyText(job({ body }, { language: 'ja' }), { d: '2026-03-05' })).toBe('2026/03/05');
    expect(bodyText(job({ body }, { language: 'en_US' }), { d: '2026-03-05' })).toBe('Mar 5, 2026');
  });

  it.each([
    ['Asia/Tokyo', 'ja', '2026/01/31', '2026/12/31', '2026/03/06'],
    ['Asia/Tokyo', 'en_US', 'Jan 31, 2026', 'Dec 31, 2026', 'Mar 6, 2026'],
    ['America/Los_Angeles', 'ja', '2026/01/31', '2026/12/31', '2026/03/05'],
    ['America/Los_Angeles', 'en_US', 'Jan 31, 2026', 'Dec 31, 2026', 'Mar 5, 2026'],
  ])('dates in %s (%s): calendar dates never shift, timestamps use the job time zone', (timezone, language, fromDate, fromString, fromTimestamp) => {
    const j = job({ body: [{ column: 'day', type: 'date' }, { column: 'day_text', type: 'date' }, { column: 'ts', type: 'date' }, { column: 'ts_text', type: 'date' }] }, { timezone, language });
    const result = renderOne(j, {
      day: new Date(Date.UTC(2026, 0, 31)), // a DATE column: UTC midnight
      day_text: '2026-12-31',
      ts: new Date('2026-03-05T20:00:00Z'), // 05:00 on the 6th in Tokyo, 12:00 on the 5th in Los Angeles
      ts_text: '2026-03-05T20:00:00Z',
    });
    expect('message' in result && result.message.body).toEqual([
      { kind: 'date_time', text: fromDate },
      { kind: 'date_time', text: fromString },
      { kind: 'date_time', text: fromTimestamp },
      { kind: 'date_time', text: fromTimestamp },
    ]);
  });

  it('rejects a value that is not a date', () => {
    const j = job({ body: [{ column: 'd', type: 'date', name: 'expires_on' }] });
    for (const d of ['not a date', '2026-13-01', 20260305]) {
      expect(renderOne(j, { d })).toEqual({
        verdict: { status: 'rejected', reason: 'invalid_variable', detail: `message.body.0 "expires_on" (column d) is not a date: ${JSON.stringify(String(d))}` },
      });
    }
  });
});

describe('rowRenderer: verdicts', () => {
  const two = job({ body: [{ column: 'first_name' }, { column: 'points', type: 'number' }] });
  const named = job({ body: [{ column: 'first_name', name: 'name' }, { column: 'points', name: 'points' }] });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['empty', ''],
    ['blank', '   '],
  ])('missing_variable when the value is %s, naming the parameter and the column', (_label, value) => {
    expect(renderOne(two, { first_name: 'Ana', points: value })).toEqual({
      verdict: { status: 'rejected', reason: 'missing_variable', detail: 'message.body.1 (column points) is empty' },
    });
    expect(renderOne(named, { first_name: value, points: 3 })).toEqual({
      verdict: { status: 'rejected', reason: 'missing_variable', detail: 'message.body.0 "name" (column first_name) is empty' },
    });
  });

  it('missing_variable for a column absent from the row, in the header and the buttons', () => {
    expect(renderOne(job({ body: [], header: { text: { column: 'h' } } }), {})).toEqual({
      verdict: { status: 'rejected', reason: 'missing_variable', detail: 'message.header.text (column h) is empty' },
    });
    expect(renderOne(job({ body: [], header: { image: { column: 'img' } } }), { img: null })).toEqual({
      verdict: { status: 'rejected', reason: 'missing_variable', detail: 'message.header.image (column img) is empty' },
    });
    expect(renderOne(job({ body: [], buttons: [{ index: 2, url_suffix: { column: 'path' } }] }), { path: '' })).toEqual({
      verdict: { status: 'rejected', reason: 'missing_variable', detail: 'message.buttons.2.url_suffix (column path) is empty' },
    });
  });

  it('variable_too_long: a body parameter at 1025 characters, 1024 passes', () => {
    const j = job({ body: [{ column: 'text' }] });
    expect(bodyText(j, { text: 'a'.repeat(1024) })).toBe('a'.repeat(1024));
    expect(renderOne(j, { text: 'a'.repeat(1025) })).toEqual({
      verdict: { status: 'rejected', reason: 'variable_too_long', detail: "message.body.0 (column text) is 1025 UTF-16 units; the provider's limit is 1024" },
    });
  });

  it('variable_too_long counts UTF-16 units, as the provider may: an emoji is 2', () => {
    const j = job({ body: [{ column: 'text' }] });
    const emoji512 = '😀'.repeat(512); // 512 × 2 = 1,024 units
    expect(bodyText(j, { text: emoji512 })).toBe(emoji512);
    expect(renderOne(j, { text: '😀'.repeat(513) })).toEqual({ // 1,026 units, 513 code points
      verdict: { status: 'rejected', reason: 'variable_too_long', detail: "message.body.0 (column text) is 1026 UTF-16 units; the provider's limit is 1024" },
    });
    expect(renderOne(j, { text: `${emoji512}あ` })).toEqual({ // あ is one unit
      verdict: { status: 'rejected', reason: 'variable_too_long', detail: "message.body.0 (column text) is 1025 UTF-16 units; the provider's limit is 1024" },
    });
  });

  it('variable_too_long: header text at 61 units, 60 passes', () => {
    const j = job({ body: [], header: { text: { column: 'h' } } });
    const ok = renderOne(j, { h: 'ヘ'.repeat(60) });
    expect('message' in ok && ok.message.header).toEqual({ kind: 'text', text: 'ヘ'.repeat(60) });
    expect(renderOne(j, { h: 'ヘ'.repeat(61) })).toEqual({
      verdict: { status: 'rejected', reason: 'variable_too_long', detail: "message.header.text (column h) is 61 UTF-16 units; the provider's limit is 60" },
    });
    expect(renderOne(j, { h: `${'🎉'.repeat(30)}!` })).toEqual({ // 30 × 2 + 1
      verdict: { status: 'rejected', reason: 'variable_too_long', detail: "message.header.text (column h) is 61 UTF-16 units; the provider's limit is 60" },
    });
  });

  it('variable_too_long: free-form text over 4,096 units', () => {
    const j = JobSchema.parse({
      name: 'render_text',
      source: { query: 'select 1' },
      audience: { key: 'customer_id', phone: 'phone', default_region: 'JP', consent: 'opt_in' },
      message: { provider: 'sandbox', sender: '15550001234', text: { column: 'body' } },
    });
    const emoji2048 = '😀'.repeat(2048); // 4,096 units
    expect(renderOne(j, { body: emoji2048 })).toEqual({ message: { text: emoji2048, body: [], buttons: [] }, variables: { text: emoji2048 } });
    expect(renderOne(j, { body: `${emoji2048}.` })).toEqual({
      verdict: { status: 'rejected', reason: 'variable_too_long', detail: "message.text (column body) is 4097 UTF-16 units; the provider's limit is 4096" },
    });
  });

  it.each([
    ['a new line', 'line one\nline two'],
    ['a carriage return', 'one\rtwo'],
    ['a tab', 'col\tcol'],
    ['five spaces in a row', 'wide     gap'],
  ])('invalid_variable for %s in the body', (_label, text) => {
    expect(renderOne(two, { first_name: text, points: 1 })).toEqual({
      verdict: {
        status: 'rejected',
        reason: 'invalid_variable',
        detail: 'message.body.0 (column first_name) contains a new line, a tab or more than 4 spaces in a row, which WhatsApp refuses',
      },
    });
  });

  it('four spaces in a row pass', () => {
    expect(bodyText(two, { first_name: 'a    b', points: 1 })).toBe('a    b');
  });

  it('invalid_variable for a new line in the header text', () => {
    expect(renderOne(job({ body: [], header: { text: { column: 'h' } } }), { h: 'a\nb' })).toEqual({
      verdict: {
        status: 'rejected',
        reason: 'invalid_variable',
        detail: 'message.header.text (column h) contains a new line, a tab or more than 4 spaces in a row, which WhatsApp refuses',
      },
    });
  });

  it.each([
    ['ftp', 'ftp://cdn.example.com/a.png'],
    ['no scheme', 'www.example.com/a.png'],
    ['a space', 'https://cdn.example.com/a b.png'],
    ['a relative path', '/img/a.png'],
  ])('invalid_variable for a header image URL with %s', (_label, url) => {
    expect(renderOne(job({ body: [], header: { image: { column: 'img' } } }), { img: url })).toEqual({
      verdict: { status: 'rejected', reason: 'invalid_variable', detail: 'message.header.image (column img) is not an http(s) URL' },
    });
  });

  it('the first problem in template order decides the verdict', () => {
    expect(renderOne(two, { first_name: null, points: 'abc' })).toEqual({
      verdict: { status: 'rejected', reason: 'missing_variable', detail: 'message.body.0 (column first_name) is empty' },
    });
  });
});

describe('render stage', () => {
  async function* batches(...list: Draft[][]): AsyncGenerator<Draft[]> {
    yield* list;
  }

  it('renders open drafts, drops every row and leaves decided drafts untouched', async () => {
    const j = job({ body: [{ column: 'first_name' }] });
    const open: Draft = { ordinal: 0, rowKey: 'c1', row: { first_name: 'Ana' }, recipient: '+819012345678' };
    const refused: Draft = { ordinal: 1, rowKey: 'c2', row: { first_name: null }, recipient: '+819012345679' };
    const decided: Draft = {
      ordinal: 2, rowKey: 'c3', row: { first_name: 'Bo' }, recipient: null,
      verdict: { status: 'rejected', reason: 'invalid_phone', detail: 'empty' },
    };
    const out: Draft[][] = [];
    for await (const batch of render(j, batches([open, refused], [decided]))) out.push(batch);

    expect(out).toEqual([
      [
        {
          ordinal: 0, rowKey: 'c1', row: null, recipient: '+819012345678',
          message: { template: { name: 'welcome_back', language: 'en_US' }, body: [{ kind: 'text', text: 'Ana' }], buttons: [] },
          variables: { 'body.1': 'Ana' },
        },
        {
          ordinal: 1, rowKey: 'c2', row: null, recipient: '+819012345679',
          verdict: { status: 'rejected', reason: 'missing_variable', detail: 'message.body.0 (column first_name) is empty' },
        },
      ],
      [
        {
          ordinal: 2, rowKey: 'c3', row: null, recipient: null,
          verdict: { status: 'rejected', reason: 'invalid_phone', detail: 'empty' },
        },
      ],
    ]);
    expect(decided.message).toBeUndefined();
    expect(decided.variables).toBeUndefined();
  });
});

describe('rowRenderer: dates and numbers are read strictly', () => {
  const dateJob = job({ body: [{ column: 'd', type: 'date' }] });
  const numberJob = job({ body: [{ column: 'n', type: 'number' }] });

  it.each(['2026-02-30', '2026-02-29', '2026-04-31', '2026/03/05', 'March 5', '05-03-2026'])('refuses %s as a date', (d) => {
    expect(bodyText(dateJob, { d })).toMatchObject({ verdict: { status: 'rejected', reason: 'invalid_variable' } });
  });

  it('reads a timestamp without an offset as UTC, whatever the server zone', () => {
    expect(bodyText(dateJob, { d: '2026-03-05 23:30' })).toBe('Mar 5, 2026');
    expect(bodyText(job({ body: [{ column: 'd', type: 'date' }] }, { timezone: 'Asia/Tokyo' }), { d: '2026-03-05T23:30:00Z' })).toBe('Mar 6, 2026');
  });

  it.each(['0x10', '1e', '', 'Infinity', '12abc'])('refuses %j as a number', (n) => {
    expect(bodyText(numberJob, { n })).toMatchObject({ verdict: { status: 'rejected' } });
  });

  it('reads decimal text and bigints as numbers', () => {
    expect(bodyText(numberJob, { n: ' -12.5 ' })).toBe('-12.5');
    expect(bodyText(numberJob, { n: 12345678901n })).toBe('12,345,678,901');
  });
});
