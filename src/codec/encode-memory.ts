/**
 * @module codec/encode-memory
 *
 * What one encoder keeps between encodings so that repeated checkpoints of
 * the same state cost no new memory: a small output buffer, a large shared
 * one whose stream was released, and identity mode's "seen" table. All of it
 * is owned by one {@link EncoderMemory} instance (one per `StateEncoder`),
 * never by the module, so two checkpointers — or a pool of encoders — share
 * no hidden state.
 */

/** The output buffer type (kept as an alias: the text conversions live in codec/buffer-text). */
export type FastBuffer = Buffer<ArrayBufferLike>;

/** Initial size of the output buffer. */
export const INITIAL_CAPACITY = 64 * 1024;
/** Output buffers up to this size are kept for the next call instead of being dropped. */
const SCRATCH_MAX = 16 * 1024 * 1024;
/**
 * Streams longer than this are handed out in the encoder's own (shared)
 * buffer with a `release()`, instead of being copied into a right-sized one.
 * Buffers this large are SharedArrayBuffers, so the writer's worker threads
 * compress them where they lie.
 */
export const LEASE_MIN = 1024 * 1024;
/** A released buffer up to this size is kept for the next large state. */
const SPARE_MAX = 2 ** 30;
/** Largest stream: ext32 lengths cap containers at 4 GiB, and this is only address space. */
export const MAX_STREAM_BYTES = 2 ** 32;

const GrowableSharedArrayBuffer = SharedArrayBuffer as unknown as new (byteLength: number, options: { maxByteLength: number }) => SharedArrayBuffer;

/** Allocate an output buffer of `size` bytes. */
export function allocate(size: number): FastBuffer {
  // Large buffers are growable shared memory (see LEASE_MIN): they grow in
  // place and worker threads read them. Small ones come from allocUnsafeSlow:
  // never a slice of Node's shared pool, so the memory we hand out (or keep
  // as scratch) is ours alone.
  if (size >= LEASE_MIN && size <= MAX_STREAM_BYTES) return Buffer.from(new GrowableSharedArrayBuffer(size, { maxByteLength: MAX_STREAM_BYTES }), 0, size);
  return Buffer.allocUnsafeSlow(size);
}

/** Keys one WeakMap of an {@link IdTable} takes at most; past it, the next WeakMap of its kind takes new keys. */
export const WEAK_MAX_KEYS = 1536 * 1024;
/** Generations one {@link IdTable} serves before it is replaced (stamps are int32). */
export const MAX_GENERATION = 0x7fffffff;
/** Slots an {@link IdTable} starts with. */
const INITIAL_SLOTS = 1024;

/**
 * Identity mode's "seen" table: object → slot, and per slot the generation
 * (the encoding) that last met the object and the id it got there.
 *
 * Why WeakMaps kept across calls: a checkpoint fills a hash table with an
 * entry per object, and a fresh one grows (rehashing into new memory) every
 * time — that was most of identity mode's cost. Kept, the table already
 * holds the state's objects from the last checkpoint. Weak, so objects the
 * app drops are not kept alive.
 *
 * Why slots: the WeakMap maps an object to a slot number that never changes
 * while the object lives, and the slot's generation and id live in typed
 * arrays. An object met again in a later encoding costs one WeakMap lookup
 * and two array stores — not a lookup and an update of the WeakMap, which
 * is a second hash probe; a slot whose generation is not the current one
 * reads as "not seen".
 *
 * Why several WeakMaps of at most {@link WEAK_MAX_KEYS} keys each: one V8
 * WeakMap falls off a cliff past about two million entries (measured with
 * Node 20, one update pass: 1.5M entries 0.14 s, 2M 0.23 s, 2.5M 6 s, 3M
 * 13 s, 4M 40 s — consistent with object identity hashes of 21 bits
 * colliding in its open-addressed table); a fresh Map instead cost 2.5 s
 * per encoding of 4M objects. So an object is looked up in each WeakMap in
 * turn, and a new key goes to the last one, or to a new one when that is
 * full.
 *
 * Why two kinds: arrays and other objects go to separate lists of WeakMaps
 * (`Array.isArray`, which never changes for an object's lifetime, decides).
 * A state of records with small arrays in them has several times as many
 * arrays as records; kept apart, each kind's first WeakMap holds more of
 * its objects, and fewer lookups miss in one WeakMap before they hit in the
 * next.
 *
 * `used` counts the slots ever handed out (entries of dead objects leave
 * the WeakMaps by themselves, their slots stay), so it bounds the sizes
 * from above; a state that churns (new objects every checkpoint) gets a
 * fresh table once the slots pass twice its size plus one map's worth.
 */
