/**
 * @module group/ipc
 *
 * The child-process side of a checkpoint group's transport. A forked child
 * shares no memory with the coordinator, so two things replace what worker
 * threads get from a `SharedArrayBuffer` and transferable buffers:
 *
 * - **Requests.** The coordinator writes the requested epoch and stop epoch
 *   into a small control file (8 bytes, written in place with one `pwrite`).
 *   In each child a watcher thread (`fs.watch`, plus a poll every
 *   {@link CONTROL_POLL_MS} ms) copies them into a `SharedArrayBuffer` of the
 *   child's own that `due` reads with `Atomics.load` — so a child's loop that
 *   never yields to its event loop still sees a request, within the watcher's
 *   latency, at its next safepoint. The watcher also notices the
 *   coordinator's end (the child's parent process changes).
 * - **Event-loop turns.** Signals and IPC messages reach a child only when
 *   its event loop turns, which a synchronous loop (or a `for await` over
 *   `loop()`, which turns only microtasks) never does. The watcher sets a
 *   turn word every {@link TURN_MS} ms; the next safepoint then awaits one
 *   `setImmediate` — so a SIGTERM sent to the child is seen within about
 *   that long.
 * - **State.** A part's captured state (and its restored state at start)
 *   crosses the IPC channel in chunks of at most {@link CHUNK_BYTES}, each
 *   sent only once the previous one was written to the channel: a large part
 *   needs its encoded state once on each side plus one chunk in flight, never
 *   the whole state again in a message buffer. IPC must use
 *   `serialization: 'advanced'` (binary); `'json'` is refused at join.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { GROUP_TAG, isPlaces, isSavedChannels, isSavedShard, type PartState, type SavedChannels, type SavedShard, type ShardPlace } from './protocol.js';

/** Largest piece of a part's state in one IPC message. */
export const CHUNK_BYTES = 4 * 1024 * 1024;
/** How often a child's watcher thread reads the control file besides `fs.watch` events (and checks that its parent lives). */
export const CONTROL_POLL_MS = 10;

/** A child's control word: the newest group epoch requested. */
export const CHILD_EPOCH = 0;
/** A child's control word: the epoch whose capture ends the loops (0: none). */
export const CHILD_STOP = 1;
/** A child's control word: nonzero once the coordinator is gone (IPC channel closed or the parent process changed). */
export const CHILD_GONE = 2;
/** A child's control word: set every {@link TURN_MS} ms — the next safepoint gives the event loop one turn (signals, IPC). */
export const CHILD_TURN = 3;
/** Number of int32 words in a child's own control block. */
export const CHILD_WORDS = 4;
/** How often a child's safepoint gives its event loop a turn when the loop itself never does. */
export const TURN_MS = 25;

/** A provider of a {@link PartState} whose byte arrays are indexes into the list sent after it. */
export interface SkeletonProvider {
  readonly id: string;
  readonly version: number;
  readonly tree: boolean;
  readonly stream: number;
  readonly blobs: readonly number[];
  readonly shard?: SavedShard;
}

/** A {@link PartState} without its bytes: they follow as chunks. */
export interface StateSkeleton {
  readonly step: number | null;
  readonly providers: readonly SkeletonProvider[];
  readonly resharded?: { readonly from: number };
  readonly places?: Readonly<Record<string, ShardPlace>>;
  /** The part's channel state (small: its messages travel in this message). */
  readonly channels?: SavedChannels;
  /** The byte length of every array, in the order they are sent. */
  readonly sizes: readonly number[];
}

/** Split a state into its skeleton and its byte arrays. */
export function flatten(state: PartState): { readonly skeleton: StateSkeleton; readonly arrays: readonly Uint8Array[] } {
  const arrays: Uint8Array[] = [];
  const add = (a: Uint8Array): number => arrays.push(a) - 1;
  const providers = state.providers.map((p) => ({
    id: p.id,
    version: p.version,
    tree: p.tree,
    stream: add(p.stream),
    blobs: p.blobs.map(add),
    ...(p.shard === undefined ? {} : { shard: p.shard }),
  }));
  const resharded = state.resharded === undefined ? {} : { resharded: state.resharded };
  const places = state.places === undefined ? {} : { places: state.places };
  const channels = state.channels === undefined ? {} : { channels: state.channels };
  return { skeleton: { step: state.step, providers, ...resharded, ...places, ...channels, sizes: arrays.map((a) => a.byteLength) }, arrays };
}

