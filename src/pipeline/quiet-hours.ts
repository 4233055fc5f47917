/**
 * Sending hours in the recipient's local time (`delivery.not_before` / `not_after`). The zone is,
 * in order: the row's `delivery.recipient_timezone` column when it holds a valid IANA zone; else
 * the zones of the number's country (libphonenumber-js for the country, countries-and-timezones
 * for its zones), and where a country spans several zones a row goes only while every one of
 * them is inside the hours — never at night anywhere the number may be; a BSUID recipient
 * (`US.1349…`) takes its region prefix as the country; else the job's zone.
 * A row outside the hours is deferred, never sent late.
 */
import { getCountry } from 'countries-and-timezones';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max/es6'; // the build phone.normalize loads: one copy of the library
import { bsuidCountry } from '../util/bsuid.js';
import { isTimeZone } from '../util/time-zone.js';

export interface QuietHours {
  /** Null when the recipient may be messaged now; else why not (for the row's detail). */
  check(recipient: string, rowZone: string | null | undefined, now: Date): string | null;
  /**
   * Seconds until `not_after` where it comes first among the recipient's zones (a message that
   * arrives later would arrive outside the hours); null without a `not_after`.
   */
  secondsLeft(recipient: string, rowZone: string | null | undefined, now: Date): number | null;
}

export function quietHours(delivery: { not_before?: string | undefined; not_after?: string | undefined }, jobTimeZone: string): QuietHours | null {
  if (!delivery.not_before && !delivery.not_after) return null;
  const start = minutes(delivery.not_before ?? '00:00');
  const end = delivery.not_after ? minutes(delivery.not_after) : 24 * 60;
  const window = `${delivery.not_before ?? '00:00'}–${delivery.not_after ?? '24:00'}`;
  const clocks = new Map<string, Intl.DateTimeFormat>();
  const localTime = (zone: string, now: Date) => {
    let clock = clocks.get(zone);
    if (!clock) clocks.set(zone, (clock = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })));
    return clock.format(now);
  };
  return {
    check(recipient, rowZone, now) {
      for (const zone of zonesOf(recipient, rowZone, jobTimeZone)) {
        const local = localTime(zone, now);
        const m = minutes(local);
        if (m < start || m >= end) return `${local} in ${zone} is outside the sending hours ${window}`;
      }
      return null;
    },
    secondsLeft(recipient, rowZone, now) {
      if (!delivery.not_after) return null;
      const left = zonesOf(recipient, rowZone, jobTimeZone).map((zone) => (end - minutes(localTime(zone, now))) * 60 - now.getUTCSeconds());
      return Math.max(0, Math.min(...left));
    },
  };
}

function zonesOf(recipient: string, rowZone: string | null | undefined, jobTimeZone: string): readonly string[] {
  if (rowZone && isTimeZone(rowZone)) return [rowZone];
  const country = recipient.startsWith('+') ? parsePhoneNumberFromString(recipient)?.country : bsuidCountry(recipient);
  const zones = country ? getCountry(country)?.timezones : undefined;
  return zones && zones.length > 0 ? zones : [jobTimeZone];
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}
