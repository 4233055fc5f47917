import { describe, expect, it } from 'vitest';
import { maskPhone, normalizePhone, type PhoneResult } from '../src/pipeline/phone.normalize.js';

// Every number below is a generated example (libphonenumber's examples, +1 201 555 01xx, Ofcom's
// drama ranges and the like); each expectation was checked against libphonenumber-js/max.
// The country is the label's first word (each accepted case is labelled with its number's region).
const mobile = (e164: string): PhoneResult => ({ ok: true, e164, type: 'MOBILE', country: null });
const nanp = (e164: string): PhoneResult => ({ ok: true, e164, type: 'FIXED_LINE_OR_MOBILE', country: null });
const invalid = (detail: string): PhoneResult => ({ ok: false, reason: 'invalid_phone', detail });
const landline: PhoneResult = { ok: false, reason: 'not_mobile', detail: 'fixed_line number' };
const tollFree: PhoneResult = { ok: false, reason: 'not_mobile', detail: 'toll_free number' };

type Case = [label: string, raw: unknown, region: string, expected: PhoneResult];

const accepted: Case[] = [
  // JP
  ['JP E.164', '+819012345678', 'JP', mobile('+819012345678')],
  ['JP national with dashes', '090-1234-5678', 'JP', mobile('+819012345678')],
  ['JP national with spaces', '090 1234 5678', 'JP', mobile('+819012345678')],
  ['JP national with parentheses', '(090) 1234-5678', 'JP', mobile('+819012345678')],
  ['JP national with dots', '090.1234.5678', 'JP', mobile('+819012345678')],
  ['JP 080 prefix', '08012345678', 'JP', mobile('+818012345678')],
  ['JP 070 prefix', '07012345678', 'JP', mobile('+817012345678')],
  ['JP country code without +', '819012345678', 'JP', mobile('+819012345678')],
  ['JP national without its leading 0', '9012345678', 'JP', mobile('+819012345678')],
  ['JP full-width digits and dashes', '０９０－１２３４－５６７８', 'JP', mobile('+819012345678')],
  ['JP full-width digits after +, other default region', '+８１９０１２３４５６７８', 'US', mobile('+819012345678')],
  ['JP via JP international prefix 010', '010-81-90-1234-5678', 'JP', mobile('+819012345678')],
  ['JP via 00 from GB', '00819012345678', 'GB', mobile('+819012345678')],
  ['JP via US international prefix 011', '011 81 90 1234 5678', 'US', mobile('+819012345678')],
  ['JP with (+81) and (0)', '+81 (0)90 1234 5678', 'US', mobile('+819012345678')],
  ['JP as a JS number with country code', 819012345678, 'JP', mobile('+819012345678')],
  ['JP as a JS number, national', 9012345678, 'JP', mobile('+819012345678')],
  ['JP with surrounding spaces', '  +81 90-1234-5678  ', 'JP', mobile('+819012345678')],
  ['JP E.164 under a default region the library does not know', '+81 90 1234 5678', 'XX', mobile('+819012345678')],
  // ID
  ['ID E.164', '+6281234567890', 'ID', mobile('+6281234567890')],
  ['ID national with dashes', '0812-3456-7890', 'ID', mobile('+6281234567890')],
  ['ID country code without +', '6281234567890', 'ID', mobile('+6281234567890')],
  ['ID short mobile', '0812345678', 'ID', mobile('+62812345678')],
  ['ID as a JS number', 6281234567890, 'ID', mobile('+6281234567890')],
  // SG
  ['SG E.164', '+6581234567', 'SG', mobile('+6581234567')],
  ['SG national with a space', '8123 4567', 'SG', mobile('+6581234567')],
  ['SG national 9xxx', '9123-4567', 'SG', mobile('+6591234567')],
  ['SG country code without +', '6581234567', 'SG', mobile('+6581234567')],
  ['SG as a JS number', 81234567, 'SG', mobile('+6581234567')],
  ['SG via 00 from MY', '0065 8123 4567', 'MY', mobile('+6581234567')],
  ['SG E.164 with a JP default region', '+65 8123 4567', 'JP', mobile('+6581234567')],
  // MY
  ['MY E.164', '+60123456789', 'MY', mobile('+60123456789')],
  ['MY national', '012-345 6789', 'MY', mobile('+60123456789')],
  ['MY national 019', '019-234 5678', 'MY', mobile('+60192345678')],
  ['MY country code without +', '60123456789', 'MY', mobile('+60123456789')],
  // US / CA: fixed line or mobile, which WhatsApp reaches
  ['US E.164', '+12015550123', 'US', nanp('+12015550123')],
  ['US national with parentheses', '(201) 555-0123', 'US', nanp('+12015550123')],
  ['US national with dots', '201.555.0123', 'US', nanp('+12015550123')],
  ['US with trunk 1', '1-201-555-0123', 'US', nanp('+12015550123')],
  ['US as a JS number', 2015550123, 'US', nanp('+12015550123')],
  ['US 0199', '+1 201 555 0199', 'US', nanp('+12015550199')],
  ['CA national', '506-234-5678', 'CA', nanp('+15062345678')],
  // GB
  ['GB E.164', '+447400123456', 'GB', mobile('+447400123456')],
  ['GB national', '07400 123456', 'GB', mobile('+447400123456')],
  ['GB 00 prefix', '00447400123456', 'GB', mobile('+447400123456')],
  ['GB via 00 from DE', '00 44 7400 123456', 'DE', mobile('+447400123456')],
  ['GB country code without +', '447400123456', 'GB', mobile('+447400123456')],
  ['GB with (0)', '+44 (0) 7400 123456', 'US', mobile('+447400123456')],
  ['GB as a JS number', 447400123456, 'GB', mobile('+447400123456')],
  // BR
  ['BR E.164', '+5511961234567', 'BR', mobile('+5511961234567')],
  ['BR national with area code in parentheses', '(11) 96123-4567', 'BR', mobile('+5511961234567')],
  ['BR country code without +', '5511961234567', 'BR', mobile('+5511961234567')],
  ['BR via 00 from IN', '00 55 11 96123 4567', 'IN', mobile('+5511961234567')],
  // IN
  ['IN E.164', '+918123456789', 'IN', mobile('+918123456789')],
  ['IN national with 0', '081234 56789', 'IN', mobile('+918123456789')],
  ['IN national without 0', '98765 43210', 'IN', mobile('+919876543210')],
  ['IN country code without +', '918123456789', 'IN', mobile('+918123456789')],
  // more countries
  ['DE national', '0151 23456789', 'DE', mobile('+4915123456789')],
  ['FR national', '06 12 34 56 78', 'FR', mobile('+33612345678')],
  ['AU national', '0412 345 678', 'AU', mobile('+61412345678')],
  ['PH national', '0905 123 4567', 'PH', mobile('+639051234567')],
  ['TH national', '081 234 5678', 'TH', mobile('+66812345678')],
  ['KR national', '010-2000-0000', 'KR', mobile('+821020000000')],
];

