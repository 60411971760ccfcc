/**
 * @module image/capture
 *
 * The copy an asynchronous persist makes of a captured state's large binary
 * values, so the application may change its arrays while the image is being
 * written. This copy is all the app waits for, so it goes into a
 * {@link CaptureArena}: one SharedArrayBuffer kept from one checkpoint to the
 * next. Why: a copy into new memory pays a page fault per 4 KiB (on some VMs
 * that is ten times the copy itself), a copy into the pages of the previous
 * checkpoint is a plain memcpy; and shared memory is what the worker pool
 * compresses from, with no further copy.
 */
import type { Blob, EncodedState } from '../codec/types.js';

/** Captures smaller than this are copied into ordinary memory (the arena is for the large ones). */
const ARENA_MIN_BYTES = 256 * 1024;
/** Each blob starts on a cache line. */
const ALIGN = 64;

/** Free blocks the arena keeps at most (one per provider with large binary values, typically). */
const MAX_FREE_BLOCKS = 8;

/**
 * Reusable shared memory for async captures: blocks lent to one capture at
 * a time and kept, once given back, for the next checkpoint's capture.
 */
export class CaptureArena {
  readonly #free: Uint8Array[] = [];

  /** Bytes held for reuse (free blocks). */
  get bytes(): number {
    return this.#free.reduce((n, b) => n + b.length, 0);
  }

  /**
   * Shared memory of at least `bytes`, and the function that gives it back:
   * the smallest free block that fits (and is not four times too large), or
   * a new one. A block never given back (a write abandoned at a deadline) is
   * simply never reused.
   */
  take(bytes: number): { memory: Uint8Array; release: () => void } {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const len = this.#free[i]!.length;
      if (len >= bytes && len <= bytes * 4 && (best === -1 || len < this.#free[best]!.length)) best = i;
    }
    const memory = best === -1 ? new Uint8Array(new SharedArrayBuffer(bytes)) : this.#free.splice(best, 1)[0]!;
    let released = false;
    return {
      memory,
      release: () => {
        if (released) return;
        released = true;
        this.#free.push(memory);
        // Keep the largest blocks when there are too many (the state changed shape).
        if (this.#free.length > MAX_FREE_BLOCKS) this.#free.sort((a, b) => b.length - a.length).length = MAX_FREE_BLOCKS;
      },
    };
  }

  /** Drop the free blocks. */
  clear(): void {
    this.#free.length = 0;
  }
}

/**
 * A copy of `encoded` whose blobs no longer alias the application's memory.
 * With an arena and enough bytes, the blobs are copied into it and the result's
 * `release()` gives the arena back (and releases the stream's memory);
 * otherwise each blob is copied into a fresh buffer.
 */
export function detachBlobs(encoded: EncodedState, arena?: CaptureArena): EncodedState {
  let total = 0;
  for (const b of encoded.blobs) total += Math.ceil(b.bytes.length / ALIGN) * ALIGN;
  if (arena === undefined || total < ARENA_MIN_BYTES) {
    const blobs = encoded.blobs.map((b) => ({ kind: b.kind, bytes: b.bytes.slice() }));
    return encoded.release === undefined ? { stream: encoded.stream, blobs } : { stream: encoded.stream, blobs, release: encoded.release };
  }
  const lease = arena.take(total);
  const blobs: Blob[] = [];
  let at = 0;
  for (const b of encoded.blobs) {
    const bytes = lease.memory.subarray(at, at + b.bytes.length);
    bytes.set(b.bytes);
    blobs.push({ kind: b.kind, bytes });
    at += Math.ceil(b.bytes.length / ALIGN) * ALIGN;
  }
  return {
    stream: encoded.stream,
    blobs,
    release: () => {
      encoded.release?.();
      lease.release();
    },
  };
}
