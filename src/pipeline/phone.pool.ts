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
  normalize(values: readonly unknown[], region: string): Promise<PhoneResult[]>;
  close(): Promise<void>;
}

const WORKER_FILE = new URL('./phone.worker.js', import.meta.url);

/**
 * The worker holds libphonenumber's metadata and one chunk at a time (a few MB live). Without
 * limits V8 gave it the main thread's heap sizing, ~40 MB of RSS; with these it takes ~25 MB.
 * A larger young generation would scavenge less (a fifth of the worker's time) but costs ~7 MB of
 * RSS per doubling, and the 2M-row dry run has none to spare (bench/memory.ts). For the same
 * reason one worker: a second cost ~23 MB, and letting the main thread parse a chunk whenever two
 * were queued at the worker was no faster on the shared 2-core machine (bench/segment-throughput.ts).
 */
const WORKER_HEAP = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };

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
    normalize(values, region) {
      if (failure) return Promise.reject(failure);
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
    normalize: async (values, region) => values.map((v) => normalizePhone(v, region)),
    close: async () => undefined,
  };
}
