/**
 * What the stand-in does to a send request instead of answering normally. "Processed" means the
 * provider acted on it (the recipient is messaged and webhooks follow); herald cannot tell the
 * processed kinds from the unprocessed ones by what it sees, which is the point.
 */
import type { Rng } from './rng.js';

export type Fault =
  /** The connection is reset as soon as the request arrives: never processed. */
  | 'reset_before'
  /** Processed, then the connection is reset: the answer is lost. */
  | 'reset_after'
  /** Held past herald's timeout, then dropped: never processed. */
  | 'stall_before'
  /** Processed at once, answered after herald's timeout: the answer comes too late. */
  | 'stall_after'
  /** HTTP 500 with Meta's 131000 "Something went wrong" body: not processed, a retryable error. */
  | 'http_500';

export const FAULTS: readonly Fault[] = ['reset_before', 'reset_after', 'stall_before', 'stall_after', 'http_500'];

/** Faults drawn at `ratio` (0 turns them off), evenly among the kinds. */
export class FaultPlan {
  readonly played: Record<Fault, number> = { reset_before: 0, reset_after: 0, stall_before: 0, stall_after: 0, http_500: 0 };

  constructor(private readonly rng: Rng, public ratio = 0) {}

  next(): Fault | null {
    if (this.ratio <= 0 || !this.rng.chance(this.ratio)) return null;
    const fault = this.rng.pick(FAULTS);
    this.played[fault]++;
    return fault;
  }
}