const rejected: Case[] = [
  ['null', null, 'JP', invalid('empty')],
  ['undefined', undefined, 'US', invalid('empty')],
  ['empty string', '', 'JP', invalid('empty')],
  ['blank string', '   ', 'JP', invalid('empty')],
  ['letters', 'abc', 'JP', invalid('NOT_A_NUMBER')],
  ['words', 'not a phone', 'US', invalid('NOT_A_NUMBER')],
  ['a boolean', true, 'JP', invalid('NOT_A_NUMBER')],
  ['a lone +', '+', 'JP', invalid('NOT_A_NUMBER')],
  ['country code only', '+81', 'JP', invalid('TOO_SHORT')],
  ['the number 0', 0, 'JP', invalid('TOO_SHORT')],
  ['too short (2 digits)', '12', 'JP', invalid('not a valid JP number')],
  ['too short (3 digits, US)', '123', 'US', invalid('not a valid US number')],
  ['too short JP mobile', '090-1234', 'JP', invalid('not a valid JP number')],
  ['too short SG', '+6591234', 'SG', invalid('not a valid SG number')],
  ['one digit too many for JP', '090123456789', 'JP', invalid('not a valid JP number')],
  ['too long E.164', '+8190123456789012', 'JP', invalid('not a valid JP number')],
  ['far too long', '0901234567890123456789', 'JP', invalid('TOO_LONG')],
  ['unknown country code', '+999 1234 5678', 'JP', invalid('INVALID_COUNTRY')],
  ['a national number under a default region the library does not know', '090-1234-5678', 'XX', invalid('INVALID_COUNTRY')],
  ['letters under a default region the library does not know', 'n/a', 'XX', invalid('INVALID_COUNTRY')],
  ['+1 555 555 01xx (fictional, not valid)', '+1 555 555 0123', 'US', invalid('not a valid +1 number')],
  ['+1 555 555 0199', '+1 555 555 0199', 'US', invalid('not a valid +1 number')],
  ['+44 7700 900xxx (drama range, not valid)', '+44 7700 900123', 'GB', invalid('not a valid +44 number')],
  ['+44 7700 900999', '+44 7700 900999', 'GB', invalid('not a valid +44 number')],
  ['+81 90 0000 xxxx (not valid)', '+81 90 0000 1234', 'JP', invalid('not a valid JP number')],
  ['00 is not the international prefix in JP', '00447400123456', 'JP', invalid('not a valid JP number')],
  // not mobile
  ['JP landline 03', '03-1234-5678', 'JP', landline],
  ['JP toll-free 0120', '0120-123-456', 'JP', tollFree],
  ['GB London landline', '020 7946 0123', 'GB', landline],
  ['GB landline in E.164', '+44 20 7946 0018', 'GB', landline],
  ['GB freephone 0800', '0800 123 4567', 'GB', tollFree],
  ['SG landline 6xxx', '6123 4567', 'SG', landline],
  ['SG toll-free 1800', '1800 123 4567', 'SG', tollFree],
  ['MY landline 03', '03-2123 4567', 'MY', landline],
  ['MY toll-free', '+60 1800 88 1234', 'MY', tollFree],
  ['ID Jakarta landline', '021-1234567', 'ID', landline],
  ['ID toll-free', '0800 1 234567', 'ID', tollFree],
  ['BR São Paulo landline', '11 3123-4567', 'BR', landline],
  ['BR toll-free', '0800 123 4567', 'BR', tollFree],
  ['IN Delhi landline', '011 2345 6789', 'IN', landline],
  ['IN toll-free', '1800 123 4567', 'IN', tollFree],
  ['US toll-free 800', '+1 800 234 5678', 'US', tollFree],
  ['US toll-free national', '1-800-234-5678', 'US', tollFree],
  ['DE Berlin landline', '030 123456', 'DE', landline],
  ['FR Paris landline', '01 23 45 67 89', 'FR', landline],
  ['AU Sydney landline', '02 9876 5432', 'AU', landline],
  ['AU toll-free', '+61 1800 123 456', 'AU', tollFree],
];

