/**
 * @module group/protocol
 *
 * What the coordinator of a checkpoint group (`CheckpointGroup`, main thread)
 * and its parts (`joinGroup()`, worker threads and child processes)
 * exchange: the control block (a `SharedArrayBuffer` of int32 words that
 * every thread part reads at its safepoints, so a part sees a request within
 * one iteration even when it never gives its event loop a turn), the
 * messages on each thread part's private port and on each child's IPC
 * channel, and the shape of one part's captured state — which is also what
 * the group image stores as the provider `part-<i>`. See docs/groups.md.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import { MAX_KEY_GROUPS } from './shard.js';
import type { MessagePort } from 'node:worker_threads';
import type { ImageInfo } from '../info.js';
import type { StateSkeleton } from './ipc.js';

/** The key of the one message the coordinator posts on a worker's `parentPort`: it carries everything else. */
export const GROUP_TAG = 'ckpt:group';

/** Control word: the newest group epoch requested (a part answers every epoch above the last one it answered). */
export const CTRL_EPOCH = 0;
/** Control word: the epoch whose capture ends the parts' loops (0: no stop requested). */
export const CTRL_STOP = 1;
/** Number of int32 words in the control block. */
export const CTRL_WORDS = 2;

/** Meta key of a group image: how many parts it holds. */
export const META_PARTS = 'ckpt.group.parts';
/** Meta key of a group image: the group epoch it holds. */
export const META_EPOCH = 'ckpt.group.epoch';

/** The provider id under which the group image holds part `index`. */
export function partProviderId(index: number): string {
  return `part-${String(index)}`;
}

/** One provider's state as a part captured it: its encoded value stream and blobs. */
export interface SavedProvider {
  /** The provider id in the part. */
  readonly id: string;
  /** The provider's schema version when captured. */
  readonly version: number;
  /** Whether it was encoded in tree mode. */
  readonly tree: boolean;
  /** The ckpt value stream (value encoding v1), in memory of its own. */
  readonly stream: Uint8Array;
  /** The blobs the stream references, by index, each in memory of its own. */
  readonly blobs: readonly Uint8Array[];
  /**
   * For a sharded provider (`shard` at registration): which piece of the
   * state this entry holds. A sharded provider may be saved as several
   * entries with the same id, each one piece.
   */
  readonly shard?: SavedShard;
}