/** Put a state back together from its skeleton and arrays. */
export function unflatten(skeleton: StateSkeleton, arrays: readonly Uint8Array[]): PartState {
  return {
    step: skeleton.step,
    providers: skeleton.providers.map((p) => ({
      id: p.id,
      version: p.version,
      tree: p.tree,
      stream: arrays[p.stream]!,
      blobs: p.blobs.map((b) => arrays[b]!),
      ...(p.shard === undefined ? {} : { shard: p.shard }),
    })),
    ...(skeleton.resharded === undefined ? {} : { resharded: skeleton.resharded }),
    ...(skeleton.places === undefined ? {} : { places: skeleton.places }),
    ...(skeleton.channels === undefined ? {} : { channels: skeleton.channels }),
  };
}

function isResharded(value: unknown): boolean {
  const from = typeof value === 'object' && value !== null ? (value as { from?: unknown }).from : undefined;
  return typeof from === 'number' && Number.isSafeInteger(from) && from > 0;
}

/** Whether a received value is a well-formed skeleton (anything else is a protocol error). */
export function isSkeleton(value: unknown): value is StateSkeleton {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<Record<keyof StateSkeleton, unknown>>;
  if (!Array.isArray(v.sizes) || !(v.sizes as unknown[]).every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)) return false;
  const count = v.sizes.length;
  const index = (i: unknown): boolean => typeof i === 'number' && Number.isInteger(i) && i >= 0 && i < count;
  return (
    (v.step === null || typeof v.step === 'number') &&
    (v.resharded === undefined || isResharded(v.resharded)) &&
    (v.places === undefined || isPlaces(v.places)) &&
    (v.channels === undefined || isSavedChannels(v.channels)) &&
    Array.isArray(v.providers) &&
    (v.providers as unknown[]).every((p) => {
      const q = p as Partial<Record<keyof SkeletonProvider, unknown>> | null;
      return q !== null && typeof q === 'object' && typeof q.id === 'string' && typeof q.version === 'number' && typeof q.tree === 'boolean' && index(q.stream) && Array.isArray(q.blobs) && (q.blobs as unknown[]).every(index) && (q.shard === undefined || isSavedShard(q.shard));
    })
  );
}

/** A function that sends one IPC message and calls back once it was written (`process.send`, `child.send`). */
export type IpcSend = (message: unknown, callback: (err: Error | null) => void) => boolean;

