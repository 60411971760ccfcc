/**
 * @module events
 *
 * The events a Checkpointer emits, typed, and the `node:diagnostics_channel`
 * channels ckpt publishes on (`ckpt:checkpoint`, `ckpt:restore`) for tracing
 * and APM tools that observe a program without holding the Checkpointer.
 */
import { channel, type Channel } from 'node:diagnostics_channel';
import type { CkptError } from './errors.js';
import type { CheckpointInfo, RestoreResult } from './info.js';

/** Every warning code (`CKPT_WARN_*`), documented in `docs/errors.md`. */
export const WarningCodes = {
  /** restore() skipped a damaged or unreadable image and fell back to an older one. `error` says why. */
  IMAGE_SKIPPED: 'CKPT_WARN_IMAGE_SKIPPED',
  /** list() or retention could not describe an image (damaged, newer format, over a limit); it was left alone. */
  IMAGE_UNREADABLE: 'CKPT_WARN_IMAGE_UNREADABLE',
  /** An event listener threw; the operation went on. */
  LISTENER_THREW: 'CKPT_WARN_LISTENER_THREW',
  /** A hook failed after the outcome was already decided (a `committed()` hook, or hooks of a checkpoint that failed in the store). */
  HOOK_FAILED: 'CKPT_WARN_HOOK_FAILED',
  /** Retention could not prune old images; the new image is committed. */
  RETENTION_FAILED: 'CKPT_WARN_RETENTION_FAILED',
  /** Leftovers of an interrupted checkpoint were removed (or could not be). */
  CLEANUP: 'CKPT_WARN_CLEANUP',
  /** State of a provider that is not registered was dropped (`unknownProviders: 'ignore'`). */
  STATE_DROPPED: 'CKPT_WARN_STATE_DROPPED',
  /** A registered provider had no state in the image and was not restored (`missingProviders: 'allow'`). */
  NOT_RESTORED: 'CKPT_WARN_NOT_RESTORED',
  /** A store skipped a directory entry named like an image that is not one (symlink loop, unreadable, no image magic). */
  FOREIGN_ENTRY: 'CKPT_WARN_FOREIGN_ENTRY',
  /** A `checkpoint()` or `restore()` promise was not awaited (nor otherwise observed) by the time it ran: its image holds the state when it ran, not at the call. */
  NOT_AWAITED: 'CKPT_WARN_NOT_AWAITED',
  /** The process holds open handles (sockets, servers, child processes…) no registered resource owns: they will not exist after a restore. */
  UNREGISTERED_RESOURCES: 'CKPT_WARN_UNREGISTERED_RESOURCES',
  /** Retention kept images no policy keeps because a kept image refers to them (or its references cannot be read). Said when the set of pinned images changes. */
  RETENTION_PINNED: 'CKPT_WARN_RETENTION_PINNED',
} as const;

/** A `CKPT_WARN_*` code. */
export type WarningCode = (typeof WarningCodes)[keyof typeof WarningCodes];

/** A warning: something went wrong that did not stop the operation (a fallback, a failed hook). */
export interface CkptWarning {
  /** A `CKPT_WARN_*` code. */
  readonly code: WarningCode;
  /** What happened. */
  readonly message: string;
  /** The underlying error, if any. */
  readonly error?: Error;
}

/** Event name → payload. */
export interface CheckpointerEvents {
  /** A checkpoint was committed. */
  checkpoint: CheckpointInfo;
  /** A restore finished. */
  restore: RestoreResult;
  /**
   * Something failed without failing the operation. With no listener for this
   * event, warnings go to `process.emitWarning()` (printed to stderr with their
   * code; `--no-warnings` silences them).
   */
  warning: CkptWarning;
  /** A failure no caller is awaiting (e.g. background persist). Only emitted when a listener exists. */
  error: CkptError;
}

/** Published on `ckpt:checkpoint` when a checkpoint starts. */
export interface CheckpointStartMessage {
  /** Always `'start'`. */
  readonly phase: 'start';
  /** Step passed to `checkpoint()`, or null. */
  readonly step: number | null;
  /** Label passed to `checkpoint()`, or null. */
  readonly label: string | null;
}

/** Published on `ckpt:checkpoint` when a checkpoint is committed. */
export interface CheckpointEndMessage {
  /** Always `'end'`. */
  readonly phase: 'end';
  /** The committed checkpoint. */
  readonly info: CheckpointInfo;
}

/** Published on `ckpt:checkpoint` or `ckpt:restore` when the operation failed. */
export interface ErrorMessage {
  /** Always `'error'`. */
  readonly phase: 'error';
  /** The failure. */
  readonly error: CkptError;
}

/** Published on `ckpt:restore` when a restore starts. */
export interface RestoreStartMessage {
  /** Always `'start'`. */
  readonly phase: 'start';
  /** The image asked for, or null for "newest valid". */
  readonly imageId: string | null;
}

/** Published on `ckpt:restore` when a restore finished. */
export interface RestoreEndMessage {
  /** Always `'end'`. */
  readonly phase: 'end';
  /** The result, or undefined when the store was empty. */
  readonly result: RestoreResult | undefined;
}

/** Messages published on the `ckpt:checkpoint` channel. */
export type CheckpointChannelMessage = CheckpointStartMessage | CheckpointEndMessage | ErrorMessage;

/** Messages published on the `ckpt:restore` channel. */
export type RestoreChannelMessage = RestoreStartMessage | RestoreEndMessage | ErrorMessage;

/** The `ckpt:checkpoint` diagnostics channel. */
export const checkpointChannel = channel('ckpt:checkpoint');
/** The `ckpt:restore` diagnostics channel. */
export const restoreChannel = channel('ckpt:restore');

/** Publish on a channel only when someone listens (publishing is then free). */
export function publish(ch: Channel, message: CheckpointChannelMessage | RestoreChannelMessage): void {
  if (ch.hasSubscribers) ch.publish(message);
}