export interface IdTable {
  /** WeakMaps of non-array objects → slot, in the order they were added. */
  readonly objects: WeakMap<object, number>[];
  /** Keys ever inserted into each of `objects`. */
  readonly objectKeys: number[];
  /** WeakMaps of arrays → slot, in the order they were added. */
  readonly arrays: WeakMap<object, number>[];
  /** Keys ever inserted into each of `arrays`. */
  readonly arrayKeys: number[];
  /** Per slot: the generation that last met its object. */
  gens: Int32Array;
  /** Per slot: the object's id in that generation. */
  ids: Uint32Array;
  /** Slots handed out. */
  used: number;
  /** Generation of the encoding using the table now (≥ 1; 0 marks a slot never stamped). */
  gen: number;
}

/** A table nobody has used yet. */
export function freshIdTable(): IdTable {
  return {
    objects: [new WeakMap()],
    objectKeys: [0],
    arrays: [new WeakMap()],
    arrayKeys: [0],
    gens: new Int32Array(INITIAL_SLOTS),
    ids: new Uint32Array(INITIAL_SLOTS),
    used: 0,
    gen: 1,
  };
}

/** A new slot in `t` (growing its arrays when full). */
export function newSlot(t: IdTable): number {
  const slot = t.used;
  if (slot === t.gens.length) {
    const gens = new Int32Array(slot * 2);
    gens.set(t.gens);
    t.gens = gens;
    const ids = new Uint32Array(slot * 2);
    ids.set(t.ids);
    t.ids = ids;
  }
  t.used = slot + 1;
  return slot;
}

/**
 * The buffers and the id table one encoder keeps between its encodings.
 * Each is taken (set to null) while an encoding runs, so a re-entrant
 * encoding (a getter that encodes) simply allocates its own.
 */
export class EncoderMemory {
  /** Output buffer kept between calls so small checkpoints do not allocate 64 KiB each time. */
  #scratch: FastBuffer | null = null;
  /**
   * A large shared output buffer whose stream was released: the next large
   * state is encoded into it. Why keep it: a large state's stream is hundreds
   * of megabytes, and new memory costs page faults (and a full GC for the
   * external memory it announces) on every checkpoint; re-using the pages of
   * the last one costs neither.
   */
  #spare: FastBuffer | null = null;
  /** The kept id table (see {@link IdTable}). */
  #idTable: IdTable | null = null;

  /** The buffer to encode into: the large spare first (a state that was large last time likely still is). */
  takeBuffer(): FastBuffer {
    const spare = this.#spare;
    if (spare !== null) {
      this.#spare = null;
      return spare;
    }
    const scratch = this.#scratch;
    this.#scratch = null;
    return scratch ?? allocate(INITIAL_CAPACITY);
  }

  /** Keep `buf` for a later call, if it is worth keeping. */
  giveBack(buf: FastBuffer): void {
    if (buf.buffer instanceof SharedArrayBuffer) {
      if (buf.length <= SPARE_MAX && (this.#spare === null || this.#spare.length < buf.length)) this.#spare = buf;
    } else if (buf.length <= SCRATCH_MAX) {
      this.#scratch = buf;
    }
  }

  /** The id table for one identity-mode encoding, at its next generation. */
  takeIdTable(): IdTable {
    const t = this.#idTable;
    this.#idTable = null;
    if (t === null || t.gen >= MAX_GENERATION) return freshIdTable();
    t.gen++;
    return t;
  }

  /** Keep `t` for the next encoding, which met `objects` objects. */
  giveIdTable(t: IdTable | null, objects: number): void {
    if (t === null) return;
    // Mostly slots of objects that are gone: start afresh at the next encoding.
    if (t.used > 2 * objects + WEAK_MAX_KEYS) t.gen = MAX_GENERATION;
    this.#idTable = t;
  }

  /** Drop everything kept. */
  release(): void {
    this.#scratch = null;
    this.#spare = null;
    this.#idTable = null;
  }
}
