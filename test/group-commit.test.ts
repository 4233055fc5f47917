import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../src/util/group-commit.js';

/** A write that records its batches and finishes when told to. */
function recordingWrite() {
  const batches: number[][] = [];
  const finishers: ((err?: Error) => void)[] = [];
  const write = (items: readonly number[]) => new Promise<void>((resolve, reject) => {
    batches.push([...items]);
    finishers.push((err) => (err ? reject(err) : resolve()));
  });
  return { batches, finishers, write };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('carries the calls of one tick in one write, and the calls made during it in the next', async () => {
    const w = recordingWrite();
    const commit = new GroupCommit<number>(w.write);
    const first = [commit.add([1, 2]), commit.add([3])];
    await tick();
    expect(w.batches).toEqual([[1, 2, 3]]);
    const second = [commit.add([4]), commit.add([5, 6])];
    await tick();
    expect(w.batches).toHaveLength(1); // one writer: the next batch waits for the first
    w.finishers[0]!();
    await Promise.all(first);
    await tick();
    expect(w.batches).toEqual([[1, 2, 3], [4, 5, 6]]);
    w.finishers[1]!();
    await Promise.all(second);
  });

  it('resolves a call only once the write carrying it is done', async () => {
    const w = recordingWrite();
    const commit = new GroupCommit<number>(w.write);
    let done = false;
    const call = commit.add([1]).then(() => (done = true));
    await tick();
    await tick();
    expect(done).toBe(false);
    w.finishers[0]!();
    await call;
    expect(done).toBe(true);
  });

  it('rejects the callers of a failed write, and only them', async () => {
    const w = recordingWrite();
    const commit = new GroupCommit<number>(w.write);
    const failed = commit.add([1]);
    await tick();
    const later = commit.add([2]);
    w.finishers[0]!(new Error('disk full'));
    await expect(failed).rejects.toThrow('disk full');
    await tick();
    w.finishers[1]!();
    await expect(later).resolves.toBeUndefined();
  });

  it('caps a batch at maxBatch items without splitting a call', async () => {
    const w = recordingWrite();
    const commit = new GroupCommit<number>(w.write, () => 3, 4);
    const calls = [commit.add([1, 2, 3]), commit.add([4, 5]), commit.add([6, 7, 8, 9, 10, 11]), commit.add([12])];
    await tick();
    expect(w.batches).toEqual([[1, 2, 3], [4, 5], [6, 7, 8, 9, 10, 11]]);
    for (const finish of w.finishers.splice(0)) finish();
    await tick();
    await tick();
    expect(w.batches[3]).toEqual([12]);
    w.finishers[0]!();
    await Promise.all(calls);
  });

  it('idle waits for pending and running writes', async () => {
    const w = recordingWrite();
    const commit = new GroupCommit<number>(w.write);
    await commit.idle(); // nothing to wait for
    void commit.add([1]);
    let idle = false;
    const waiting = commit.idle().then(() => (idle = true));
    await tick();
    expect(idle).toBe(false);
    w.finishers[0]!();
    await waiting;
    expect(idle).toBe(true);
  });

  it('resolves an empty call at once, without a write', async () => {
    const w = recordingWrite();
    await new GroupCommit<number>(w.write).add([]);
    expect(w.batches).toEqual([]);
  });

  describe('with isolate', () => {
    /** A write that refuses any batch holding a negative number, at once. */
    function refusingWrite() {
      const batches: number[][] = [];
      const write = (items: readonly number[]) => {
        batches.push([...items]);
        return items.some((i) => i < 0) ? Promise.reject(new Error(`cannot store ${items.filter((i) => i < 0).join(',')}`)) : Promise.resolve();
      };
      return { batches, write };
    }

    it('writes each call of a failed batch on its own: only the call with bad items fails', async () => {
      const w = refusingWrite();
      const commit = new GroupCommit<number>(w.write, () => 1, 5000, { isolate: true });
      const results = await Promise.allSettled([commit.add([1, 2]), commit.add([-3]), commit.add([4]), commit.add([5, -6, 7])]);
      expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as Error).message))).toEqual(['ok', 'cannot store -3', 'ok', 'cannot store -6']);
      expect(w.batches).toEqual([[1, 2, -3, 4, 5, -6, 7], [1, 2], [-3], [4], [5, -6, 7]]);
    });

    it('does not write a lone call twice, and later calls form the next batch as usual', async () => {
      const w = refusingWrite();
      const commit = new GroupCommit<number>(w.write, () => 1, 5000, { isolate: true });
      await expect(commit.add([-1])).rejects.toThrow('cannot store -1');
      await Promise.all([commit.add([2]), commit.add([3])]);
      expect(w.batches).toEqual([[-1], [2, 3]]);
      await commit.idle();
    });

    it('without isolate, a failed batch fails every call in it', async () => {
      const w = refusingWrite();
      const commit = new GroupCommit<number>(w.write);
      const results = await Promise.allSettled([commit.add([1]), commit.add([-2])]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      expect(w.batches).toEqual([[1, -2]]);
    });
  });
  describe('batched by time', () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    /** A write that finishes at once, recording its batches. */
    function instantWrite() {
      const batches: number[][] = [];
      return { batches, write: async (items: readonly number[]) => void batches.push([...items]) };
    }

    it('holds calls that may wait until the most urgent is due, then writes them in one batch', async () => {
      const w = instantWrite();
      const commit = new GroupCommit<number>(w.write);
      const first = commit.add([1], 120);
      await sleep(30);
      const second = commit.add([2, 3], 400);
      await sleep(30);
      expect(w.batches).toEqual([]); // nothing was due yet
      await Promise.all([first, second]);
      expect(w.batches).toEqual([[1, 2, 3]]); // due with the first: the second rode along
    });

    it('a call that cannot wait takes everything pending with it at once', async () => {
      const w = instantWrite();
      const commit = new GroupCommit<number>(w.write);
      const lazy = commit.add([1, 2], 5000);
      await sleep(20);
      await commit.add([3]);
      expect(w.batches).toEqual([[1, 2, 3]]);
      await lazy;
      expect(w.batches).toHaveLength(1);
    });

    it('a full batch is written without waiting for its due time', async () => {
      const w = instantWrite();
      const commit = new GroupCommit<number>(w.write, () => 1, 4);
      const calls = [commit.add([1, 2], 5000), commit.add([3, 4], 5000)];
      await sleep(20);
      expect(w.batches).toEqual([[1, 2, 3, 4]]);
      await Promise.all(calls);
    });
  });
});
