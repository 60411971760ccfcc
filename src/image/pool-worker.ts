/**
 * @module image/pool-worker
 *
 * The program each thread of the zstd worker pool runs (`image/pool` starts
 * it from this file: `dist/image/pool-worker.js` once built, the TypeScript
 * source through tsx when ckpt itself runs from source). It turns segments
 * into stored bytes and back with the same {@link SegmentPipeline} as the
 * main thread; its only state is that pipeline and the run buffers below.
 *
 * Protocol ({@link PoolRequest} → {@link PoolReply}; all segment buffers are
 * views over SharedArrayBuffers, so nothing is copied by `postMessage`):
 * - `encode`: the stored form of `src` (compressed into `dst`); replies `n`
 *   (frame size, or -1 when stored raw — `src` is then the stored bytes) and
 *   `crc`. With `done` (an Int32Array over shared memory), `done[0]` is
 *   incremented first (Atomics), for a main thread too busy to read replies.
 * - `decode`: check `src` and put its raw bytes into `dst`; replies `fail`
 *   when a check failed.
 * - Run buffers: a run (a provider's value stream or one blob) being read is
 *   assembled in an ArrayBuffer this thread allocates (`openRun`) and finally
 *   transfers to the main thread (`takeRun`) — so the restored typed array is
 *   built over memory nobody copied, and the page faults of that new memory
 *   are taken here, in parallel. `fillRun` decodes a stored segment into the
 *   run, `copyIntoRun` copies in raw bytes another thread decoded, `dropRun`
 *   forgets a run (a failed read).
 * - `prefault`: fault in the pages of `memory` (an Int32Array over shared
 *   memory another thread is filling) without changing a byte: an atomic
 *   compare-exchange of 0 with 0 per 4 KiB is a write access, so the kernel
 *   maps the page, and it leaves whatever the other thread wrote there.
 * - `encodeSegment`: one segment of an incremental image: hash, compare,
 *   XOR delta or full encoding (`image/incremental-plan`); replies `outcome`.
 * - `open` on `encode`: the segment belongs to an encrypted image; it is
 *   sealed into `dst` after compression (in place, or from `src` when it is
 *   stored raw; `dst` has 16 bytes of room for the tag) and the reply is its
 *   sealed length `n`, `crc` of the sealed bytes and its `codec`.
 * - `seal`: seal a segment compressed earlier (during capture, before the
 *   image's key existed): `n` bytes of `buf` (or `src` when `n` is -1, stored
 *   raw) into `buf`; replies the sealed length `n` and its `crc`.
 * - `open` (on `decode` and `fillRun`): the segment belongs to an encrypted
 *   image — its segment subkey, uuid and index; the stored bytes are
 *   authenticated and decrypted into this thread's plaintext memory (reused
 *   from one segment to the next) before they are decompressed. With it,
 *   `decode` takes the segment's `codec` (raw or zstd).
 * - `verify`: check `src` against `crc` and, with `open`, authenticate it
 *   (`codec` and `raw` as the index records them) without decompressing;
 *   replies `fail` when a check failed.
 * Anything thrown is answered with `error` (its message).
 */
import { parentPort } from 'node:worker_threads';
import { SegmentCodec, type SegmentCodecId } from './constants.js';
import { SegmentPipeline, type FrameFailure, type SegmentSeal } from './segment-pipeline.js';
import { TAG_BYTES } from '../crypto/seal.js';
import { encodeSegment, segmentHash, type SegmentOutcome, type SegmentTask } from './incremental-plan.js';
import { xorArena } from './xor.js';

/** How a pool thread opens one segment of an encrypted image (see {@link SegmentSeal}; the memory is the thread's own). */
export interface SegmentOpen {
  /** The image's segment subkey (32 bytes). */
  readonly key: Uint8Array;
  /** The image's uuid (16 bytes). */
  readonly uuid: Uint8Array;
  /** The segment's index in the image. */
  readonly index: number;
}

