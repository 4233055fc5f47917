/**
 * Membership sets for in-run dedupe that stay small at millions of rows: no object per entry,
 * nothing for the GC to trace, about 11 bytes per entry at 2,000,000 entries, and growth that
 * never holds two copies of the whole set.
 *
 * A 64-bit value is scrambled by a bijection (distinct values stay distinct); its top 8 bits pick
 * one of 256 partitions, each an open-addressing table of (high, low) pairs: a plain array while
 * small, then a resizable ArrayBuffer. A large partition grows in place by half, re-placing its
 * entries from one shared scratch copy. Measured at 2,000,000 entries: a single doubling table
 * held 48 MB at its last growth (old and new copy) and left glibc with freed blocks it did not
 * return; 4,096 separately reallocated tables fragmented the same way. Resizable buffers are reserved address space
 * committed as they grow, so what the set holds is what the process holds.
 */

const PARTITION_BITS = 8;
const PARTITIONS = 1 << PARTITION_BITS;
const TWO_32 = 4294967296;
const FIRST_SLOTS = 16;
/** 2,097,152 slots per partition: 256 partitions hold over 400 million entries. */
const MAX_SLOTS = 1 << 21;
const MAX_LOAD = 0.8;
/** Slots up to which a partition is a plain array (32 KB). */
const SMALL_SLOTS = 4096;

/** Exact set of 64-bit values, each given as its high and low unsigned 32-bit halves. */
class Set64 {
  /** Per partition: [high, low] per slot, (0, 0) marking an empty slot. Length-tracking views. */
  private readonly tables: (Table | undefined)[] = new Array<Table | undefined>(PARTITIONS);
  private readonly sizes = new Uint32Array(PARTITIONS);
  /** The one value that scrambles to (0, 0), which the empty marker cannot hold. */
  private hasZero = false;

  /** Adds the value; returns false when it was already there. */
  add(hi: number, lo: number): boolean {
    scramble(hi, lo);
    const a = scrambledHi;
    const b = scrambledLo;
    if (a === 0 && b === 0) return this.hasZero ? false : (this.hasZero = true);
    const part = a >>> (32 - PARTITION_BITS);
    let table = this.tables[part];
    if (!table) this.tables[part] = table = new Uint32Array(FIRST_SLOTS * 2);
    else if (this.sizes[part]! + 1 > (table.length >>> 1) * MAX_LOAD) this.tables[part] = table = grow(table);
    if (!place(table, a, b)) return false;
    this.sizes[part]!++;
    return true;
  }

  has(hi: number, lo: number): boolean {
    scramble(hi, lo);
    const a = scrambledHi;
    const b = scrambledLo;
    if (a === 0 && b === 0) return this.hasZero;
    const table = this.tables[a >>> (32 - PARTITION_BITS)];
    if (!table) return false;
    const i = probe(table, a, b);
    return table[2 * i] !== 0 || table[2 * i + 1] !== 0; // (a, b) is never (0, 0) here
  }
}

/** A plain array up to SMALL_SLOTS, then a length-tracking view that grows with its resizable buffer. */
type Table = Uint32Array<ArrayBuffer>;

/** The slot holding (a, b), or else the free slot where it belongs (linear probing from its home). */
function probe(table: Uint32Array, a: number, b: number): number {
  const slots = table.length >>> 1;
  for (let i = b % slots; ; i = i + 1 === slots ? 0 : i + 1) {
    const h = table[2 * i]!;
    const l = table[2 * i + 1]!;
    if ((h === a && l === b) || (h === 0 && l === 0)) return i;
  }
}

/** Puts (a, b) in its slot; false when it was already there. */
function place(table: Uint32Array, a: number, b: number): boolean {
  const i = probe(table, a, b);
  if (table[2 * i] !== 0 || table[2 * i + 1] !== 0) return false;
  table[2 * i] = a;
  table[2 * i + 1] = b;
  return true;
}

/** One copy, shared by every table's growth: the largest partition seen so far. */
let scratch = new Uint32Array(0);

/**
 * The table grown half again, every entry re-placed (homes depend on the size): in place once it
 * is a resizable buffer's view, else into a new array. Making and resizing resizable buffers is
 * costly (a reservation of MAX_SLOTS, then syscalls per resize): with one per partition from the
 * start, the first 6,000 entries of a set took ~450 ms, and the first chunk of a run waited
 * for it (issue 14). Small partitions are plain arrays, so two copies of one are 64 KB at most.
 */
function grow(table: Table): Table {
  const slots = table.length >>> 1;
  if (slots >= MAX_SLOTS) throw new RangeError(`a dedupe set partition is full (${slots} slots): the segment is too large for one run`);
  if (scratch.length < table.length) scratch = new Uint32Array(table.length);
  scratch.set(table);
  const size = Math.min(MAX_SLOTS, Math.ceil(slots * 1.5));
  let grown: Table;
  if (table.buffer.resizable) {
    table.buffer.resize(size * 8);
    table.fill(0);
    grown = table;
  } else {
    grown = size <= SMALL_SLOTS ? new Uint32Array(size * 2) : new Uint32Array(new ArrayBuffer(size * 8, { maxByteLength: MAX_SLOTS * 8 }));
  }
  for (let i = 0; i < 2 * slots; i += 2) {
    if (scratch[i] !== 0 || scratch[i + 1] !== 0) place(grown, scratch[i]!, scratch[i + 1]!);
  }
  return grown;
}

/** Positive integers below 2^53 (E.164 digits), exactly: two numbers never count as one. */
export class IntegerSet {
  private readonly set = new Set64();

  /** Adds `n`; returns false when it was already there. */
  add(n: number): boolean {
    if (!(n > 0) || !Number.isSafeInteger(n)) throw new RangeError(`IntegerSet takes positive safe integers, got ${n}`);
    return this.set.add(Math.floor(n / TWO_32), n >>> 0);
  }
}

/** Strings, by a 64-bit hash (a false "seen" needs a collision: ~1 in 10^7 at 2,000,000 keys). */
export class StringHashSet {
  private readonly set = new Set64();

  add(text: string): boolean {
    hash64(text);
    return this.set.add(hashHi, hashLo);
  }

  has(text: string): boolean {
    hash64(text);
    return this.set.has(hashHi, hashLo);
  }
}

// Results of hash64 and scramble: module-level rather than returned tuples, which allocated an
// array per row (~100 MB of garbage over 2,000,000 rows).
let hashHi = 0;
let hashLo = 0;
let scrambledHi = 0;
let scrambledLo = 0;

/** Two 32-bit FNV-style hashes of the text, into hashHi and hashLo. */
function hash64(text: string): void {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
  }
  hashHi = h1 >>> 0;
  hashLo = h2 >>> 0;
}

/**
 * A bijection on 64 bits (three Feistel rounds over the 32-bit halves), into scrambledHi and
 * scrambledLo: spreads clustered inputs (consecutive phone numbers) over partitions and slots
 * while keeping distinct values distinct.
 */
function scramble(hi: number, lo: number): void {
  const x1 = lo >>> 0;
  const y1 = ((hi >>> 0) ^ fmix32(x1 ^ 0x9e3779b9)) >>> 0;
  const y2 = (x1 ^ fmix32(y1 ^ 0x7f4a7c15)) >>> 0;
  scrambledHi = y2;
  scrambledLo = (y1 ^ fmix32(y2 ^ 0x85ebca6b)) >>> 0;
}

/** MurmurHash3's 32-bit finalizer. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
