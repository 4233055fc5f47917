/**
 * V8 heap growth for a streaming process. herald keeps ~25 MB live while it allocates ~5 KB per
 * row that dies young; on a machine with several GB, V8 lets the old generation grow to about four
 * times the live heap between full collections (~110 MB on a 2,000,000-row dry run). Growing it by
 * a quarter instead keeps it near 40 MB; the extra full collections of a heap this small cost
 * about 1% of the run (bench/memory.ts, BENCHMARKS.md).
 *
 * The factor is read at every collection, so setting it at start-up is the same as passing
 * --heap-growing-percent to node; an operator's own heap flags (NODE_OPTIONS or node's command
 * line) win.
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 25;

const OWN_HEAP_FLAGS = /--(heap-growing-percent|max-old-space-size|max-heap-size|optimize-for-size)\b/;

/** Applies the growth factor unless the operator chose heap flags; says whether it did. */
export function tuneHeapForStreaming(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  if ([...execArgv, nodeOptions].some((flag) => OWN_HEAP_FLAGS.test(flag))) return false;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