/** A request to a pool thread (`id` is echoed in the reply). */
export type PoolRequest = { readonly id: number } & (
  | {
      readonly op: 'encode';
      readonly level: number;
      readonly src: Uint8Array;
      readonly dst: Uint8Array;
      readonly done?: Int32Array | undefined;
      readonly open?: SegmentOpen | undefined;
    }
  | {
      readonly op: 'seal';
      readonly buf: Uint8Array;
      readonly n: number;
      readonly src?: Uint8Array | undefined;
      readonly codec: SegmentCodecId;
      readonly raw: number;
      readonly open: SegmentOpen;
    }
  | {
      readonly op: 'decode';
      readonly src: Uint8Array;
      readonly dst: Uint8Array;
      readonly crc: number;
      readonly maxRawBytes: number;
      readonly codec?: number | undefined;
      readonly open?: SegmentOpen | undefined;
    }
  | { readonly op: 'verify'; readonly src: Uint8Array; readonly crc: number; readonly codec: number; readonly raw: number; readonly open?: SegmentOpen | undefined }
  | { readonly op: 'openRun'; readonly run: number; readonly bytes: number }
  | {
      readonly op: 'fillRun';
      readonly run: number;
      readonly offset: number;
      readonly src: Uint8Array;
      readonly crc: number;
      readonly codec: number;
      readonly raw: number;
      readonly maxRawBytes: number;
      readonly open?: SegmentOpen | undefined;
    }
  | { readonly op: 'copyIntoRun'; readonly run: number; readonly offset: number; readonly src: Uint8Array }
  | { readonly op: 'takeRun'; readonly run: number }
  | { readonly op: 'dropRun'; readonly run: number }
  | { readonly op: 'prefault'; readonly memory: Int32Array }
  | { readonly op: 'encodeSegment'; readonly task: SegmentTask }
  | {
      readonly op: 'fillChain';
      /** Into run buffer `run` at `offset` (this thread owns it), or into `dst` (shared memory). */
      readonly run?: number | undefined;
      readonly offset: number;
      readonly dst?: Uint8Array | undefined;
      readonly raw: number;
      /** The stored bytes of every level, base first, back to back. */
      readonly stored: Uint8Array;
      readonly levels: readonly ChainLevel[];
      readonly maxRawBytes: number;
    }
);

/**
 * One level of an XOR-delta chain (`fillChain`): the base (raw or zstd),
 * then each delta (codec XOR) over the bytes so far; `hash` (xxh3-64 of
 * the raw bytes at that level) is compared when given; `open` for a
 * segment of an encrypted image (its own holder's key and index).
 */
export interface ChainLevel {
  readonly length: number;
  readonly crc: number;
  readonly codec: number;
  readonly hash?: bigint | undefined;
  readonly open?: SegmentOpen | undefined;
}

/** A request without its id (what the pool asks for). */
export type PoolTask = PoolRequest extends infer R ? (R extends { readonly id: number } ? Omit<R, 'id'> : never) : never;

/** A pool thread's answer to one {@link PoolRequest}. */
export interface PoolReply {
  readonly id: number;
  /** `encode`: frame size, or -1 when stored raw. */
  readonly n?: number;
  /** `encode`: CRC-32 of the stored bytes. */
  readonly crc?: number;
  /** `encode` with `open`: the segment's codec (its sealed bytes are `n` bytes of `dst`). */
  readonly codec?: number;
  /** `decode`, `fillRun`, `fillChain`: the failed check. */
  readonly fail?: FrameFailure;
  /** `fillChain`: the level that failed (its check in `fail`, or its hash: `hashMismatch`). */
  readonly level?: number;
  /** `fillChain`: level `level` decoded to bytes whose hash is not the one recorded. */
  readonly hashMismatch?: boolean;
  /** Anything thrown, as its message. */
  readonly error?: string;
  /** `takeRun`: the run, transferred. */
  readonly buffer?: ArrayBuffer;
  /** `encodeSegment`: what was done (see image/incremental-plan). */
  readonly outcome?: SegmentOutcome;
}

const pipeline = new SegmentPipeline();
const runs = new Map<number, ArrayBuffer>();
/** Plaintext of the encrypted segment being opened (reused; grown to the largest). */
let plain = new Uint8Array(0);
/** Decompressed deltas of `fillChain` (reused; grown to the largest). */
let chainScratch = new Uint8Array(0);

/** The seal that writes segment `open.index` (at most `bytes` bytes before sealing) into `buf`, which may hold those bytes already (sealed in place). */
function sealingInto(buf: Uint8Array, bytes: number, open: SegmentOpen): SegmentSeal {
  if (buf.length < bytes + TAG_BYTES) throw new Error(`seal: ${buf.length} bytes of memory for ${bytes} + ${TAG_BYTES}`);
  return { key: open.key, uuid: open.uuid, index: open.index, memory: buf };
}

/** The seal that opens segment `open` of `stored` bytes into this thread's plaintext memory; undefined for a plaintext image. */
function sealOf(open: SegmentOpen | undefined, stored: number): SegmentSeal | undefined {
  if (open === undefined) return undefined;
  const need = Math.max(0, stored - TAG_BYTES);
  if (plain.length < need) plain = new Uint8Array(need);
  return { key: open.key, uuid: open.uuid, index: open.index, memory: plain };
}

/**
 * Decode the chain of a `fillChain` request into `acc` (the base, then each
 * delta decompressed into `delta` and XORed in); with `checkEach`, compare
 * every level's hash as it is reached. The failed level, or undefined.
 */
function decodeChain(m: Extract<PoolRequest, { op: 'fillChain' }>, acc: Uint8Array, delta: Uint8Array, checkEach: boolean): { level: number; fail?: FrameFailure; hashMismatch?: true } | undefined {
  let at = 0;
  for (let k = 0; k < m.levels.length; k++) {
    const l = m.levels[k]!;
    const src = m.stored.subarray(at, at + l.length);
    at += l.length;
    const seal = sealOf(l.open, l.length);
    const fail = k === 0 ? pipeline.decode(src, l.codec, l.crc, acc, m.maxRawBytes, seal) : pipeline.decodeXor(src, l.crc, acc, delta, m.maxRawBytes, seal);
    if (fail !== undefined) return { level: k, fail };
    if (checkEach && l.hash !== undefined && segmentHash(acc) !== l.hash) return { level: k, hashMismatch: true };
  }
  return undefined;
}

