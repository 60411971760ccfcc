/**
 * @module group/capture-memory
 *
 * The memory a thread part captures into, kept from one group checkpoint to
 * the next. A part's capture copies its state into memory of its own (the
 * app goes on changing the live state) and transfers that memory to the
 * coordinator. Fresh memory costs its page faults on first touch — on a
 * virtual machine about a second for 256 MiB, far more than the copy — so
 * once an image is written the coordinator transfers the buffers back, and
 * the part's next capture copies into them: a part keeps at most one
 * capture's worth of memory besides its live state (buffers a capture does
 * not reuse are let go).
 */

/** Buffers of past captures, by byte length, to copy the next capture into. */
export class CaptureMemory {
  readonly #free = new Map<number, ArrayBuffer[]>();
  /** How many copies reused a returned buffer (for tests and the docs' figures). */
  reused = 0;

  /** Buffers the coordinator gave back. */
  give(buffers: readonly ArrayBuffer[]): void {
    for (const b of buffers) {
      if (!(b instanceof ArrayBuffer) || b.byteLength === 0) continue;
      const list = this.#free.get(b.byteLength);
      if (list === undefined) this.#free.set(b.byteLength, [b]);
      else list.push(b);
    }
  }

  /** A copy of `bytes` in memory of its own: a returned buffer of its exact length when there is one. */
  copy(bytes: Uint8Array): Uint8Array {
    const b = this.#free.get(bytes.byteLength)?.pop();
    if (b === undefined) return bytes.slice();
    const out = new Uint8Array(b);
    out.set(bytes);
    this.reused++;
    return out;
  }

  /** The capture is done: what it did not reuse is let go. */
  settle(): void {
    this.#free.clear();
  }
}
