/**
 * WhatsApp's pair rate: one message every 6 s from a business number to one user, with bursts of
 * up to 45 borrowed against later time (Meta "Throughput" / error 131056). herald spaces messages
 * to one recipient ahead of time instead of learning it from 131056: a generic cell rate algorithm
 * (GCRA) per (sender, recipient), which is exactly "a burst of N, then one per interval".
 *
 * `reserve` books the recipient's next slot and says how long to wait for it. In one process the
 * bookings live here; with Redis (redis-pacing.ts) every process books in the same place.
 */
export interface PairRate {
  /** Milliseconds until a message to `recipient` may leave (0: now); the slot is booked. */
  reserve(recipient: string): Promise<number>;
}

export const PAIR_INTERVAL_MS = 6000;
export const PAIR_BURST = 45;

/** Entries whose theoretical arrival time is past are forgotten once this many are held. */
const PRUNE_AT = 100_000;

export class LocalPairRate implements PairRate {
  /** Per recipient: the theoretical arrival time of its next message. */
  private readonly tat = new Map<string, number>();

  constructor(
    private readonly intervalMs = PAIR_INTERVAL_MS,
    private readonly burst = PAIR_BURST,
    private readonly now: () => number = () => Date.now(),
  ) {}

  reserve(recipient: string): Promise<number> {
    return Promise.resolve(this.reserveNow(recipient));
  }

  reserveNow(recipient: string): number {
    const now = this.now();
    if (this.tat.size >= PRUNE_AT) this.prune(now);
    const tat = Math.max(this.tat.get(recipient) ?? now, now);
    const allowedAt = tat - (this.burst - 1) * this.intervalMs;
    this.tat.set(recipient, tat + this.intervalMs);
    return Math.max(0, allowedAt - now);
  }

  private prune(now: number): void {
    for (const [recipient, tat] of this.tat) if (tat <= now) this.tat.delete(recipient);
  }
}
