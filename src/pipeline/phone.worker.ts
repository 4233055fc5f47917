/** Worker thread: normalizes batches of phone numbers off the main thread (see phone.pool.ts). */
import { parentPort } from 'node:worker_threads';
import { normalizePhone } from './phone.normalize.js';
import { packResults, type PackedResults } from './phone.packed.js';

export interface PhoneRequest {
  id: number;
  values: (string | null)[];
  region: string;
}

export interface PhoneReply {
  id: number;
  results: PackedResults;
}

// A bad number costs the library a ParseError, whose stack nobody here reads: capturing it was
// ~10% of this thread's time on a segment with 7% bad numbers. This thread runs nothing else.
Error.stackTraceLimit = 0;

parentPort?.on('message', (request: PhoneRequest) => {
  const results = packResults(request.values.map((v) => normalizePhone(v, request.region)));
  parentPort!.postMessage({ id: request.id, results } satisfies PhoneReply);
});