/** Send one message and resolve once it was written to the channel. */
export function sendOne(send: IpcSend, message: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      send(message, (err) => (err ? reject(err) : resolve()));
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

/**
 * Send `header` (which carries the skeleton's `sizes`), then every array in
 * chunks of at most {@link CHUNK_BYTES}, one at a time: each chunk is sent
 * once the previous one was written, so at most one chunk is in flight.
 */
export async function sendWithArrays(send: IpcSend, header: object, arrays: readonly Uint8Array[]): Promise<void> {
  await sendOne(send, header);
  for (const a of arrays) {
    for (let at = 0; at < a.byteLength; at += CHUNK_BYTES) {
      await sendOne(send, { [GROUP_TAG]: 'chunk', bytes: a.subarray(at, Math.min(a.byteLength, at + CHUNK_BYTES)) });
    }
  }
}

/**
 * The receiving side of {@link sendWithArrays}: after a header, `expect()`
 * the sizes; every `chunk()` fills the arrays in order; once all bytes have
 * come, the callback gets the arrays. Chunks come in the order they were
 * sent (one channel, one sender), and other messages may come between them.
 */
export class ArrayReceiver {
  #arrays: Uint8Array[] = [];
  #array = 0;
  #offset = 0;
  #done: ((arrays: Uint8Array[]) => void) | undefined;

  /** Whether arrays are being received. */
  get busy(): boolean {
    return this.#done !== undefined;
  }

  /** Receive arrays of these sizes, then call `done` (at once when there are none). */
  expect(sizes: readonly number[], done: (arrays: Uint8Array[]) => void): void {
    this.#arrays = sizes.map((n) => new Uint8Array(n));
    this.#array = 0;
    this.#offset = 0;
    this.#done = done;
    this.#skipFull();
  }

  /** A chunk arrived; false when none was expected or it overruns the expected sizes (a protocol error). */
  chunk(bytes: unknown): boolean {
    if (this.#done === undefined || !(bytes instanceof Uint8Array)) return false;
    const target = this.#arrays[this.#array]!;
    if (this.#offset + bytes.byteLength > target.byteLength) return false;
    target.set(bytes, this.#offset);
    this.#offset += bytes.byteLength;
    this.#skipFull();
    return true;
  }

  #skipFull(): void {
    while (this.#array < this.#arrays.length && this.#offset === this.#arrays[this.#array]!.byteLength) {
      this.#array++;
      this.#offset = 0;
    }
    if (this.#array < this.#arrays.length || this.#done === undefined) return;
    const done = this.#done;
    const arrays = this.#arrays;
    this.#done = undefined;
    this.#arrays = [];
    done(arrays);
  }
}

/** The coordinator's control file: the requested epoch and the stop epoch, as two little-endian int32 at offset 0. */
export class ControlFile {
  /** Its path (sent to each child in its init message). */
  readonly path: string;
  readonly #dir: string;
  #fd: number | undefined;
  readonly #buf = Buffer.alloc(8);

  /** Create the file (in a new directory under the OS temp directory). */
  constructor() {
    this.#dir = mkdtempSync(join(tmpdir(), 'ckpt-group-'));
    this.path = join(this.#dir, 'control');
    this.#fd = openSync(this.path, 'w+', 0o600);
    this.write(0, 0);
  }

  /** Write both words in place (one 8-byte write at offset 0). */
  write(epoch: number, stop: number): void {
    if (this.#fd === undefined) return;
    this.#buf.writeInt32LE(epoch, 0);
    this.#buf.writeInt32LE(stop, 4);
    writeSync(this.#fd, this.#buf, 0, 8, 0);
  }

  /** Close and remove the file and its directory. */
  remove(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** The watcher thread's code (plain JavaScript, evaluated: it needs no loader). */
const WATCHER = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { file, control, ppid, pollMs, turnMs } = workerData;
const words = new Int32Array(control);
const buf = Buffer.alloc(8);
const raise = (i, v) => {
  for (;;) {
    const c = Atomics.load(words, i);
    if (v <= c || Atomics.compareExchange(words, i, c, v) === c) return;
  }
};
let fd;
try { fd = fs.openSync(file, 'r'); } catch { fd = undefined; }
const read = () => {
  if (process.ppid !== ppid) {
    Atomics.store(words, ${String(CHILD_GONE)}, 1);
    Atomics.store(words, ${String(CHILD_TURN)}, 1);
    process.exit(0);
  }
  if (fd === undefined) return;
  try {
    if (fs.readSync(fd, buf, 0, 8, 0) !== 8) return;
    raise(${String(CHILD_STOP)}, buf.readInt32LE(4));
    raise(${String(CHILD_EPOCH)}, buf.readInt32LE(0));
  } catch { /* the coordinator removed it at its end */ }
};
try { fs.watch(file, { persistent: false }, read).on('error', () => {}); } catch { /* the poll still reads it */ }
setInterval(read, pollMs);
setInterval(() => Atomics.store(words, ${String(CHILD_TURN)}, 1), turnMs);
read();
`;

/** Raise control word `i` to `value` (never lowers it: the watcher and the IPC handler may race). */
export function raiseWord(words: Int32Array, i: number, value: number): void {
  for (;;) {
    const c = Atomics.load(words, i);
    if (value <= c || Atomics.compareExchange(words, i, c, value) === c) return;
  }
}

/**
 * Start the watcher thread of a child: it copies the control file into
 * `control` as requests come and sets {@link CHILD_GONE} when the child's
 * parent process changes. It never keeps the child alive.
 */
export function startWatcher(file: string, control: SharedArrayBuffer): Worker {
  const w = new Worker(WATCHER, { eval: true, workerData: { file, control, ppid: process.ppid, pollMs: CONTROL_POLL_MS, turnMs: TURN_MS }, stdout: false, stderr: false });
  w.on('error', () => undefined);
  w.unref();
  return w;
}
