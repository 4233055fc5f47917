/** Worker thread: normalizes batches of phone numbers off the main thread (see phone.pool.ts). */
import { parentPort } from 'node:worker_threads';
import { normalizePhone, type PhoneResult } from './phone.normalize.js';

export interface PhoneRequest {
  id: number;
  values: (string | null)[];
  region: string;
}

export interface PhoneReply {
  id: number;
  results: PhoneResult[];
}

parentPort?.on('message', (request: PhoneRequest) => {
  const results = request.values.map((v) => normalizePhone(v, request.region));
  parentPort!.postMessage({ id: request.id, results } satisfies PhoneReply);
});
