/** `delivery.not_after`: a local time in the job's zone after which nothing more is sent today. */

export function deadlineChecker(notAfter: string | undefined, timeZone: string): (now: Date) => boolean {
  if (!notAfter) return () => false;
  const [h, m] = notAfter.split(':').map(Number) as [number, number];
  const limit = h * 60 + m;
  const clock = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return (now) => {
    const [hh, mm] = clock.format(now).split(':').map(Number) as [number, number];
    return hh * 60 + mm >= limit;
  };
}