describe('normalizePhone', () => {
  it.each(accepted)('accepts %s', (label, raw, region, expected) => {
    expect(label).toMatch(/^[A-Z]{2} /);
    expect(normalizePhone(raw, region)).toEqual({ ...expected, country: label.slice(0, 2) });
  });

  it.each(rejected)('rejects %s', (_label, raw, region, expected) => {
    expect(normalizePhone(raw, region)).toEqual(expected);
  });

  it('covers at least eight countries and 45 cases', () => {
    const regions = new Set([...accepted, ...rejected].map(([, , region]) => region));
    for (const r of ['JP', 'ID', 'SG', 'MY', 'US', 'GB', 'BR', 'IN']) expect(regions).toContain(r);
    expect(accepted.length + rejected.length).toBeGreaterThanOrEqual(45);
  });
});

describe('maskPhone', () => {
  it.each([
    ['+819012345678', '+81******5678'],
    ['+6581234567', '+65****4567'],
    ['+12015550123', '+12*****0123'],
    ['+447400123456', '+44******3456'],
    ['+12345678', '+12**5678'],
    ['+1234567', '+12*4567'],
    ['+123456', '*******'],
    ['+1', '**'],
    ['', ''],
    [null, ''],
    [undefined, ''],
  ] as [string | null | undefined, string][])('masks %s as %s', (input, masked) => {
    expect(maskPhone(input)).toBe(masked);
  });

  it('never shows more than the country code and the last four digits', () => {
    const masked = maskPhone('+5511961234567');
    expect(masked).toBe('+55*******4567');
    expect(masked).not.toContain('961');
  });
});