/** Typed array constructors (and `Array`) a range shard may hold, by name. */
export const RANGE_TYPES = [
  'Array',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

/** One piece of a range shard: elements `[offset, offset + length)` of an array of `total` elements. */
export interface SavedRangePiece {
  readonly kind: 'range';
  /** `Array` or the typed array's constructor name. */
  readonly type: (typeof RANGE_TYPES)[number];
  /** The piece's first element: in the part's own array when saved; in the whole array (all parts in order) in a resharded restore. */
  readonly offset: number;
  /** How many elements the piece holds. */
  readonly length: number;
  /** The length of the array `offset` counts in. */
  readonly total: number;
}

/** One piece of a keyed shard: entries of the key groups `groups`. */
export interface SavedKeyedPiece {
  readonly kind: 'keyed';
  /** A Map or a plain object. */
  readonly container: 'map' | 'object';
  /** How many key groups keys hash into. */
  readonly keyGroups: number;
  /** The key groups the piece holds entries of, ascending. */
  readonly groups: readonly number[];
}

/** Which piece of a sharded provider's state a saved entry holds. */
export type SavedShard = SavedRangePiece | SavedKeyedPiece;

/** Everything one part captured at one group epoch: stored in the group image as provider `part-<i>`. */
export interface PartState {
  /** The part's step (completed loop iterations) at the capture, or null. */
  readonly step: number | null;
  /** Its providers, in registration order (a sharded provider may have several entries, its pieces). */
  readonly providers: readonly SavedProvider[];
  /**
   * Only in a state sent to a part for restore, never in an image: the group
   * image held `from` parts, another number than the group has, and these
   * are the pieces of every part's shards that this part needs — it keeps
   * the elements and keys its index gives it.
   */
  readonly resharded?: { readonly from: number };
  /**
   * The part's channel state (see group/channel): how many messages it sent
   * to each part and received from each, and the messages received but not
   * yet consumed. In a group image, messages in flight to the part at the
   * cut are in its inbox and counted as received.
   */
  readonly channels?: SavedChannels;
  /**
   * Only in a state sent to a part for a restore into the same count, never
   * in an image: where each range provider's elements lie in the whole
   * array (all parts in order), for its `restore()` context.
   */
  readonly places?: Readonly<Record<string, ShardPlace>>;
}

/** Where a part's elements of a range shard lie in the whole array: `[start, end)` of `total`. */
export interface ShardPlace {
  readonly start: number;
  readonly end: number;
  readonly total: number;
}

/** Whether a received value is a well-formed `places` record. */
export function isPlaces(value: unknown): value is Readonly<Record<string, ShardPlace>> {
  if (typeof value !== 'object' || value === null) return false;
  const n = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  return Object.values(value).every((v: unknown) => {
    const q = v as Partial<Record<keyof ShardPlace, unknown>> | null;
    return q !== null && typeof q === 'object' && n(q.start) && n(q.end) && n(q.total) && q.start <= q.end && q.end <= q.total;
  });
}

/** One channel message: its sender, its sequence number on the (sender, receiver) link (from 1), its value serialized with `v8.serialize`. */
export interface ChannelMessageBytes {
  readonly from: number;
  readonly seq: number;
  readonly bytes: Uint8Array;
}

/** A part's channel state at a capture. */
export interface SavedChannels {
  /** Messages sent to each part (by part index): the last sequence number used on that link. */
  readonly sent: readonly number[];
  /** Messages received from each part (by part index): the last sequence number received on that link. */
  readonly received: readonly number[];
  /** Messages received and not yet consumed by `receive()`, oldest first (per sender in sequence order). */
  readonly inbox: readonly ChannelMessageBytes[];
}

/** Whether a value read from an image or a channel is a well-formed {@link SavedChannels} of a group of `parts` parts. */
export function isSavedChannels(value: unknown, parts?: number): value is SavedChannels {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const counts = (a: unknown): a is number[] => Array.isArray(a) && (parts === undefined || a.length === parts) && (a as unknown[]).every(count);
  if (!counts(v['sent']) || !counts(v['received']) || v['sent'].length !== v['received'].length || !Array.isArray(v['inbox'])) return false;
  const n = v['sent'].length;
  return (v['inbox'] as unknown[]).every((m) => {
    const q = m as Partial<Record<keyof ChannelMessageBytes, unknown>> | null;
    return q !== null && typeof q === 'object' && count(q.from) && q.from < n && count(q.seq) && q.seq > 0 && q.bytes instanceof Uint8Array;
  });
}

/** An error as it crosses a thread boundary (structured clone keeps neither the class nor `code`). */
export interface WireError {
  readonly code: string | null;
  readonly message: string;
  readonly provider: string | null;
}

/** The message the coordinator posts on a worker's `parentPort` when the group runs. */
export interface InitMessage {
  readonly [GROUP_TAG]: 'init';
  /** This part's index (0-based, the order of `addWorker` and `addChild`). */
  readonly index: number;
  /** How many parts the group has. */
  readonly parts: number;
  /** The control block ({@link CTRL_WORDS} int32 words). */
  readonly control: SharedArrayBuffer;
  /** The part's private port to the coordinator. */
  readonly port: MessagePort;
  /** The group epoch restored from (0 when starting fresh). */
  readonly epoch: number;
  /** The group image restored from, or null when starting fresh. */
  readonly image: ImageInfo | null;
  /** This part's restored state, or null when starting fresh. */
  readonly state: PartState | null;
}

/** The message the coordinator sends a child process on its IPC channel once the child asked to join; the state's bytes follow as chunks. */
export interface ChildInitMessage {
  readonly [GROUP_TAG]: 'init';
  /** This part's index (0-based, the order of `addWorker`/`addChild`). */
  readonly index: number;
  /** How many parts the group has. */
  readonly parts: number;
  /** The coordinator's control file (requested epoch and stop epoch). */
  readonly control: string;
  /** The control words when this message was sent. */
  readonly request: { readonly epoch: number; readonly stop: number };
  /** The group epoch restored from (0 when starting fresh). */
  readonly epoch: number;
  /** The group image restored from, or null when starting fresh. */
  readonly image: ImageInfo | null;
  /** The signals that make the child ask the coordinator for a stop. */
  readonly stopSignals: readonly string[];
  /** This part's restored state without its bytes, or null when starting fresh. */
  readonly state: StateSkeleton | null;
}

/** A message of the group protocol on a child's IPC channel (the key {@link GROUP_TAG} tells it from the program's own messages). */
export type IpcMessage =
  /** Child → coordinator: join the group; `probe` is a Uint8Array when the channel is binary (`serialization: 'advanced'`). */
  | { readonly [GROUP_TAG]: 'join'; readonly probe: unknown }
  /** Child → coordinator: a part message; a state's bytes follow as chunks. */
  | { readonly [GROUP_TAG]: 'part'; readonly msg: unknown }
  /** Either way: the next piece of the state being sent. */
  | { readonly [GROUP_TAG]: 'chunk'; readonly bytes: unknown }
  /** Child → coordinator: the child received a stop signal. */
  | { readonly [GROUP_TAG]: 'stop'; readonly signal: string }
  /** Child → coordinator: a channel message to part `to`. */
  | { readonly [GROUP_TAG]: 'send'; readonly to: number; readonly seq: number; readonly bytes: unknown }
  /** Coordinator → child: a channel message for this part. */
  | { readonly [GROUP_TAG]: 'deliver'; readonly from: number; readonly seq: number; readonly bytes: unknown }
  /** Coordinator → child: the child cannot join (the message says why). */
  | { readonly [GROUP_TAG]: 'refused'; readonly message: string }
  | ChildInitMessage;

/** Whether a value received on an IPC channel is a group protocol message. */
export function isIpcMessage(value: unknown): value is IpcMessage {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[GROUP_TAG] === 'string';
}

/** A message a part posts on its private port. */
export type PartMessage =
  /** The capture for `epoch` succeeded. */
  | { readonly type: 'captured'; readonly epoch: number; readonly state: PartState }
  /** The capture for `epoch` failed (a hook threw, state could not be encoded). */
  | { readonly type: 'failed'; readonly epoch: number; readonly error: WireError }
  /** The part's work is done: its final state, valid for every later epoch. */
  | { readonly type: 'finished'; readonly state: PartState };

/**
 * Coordinator → thread part, on its private port: the buffers of the part's
 * capture, transferred back once the image holding them is written, for its
 * next capture to copy into (see group/capture-memory).
 */
export interface RecycleMessage {
  readonly type: 'recycle';
  readonly buffers: readonly ArrayBuffer[];
}

/** Whether a message on a part's port is a {@link RecycleMessage}. */
export function isRecycleMessage(value: unknown): value is RecycleMessage {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'recycle' && Array.isArray((value as { buffers?: unknown }).buffers);
}

/** A channel message to part `to` on a thread part's private port (the coordinator forwards it as a {@link ChannelMessageBytes}). */
export interface SendMessage {
  readonly type: 'send';
  readonly to: number;
  readonly seq: number;
  readonly bytes: Uint8Array;
}

/** An error as a {@link WireError}. */
export function toWire(err: unknown): WireError {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: unknown }).code;
  const provider = (e as { provider?: unknown }).provider;
  return { code: typeof code === 'string' ? code : null, message: e.message, provider: typeof provider === 'string' ? provider : null };
}