function runOf(key: number): ArrayBuffer {
  const r = runs.get(key);
  if (r === undefined) throw new Error(`no run buffer ${key}`);
  return r;
}

/** Handle one request; returns the reply and what to transfer with it. */
function handle(m: PoolRequest): { reply: PoolReply; transfer?: ArrayBuffer[] } {
  const id = m.id;
  switch (m.op) {
    case 'encode': {
      // Sealed into dst (in place after the frame, or from src when it is stored raw): the pipeline's encrypt stage.
      const seal = m.open === undefined ? undefined : sealingInto(m.dst, m.src.length, m.open);
      const s = pipeline.encode(m.src, m.dst, m.level, seal);
      if (m.done !== undefined) Atomics.add(m.done, 0, 1);
      if (seal !== undefined) return { reply: { id, n: s.stored.length, crc: s.crc, codec: s.codec } };
      return { reply: { id, n: s.codec === SegmentCodec.RAW ? -1 : s.stored.length, crc: s.crc } };
    }
    case 'seal': {
      const bytes = m.n < 0 ? m.src : m.buf.subarray(0, m.n);
      if (bytes === undefined) throw new Error('seal: a segment stored raw needs its bytes (src)');
      const sealed = pipeline.sealCompressed(bytes, m.codec, m.raw, sealingInto(m.buf, bytes.length, m.open));
      return { reply: { id, n: sealed.stored.length, crc: sealed.crc } };
    }
    case 'decode': {
      const fail = pipeline.decode(m.src, m.codec ?? SegmentCodec.ZSTD, m.crc, m.dst, m.maxRawBytes, sealOf(m.open, m.src.length));
      return { reply: fail === undefined ? { id } : { id, fail } };
    }
    case 'verify': {
      const fail = pipeline.verify(m.src, m.crc, m.codec, m.raw, sealOf(m.open, m.src.length));
      return { reply: fail === undefined ? { id } : { id, fail } };
    }
    case 'openRun':
      runs.set(m.run, new ArrayBuffer(m.bytes));
      return { reply: { id } };
    case 'fillRun': {
      const fail = pipeline.decode(m.src, m.codec, m.crc, new Uint8Array(runOf(m.run), m.offset, m.raw), m.maxRawBytes, sealOf(m.open, m.src.length));
      return { reply: fail === undefined ? { id } : { id, fail } };
    }
    case 'copyIntoRun':
      new Uint8Array(runOf(m.run), m.offset, m.src.length).set(m.src);
      return { reply: { id } };
    case 'takeRun': {
      const buffer = runOf(m.run);
      runs.delete(m.run);
      return { reply: { id, buffer }, transfer: [buffer] };
    }
    case 'dropRun':
      runs.delete(m.run);
      return { reply: { id } };
    case 'encodeSegment':
      return { reply: { id, outcome: encodeSegment(m.task, pipeline) } };
    case 'fillChain': {
      const target = m.run === undefined ? m.dst! : new Uint8Array(runOf(m.run), m.offset, m.raw);
      // The segment accumulates in the XOR kernel's own memory (no copy per level), else in place.
      const arena = xorArena(m.raw);
      const acc = arena?.acc ?? target;
      if (arena === undefined && chainScratch.length < m.raw) chainScratch = new Uint8Array(m.raw);
      const delta = arena?.delta ?? chainScratch.subarray(0, m.raw);
      // Only the result's hash is compared; when it differs, the chain is decoded again level by
      // level to name the level whose bytes are wrong (a damaged chain is the rare case).
      let failed = decodeChain(m, acc, delta, false);
      const last = m.levels[m.levels.length - 1]!;
      if (failed === undefined && last.hash !== undefined && segmentHash(acc) !== last.hash) failed = decodeChain(m, acc, delta, true) ?? { level: m.levels.length - 1, hashMismatch: true };
      if (failed !== undefined) return { reply: { id, ...failed } };
      if (acc !== target) target.set(acc);
      return { reply: { id } };
    }
    case 'prefault': {
      const w = m.memory;
      for (let i = 0; i < w.length; i += 1024) Atomics.compareExchange(w, i, 0, 0);
      return { reply: { id } };
    }
  }
}

/** Without `cause` (an Error from zstd would be cloned, not needed by the pool). */
function clonable(reply: PoolReply): PoolReply {
  if (reply.fail?.cause === undefined) return reply;
  const { cause: _cause, ...fail } = reply.fail;
  return { ...reply, fail };
}

parentPort?.on('message', (m: PoolRequest) => {
  try {
    const { reply, transfer } = handle(m);
    parentPort!.postMessage(clonable(reply), transfer ?? []);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) } satisfies PoolReply);
  }
});
