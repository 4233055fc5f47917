/**
 * Prices as exact decimals: rate cards have up to 6 places and a run has millions of messages, so
 * sums are kept in millionths (bigint), never in floating point.
 */

const PLACES = 6;

/** "0.0275" → 27500n. The text is a checked rate card price (digits, at most 6 places). */
export function toMicros(price: string): bigint {
  const [whole = '0', fraction = ''] = price.split('.');
  return BigInt(whole) * 10n ** BigInt(PLACES) + BigInt(fraction.padEnd(PLACES, '0') || '0');
}

/** 27500n → "0.0275": trailing zeros dropped, at least two places. */
export function fromMicros(micros: bigint): string {
  const sign = micros < 0n ? '-' : '';
  const abs = micros < 0n ? -micros : micros;
  const scale = 10n ** BigInt(PLACES);
  return showMoney(`${sign}${abs / scale}.${(abs % scale).toString().padStart(PLACES, '0')}`);
}

/** A decimal as the engines print it ("0.055000") → "0.055"; at least two places. */
export function showMoney(decimal: string): string {
  if (!decimal.includes('.')) return `${decimal}.00`;
  const [whole, fraction = ''] = decimal.split('.');
  return `${whole}.${fraction.replace(/0+$/, '').padEnd(2, '0')}`;
}