/**
 * The ArrayBuffers to transfer with `state`: every stream and blob made to
 * cover its own buffer first (copied when it is a view into a larger or
 * shared one), so a transfer moves exactly that value and nothing else.
 */
export function ownBuffers(state: PartState): { readonly state: PartState; readonly transfer: ArrayBuffer[] } {
  const seen = new Set<ArrayBuffer>();
  const own = (a: Uint8Array): Uint8Array => {
    const buf = a.buffer;
    if (!(buf instanceof ArrayBuffer) || a.byteOffset !== 0 || a.byteLength !== buf.byteLength || seen.has(buf)) {
      const copy = a.slice();
      seen.add(copy.buffer);
      return copy;
    }
    seen.add(buf);
    return a;
  };
  const providers = state.providers.map((p) => ({ ...p, stream: own(p.stream), blobs: p.blobs.map(own) }));
  return { state: { ...state, providers }, transfer: [...seen] };
}

function corrupt(index: number, what: string): CkptError {
  return new CkptError(ErrorCodes.CORRUPT, `the group image's state of part ${String(index)} is not a part state (${what}); move the image out of the store`, {
    provider: partProviderId(index),
  });
}

/**
 * Check that a value read from a group image is a {@link PartState}; with
 * `parts` (the image's part count), its channel state must have one entry
 * per part (else its inbox would be dropped).
 */
export function checkPartState(value: unknown, index: number, parts?: number): PartState {
  if (typeof value !== 'object' || value === null) throw corrupt(index, 'not an object');
  const v = value as { step?: unknown; providers?: unknown };
  if (v.step !== null && (typeof v.step !== 'number' || !Number.isSafeInteger(v.step) || v.step < 0)) throw corrupt(index, 'bad step');
  if (!Array.isArray(v.providers)) throw corrupt(index, 'no provider list');
  for (const p of v.providers as unknown[]) {
    const q = p as Partial<Record<keyof SavedProvider, unknown>> | null;
    if (
      q === null ||
      typeof q !== 'object' ||
      typeof q.id !== 'string' ||
      typeof q.version !== 'number' ||
      typeof q.tree !== 'boolean' ||
      !(q.stream instanceof Uint8Array) ||
      !Array.isArray(q.blobs) ||
      !(q.blobs as unknown[]).every((b) => b instanceof Uint8Array)
    ) {
      throw corrupt(index, 'bad provider entry');
    }
    if (q.shard !== undefined && !isSavedShard(q.shard)) throw corrupt(index, `bad shard entry of provider ${JSON.stringify(q.id)}`);
  }
  const channels = (value as { channels?: unknown }).channels;
  if (channels !== undefined && !isSavedChannels(channels, parts)) throw corrupt(index, 'bad channel state');
  return value as PartState;
}

const count = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** Whether a value read from an image or a channel is a well-formed {@link SavedShard}. */
export function isSavedShard(value: unknown): value is SavedShard {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  if (v.kind === 'range') {
    return (
      (RANGE_TYPES as readonly unknown[]).includes(v.type) &&
      count(v.offset) &&
      count(v.length) &&
      count(v.total) &&
      v.offset + v.length <= v.total
    );
  }
  if (v.kind === 'keyed') {
    const k = v.keyGroups;
    if ((v.container !== 'map' && v.container !== 'object') || !count(k) || k < 1 || k > MAX_KEY_GROUPS || !Array.isArray(v.groups)) return false;
    let last = -1;
    for (const g of v.groups as unknown[]) {
      if (!count(g) || g <= last || g >= k) return false;
      last = g;
    }
    return true;
  }
  return false;
}
