/** Whether a name is an IANA time zone this runtime knows (Asia/Tokyo, UTC); answers are remembered. */
const known = new Map<string, boolean>();

export function isTimeZone(zone: string): boolean {
  let ok = known.get(zone);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      ok = true;
    } catch {
      ok = false;
    }
    known.set(zone, ok);
  }
  return ok;
}
