/**
 * @module image/pool-worker
 *
 * The program each thread of the zstd worker pool runs, as source text. Why
 * a string run with `eval: true` rather than a file: a worker file would have
 * to exist as JavaScript next to this module in every way ckpt is loaded
 * (built `dist/`, TypeScript through tsx, vitest's transform), and the worker
 * needs nothing but zstd-napi's binding and `zlib.crc32`, both plain
 * CommonJS. It stays small and has no state besides zstd contexts.
 *
 * Protocol (all buffers are views over SharedArrayBuffers, so nothing is
 * copied by `postMessage`):
 * - `{ id, op: 1, level, src, dst, done? }` compress `src` into `dst`; replies
 *   `{ id, n, crc }` with the frame size, or `n: -1` when the frame would not
 *   be smaller than `src` (stored raw) — `crc` is then of `src`. With `done`
 *   (an Int32Array over shared memory), `done[0]` is incremented first
 *   (Atomics), for a main thread that is too busy to read replies.
 * - `{ id, op: 2, src, dst, crc }` check `src`'s CRC-32 and zstd frame
 *   against `dst.length`, then decompress into `dst`; replies `{ id }`, or
 *   `{ id, fail: { kind, value?, message? } }` (see `image/zstd` FrameFailure).
 *
 * Run buffers: a run (a provider's value stream or one blob) being read is
 * assembled in an ArrayBuffer this thread allocates and finally transfers to
 * the main thread — so the restored typed array is built over memory nobody
 * copied, and the page faults of that new memory are taken here, in
 * parallel, not on the main thread.
 * - `{ id, op: 3, run, bytes }` allocate run `run`.
 * - `{ id, op: 4, run, offset, src, crc, codec, raw }` check and decompress
 *   (codec 1) or copy (codec 0) `src` into the run at `offset`; reply as op 2.
 * - `{ id, op: 5, run }` reply `{ id, buffer }`, the run transferred; forgotten here.
 * - `{ id, op: 6, run }` forget the run (a failed read).
 * - `{ id, op: 7, run, offset, src }` copy `src` into the run at `offset`
 *   (a segment another thread decompressed).
 * - `{ id, op: 8, memory }` fault in the pages of `memory` (an Int32Array
 *   over shared memory another thread is filling) without changing a byte:
 *   an atomic compare-exchange of 0 with 0 per 4 KiB is a write access, so
 *   the kernel maps the page, and it leaves whatever the other thread wrote
 *   there (see CaptureArena).
 * Anything thrown is answered `{ id, error: message }`.
 */

/** Source text of a pool thread; `workerData.binding` is the path of zstd-napi's binding. */
export const WORKER_SOURCE = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { crc32 } = require('node:zlib');
const b = require(workerData.binding);
const cctxs = new Map();
let dctx;
function cctx(level) {
  let c = cctxs.get(level);
  if (c === undefined) {
    c = new b.CCtx();
    c.setParameter(b.CParameter.compressionLevel, level);
    c.setParameter(b.CParameter.checksumFlag, 1);
    c.setParameter(b.CParameter.contentSizeFlag, 1);
    cctxs.set(level, c);
  }
  return c;
}
const runs = new Map();
function run(key) {
  const r = runs.get(key);
  if (r === undefined) throw new Error('no run buffer ' + String(key));
  return r;
}
function decompress(src, dst, crc) {
  if (crc32(src) !== crc) return { kind: 'crc' };
  let declared;
  let frameSize;
  try {
    declared = b.getFrameContentSize(src);
    frameSize = b.findFrameCompressedSize(src);
  } catch (err) {
    return { kind: 'frame', message: String(err && err.message) };
  }
  if (declared !== dst.length) return { kind: 'declared', value: declared };
  if (frameSize !== src.length) return { kind: 'trailing' };
  if (dctx === undefined) dctx = new b.DCtx();
  let n;
  try {
    n = dctx.decompress(dst, src);
  } catch (err) {
    return { kind: 'zstd', message: String(err && err.message) };
  }
  if (n !== dst.length) return { kind: 'size', value: n };
  return undefined;
}
parentPort.on('message', (m) => {
  try {
    if (m.op === 1) {
      const n = m.src.length === 0 ? 0 : cctx(m.level).compress2(m.dst, m.src);
      const reply = n >= m.src.length ? { id: m.id, n: -1, crc: crc32(m.src) } : { id: m.id, n, crc: crc32(m.dst.subarray(0, n)) };
      if (m.done !== undefined) Atomics.add(m.done, 0, 1);
      parentPort.postMessage(reply);
    } else if (m.op === 2) {
      const fail = decompress(m.src, m.dst, m.crc);
      parentPort.postMessage(fail === undefined ? { id: m.id } : { id: m.id, fail });
    } else if (m.op === 3) {
      runs.set(m.run, new ArrayBuffer(m.bytes));
      parentPort.postMessage({ id: m.id });
    } else if (m.op === 4) {
      const dst = new Uint8Array(run(m.run), m.offset, m.raw);
      let fail;
      if (m.codec === 1) fail = decompress(m.src, dst, m.crc);
      else if (crc32(m.src) !== m.crc) fail = { kind: 'crc' };
      else dst.set(m.src);
      parentPort.postMessage(fail === undefined ? { id: m.id } : { id: m.id, fail });
    } else if (m.op === 5) {
      const buffer = run(m.run);
      runs.delete(m.run);
      parentPort.postMessage({ id: m.id, buffer }, [buffer]);
    } else if (m.op === 6) {
      runs.delete(m.run);
      parentPort.postMessage({ id: m.id });
    } else if (m.op === 8) {
      const w = m.memory;
      for (let i = 0; i < w.length; i += 1024) Atomics.compareExchange(w, i, 0, 0);
      parentPort.postMessage({ id: m.id });
    } else if (m.op === 7) {
      new Uint8Array(run(m.run), m.offset, m.src.length).set(m.src);
      parentPort.postMessage({ id: m.id });
    } else {
      parentPort.postMessage({ id: m.id, error: 'unknown operation ' + String(m.op) });
    }
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;
