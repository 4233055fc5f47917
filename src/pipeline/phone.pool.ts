/**
 * Phone normalization for whole chunks, on a worker thread when the machine has a core to spare:
 * libphonenumber's parse is the costliest step per row (about 8 µs), and it is pure, so the main
 * thread converts, renders and writes other rows meanwhile. Falls back to the main thread with
 * one core, or when running from TypeScript sources (tests), where no compiled worker exists.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { normalizePhone, type PhoneResult } from './phone.normalize.js';
import { unpackResults } from './phone.packed.js';
import type { PhoneReply, PhoneRequest } from './phone.worker.js';

export interface PhoneNormalizer {
  /** How many chunks the caller keeps in flight, so that the parse never waits for the next one. */
  readonly ahead: number;
  normalize(values: readonly unknown[], region: string): Promise<PhoneResult[]>;
  close(): Promise<void>;
}

const WORKER_FILE = new URL('./phone.worker.js', import.meta.url);

/**
 * The worker holds libphonenumber's metadata and one chunk at a time (a few MB live). Without
 * limits V8 gave it the main thread's heap sizing, ~40 MB of RSS; with these it takes ~25 MB.
 * A larger young generation would scavenge less (a fifth of the worker's time) but costs ~7 MB of
 * RSS per doubling, and the 2M-row dry run has none to spare (bench/memory.ts).
 */
const WORKER_HEAP = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };

/**
 * Chunks the caller keeps in flight. When two of them are still queued at the worker, the main
 * thread is ahead of it and parses the next chunk itself rather than wait: on two cores, one
 * worker and the main thread then share the parse by how busy each is, where a second worker
 * would cost ~23 MB of RSS (bench/segment-throughput.ts, bench/memory.ts).
 */
const AHEAD = 3;
const QUEUED_AT_WORKER = 2;

export function createPhoneNormalizer(): PhoneNormalizer {
  const compiled = WORKER_FILE.protocol === 'file:' && existsSync(fileURLToPath(WORKER_FILE));
  if (!compiled || availableParallelism() < 2 || process.env.HERALD_PHONE_WORKER === '0') return inline();
  const worker = new Worker(WORKER_FILE, { resourceLimits: WORKER_HEAP });
  worker.unref();
  const waiting = new Map<number, { resolve: (r: PhoneResult[]) => void; reject: (e: unknown) => void }>();
  let next = 0;
  let failure: unknown;
  worker.on('message', (reply: PhoneReply) => {
    waiting.get(reply.id)?.resolve(unpackResults(reply.results));
    waiting.delete(reply.id);
  });
  worker.on('error', (err) => {
    failure = err;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  });
  return {
    ahead: AHEAD,
    normalize(values, region) {
      if (failure) return Promise.reject(failure);
      if (waiting.size >= QUEUED_AT_WORKER) return Promise.resolve(values.map((v) => normalizePhone(v, region)));
      const id = next++;
      const request: PhoneRequest = { id, region, values: values.map((v) => (v === null || v === undefined ? null : String(v))) };
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.postMessage(request);
      });
    },
    close: async () => {
      await worker.terminate();
    },
  };
}

function inline(): PhoneNormalizer {
  return {
    ahead: 1,
    normalize: async (values, region) => values.map((v) => normalizePhone(v, region)),
    close: async () => undefined,
  };
}
