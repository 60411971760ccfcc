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

/** A warning: something went wrong that did not stop the operation (a fallback, a failed hook). */
export interface CkptWarning {
  /** A `CKPT_ERR_*` code. */
  readonly code: string;
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
  /** Something failed without failing the operation. */
  warning: CkptWarning;
  /** A failure no caller is awaiting (e.g. background persist). Only emitted when a listener exists. */
  error: CkptError;
}

/** Messages published on the `ckpt:checkpoint` channel. */
export type CheckpointChannelMessage =
  | { readonly phase: 'start'; readonly step: number | null; readonly label: string | null }
  | { readonly phase: 'end'; readonly info: CheckpointInfo }
  | { readonly phase: 'error'; readonly error: CkptError };

/** Messages published on the `ckpt:restore` channel. */
export type RestoreChannelMessage =
  | { readonly phase: 'start'; readonly imageId: string | null }
  | { readonly phase: 'end'; readonly result: RestoreResult | undefined }
  | { readonly phase: 'error'; readonly error: CkptError };

/** The `ckpt:checkpoint` diagnostics channel. */
export const checkpointChannel = channel('ckpt:checkpoint');
/** The `ckpt:restore` diagnostics channel. */
export const restoreChannel = channel('ckpt:restore');

/** Publish on a channel only when someone listens (publishing is then free). */
export function publish(ch: Channel, message: CheckpointChannelMessage | RestoreChannelMessage): void {
  if (ch.hasSubscribers) ch.publish(message);
}
