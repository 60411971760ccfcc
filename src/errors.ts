/**
 * @module errors
 *
 * The one error class ckpt throws, {@link CkptError}, and the closed set of
 * stable codes it carries. Every code is documented in `docs/errors.md`; code
 * strings never change meaning once released, so callers may switch on them.
 */

/** Every error code ckpt can produce. */
export const ErrorCodes = {
  /** A caller passed a value ckpt cannot accept (bad option, bad id, bad version). */
  INVALID_ARGUMENT: 'CKPT_ERR_INVALID_ARGUMENT',
  /** Two providers or resources were registered under the same id (or alias). */
  DUPLICATE_ID: 'CKPT_ERR_DUPLICATE_ID',
  /** Registration or another change was attempted while a checkpoint or restore runs. */
  BUSY: 'CKPT_ERR_BUSY',
  /** The Checkpointer (or store, or image reader) was already closed. */
  CLOSED: 'CKPT_ERR_CLOSED',
  /** A provider's state holds a value ckpt cannot save (function, symbol, unregistered class…). */
  UNSERIALIZABLE: 'CKPT_ERR_UNSERIALIZABLE',
  /** One or more providers or resources failed during a checkpoint; causes are attached. */
  SNAPSHOT_FAILED: 'CKPT_ERR_SNAPSHOT_FAILED',
  /** A provider's `restore()` or a resource's `afterRestore` failed. */
  RESTORE_FAILED: 'CKPT_ERR_RESTORE_FAILED',
  /** An image (or part of one) is damaged: checksum, truncation, bad structure, forged sizes. */
  CORRUPT: 'CKPT_ERR_CORRUPT',
  /** The image was written with a format version newer than this ckpt can read. */
  FORMAT_NEWER: 'CKPT_ERR_FORMAT_NEWER',
  /** The image needs a feature (a required flag) this ckpt does not implement. */
  UNSUPPORTED_FEATURE: 'CKPT_ERR_UNSUPPORTED_FEATURE',
  /** A provider's state in the image has a schema version newer than the registered provider. */
  VERSION_NEWER: 'CKPT_ERR_VERSION_NEWER',
  /** A provider's migration chain has no step for a version it must pass through. */
  NO_MIGRATION: 'CKPT_ERR_NO_MIGRATION',
  /** A provider's migration step threw. */
  MIGRATION_FAILED: 'CKPT_ERR_MIGRATION_FAILED',
  /** The image holds state for a provider that is not registered. */
  UNKNOWN_PROVIDER: 'CKPT_ERR_UNKNOWN_PROVIDER',
  /** A registered provider has no state in the image. */
  MISSING_PROVIDER: 'CKPT_ERR_MISSING_PROVIDER',
  /** The named image (or provider inside an image) does not exist. */
  NOT_FOUND: 'CKPT_ERR_NOT_FOUND',
  /** Every image in the store failed verification; nothing could be restored. */
  NO_VALID_IMAGE: 'CKPT_ERR_NO_VALID_IMAGE',
  /** The store could not read, write, sync, rename or delete; the cause is attached. */
  STORE_IO: 'CKPT_ERR_STORE_IO',
  /** Another live process holds the store's writer lock (or this process lost it). */
  LOCKED: 'CKPT_ERR_LOCKED',
  /** The image uses a class name that is not registered with this Checkpointer. */
  UNKNOWN_CLASS: 'CKPT_ERR_UNKNOWN_CLASS',
  /** A checkpoint did not finish before its deadline (e.g. the stop deadline after SIGTERM); the previous image is intact. */
  DEADLINE: 'CKPT_ERR_DEADLINE',
  /** A configured size limit was exceeded (state too large for a segment, index too large…). */
  LIMIT: 'CKPT_ERR_LIMIT',
  /** `checkpoint()` (or a loop's checkpoint) on a Checkpointer created with `readOnly: true`. */
  READ_ONLY: 'CKPT_ERR_READ_ONLY',
  /** A provider or class was registered after `restore()`/`loop()` had restored: the next restart could not restore its state. */
  LATE_REGISTRATION: 'CKPT_ERR_LATE_REGISTRATION',
  /** With `unregisteredResources: 'error'`: the process holds open handles no registered resource owns; the checkpoint was refused. */
  UNREGISTERED_RESOURCES: 'CKPT_ERR_UNREGISTERED_RESOURCES',
  /** `ckpt` CLI: bad command line (unknown command or option, missing or invalid argument, an output that exists). */
  USAGE: 'CKPT_ERR_USAGE',
  /** `ckpt` CLI: a directory given as a store holds no committed images. */
  NOT_A_STORE: 'CKPT_ERR_NOT_A_STORE',
  /** `ckpt` CLI: the `--app` module could not be loaded or does not export what it must. */
  APP_MODULE: 'CKPT_ERR_APP_MODULE',
  /** `ckpt` CLI: an unexpected error, a bug in ckpt (rerun with `--debug` and report it). */
  INTERNAL: 'CKPT_ERR_INTERNAL',
  /** An incremental image refers to bytes held by another image that is missing, was replaced (uuid mismatch) or cannot be reached from how the image was opened. */
  MISSING_REFERENCE: 'CKPT_ERR_MISSING_REFERENCE',
  /** A group image holds a different number of parts than the `CheckpointGroup` has, and cannot be resharded into that count (a provider not sharded, parts at different steps, parts that disagree). */
  GROUP_MISMATCH: 'CKPT_ERR_GROUP_MISMATCH',
  /** A part of a `CheckpointGroup` died, exited without finishing, or broke the group protocol; the group's run ended. */
  PART_FAILED: 'CKPT_ERR_PART_FAILED',
  /** A group channel message was sent to a part that had finished, or a part finished without consuming messages sent to it. */
  CHANNEL_CLOSED: 'CKPT_ERR_CHANNEL_CLOSED',
  /**
   * An encrypted image cannot be opened with the keys given: no key, the key
   * id it needs is missing, or the key (passphrase, KMS) is wrong. The
   * message names the key id. `restore()` fails with it — it never falls back
   * to an older image.
   */
  KEY: 'CKPT_ERR_KEY',
  /** Encryption is configured and the image is not encrypted (pass `encryption.allowPlaintext: true` to read it during a migration). */
  NOT_ENCRYPTED: 'CKPT_ERR_NOT_ENCRYPTED',
} as const;

/** A stable error code string, `CKPT_ERR_*`. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Extra, code-specific facts attached to a {@link CkptError}. */
export interface CkptErrorDetails {
  /** For aggregated errors (`CKPT_ERR_SNAPSHOT_FAILED` …): the individual failures. */
  readonly errors?: readonly Error[];
  /** The provider the error concerns, when there is one. */
  readonly provider?: string;
  /** The image the error concerns, when there is one. */
  readonly image?: string;
  /** Where inside an image or a state the problem was found (`segment 3`, `particles[3].onHit`). */
  readonly where?: string;
  /**
   * What the user can do about it, when the message does not already say so
   * (one clause, lower case, no final full stop: `move it out of the store`).
   * The `ckpt` CLI prints it after the message.
   */
  readonly hint?: string;
}

/** Options accepted by the {@link CkptError} constructor. */
export interface CkptErrorOptions extends CkptErrorDetails {
  /** The underlying error, when there is one. */
  readonly cause?: unknown;
}

/**
 * The brand every {@link CkptError} carries, registered in the global symbol
 * registry so that {@link isCkptError} recognises errors made by another copy
 * of ckpt loaded in the same process (two versions in `node_modules`, or the
 * same file loaded under two URLs), where `instanceof` fails.
 */
const BRAND: unique symbol = Symbol.for('ckpt.error') as never;

/**
 * The single error class of ckpt. `code` is stable and documented in
 * `docs/errors.md`; `message` says what happened (and usually what to do);
 * `hint`, when set, says what to do.
 *
 * The optional facts (`errors`, `provider`, `image`, `where`, `hint`) are own
 * properties only when set, so `util.inspect` and Node's printer of uncaught
 * errors show what is known and no `undefined` placeholders.
 */
export class CkptError extends Error {
  /** The stable `CKPT_ERR_*` code. */
  readonly code: ErrorCode;
  /** Individual failures, for aggregated errors; an own property only when there is at least one. */
  declare readonly errors?: readonly Error[];
  /** The provider concerned; an own property only when set. */
  declare readonly provider?: string;
  /** The image concerned; an own property only when set. */
  declare readonly image?: string;
  /** Location inside an image or state; an own property only when set. */
  declare readonly where?: string;
  /** What the user can do about it; an own property only when set. */
  declare readonly hint?: string;

  /**
   * @param code - one of {@link ErrorCodes}
   * @param message - what happened and what the user should do
   * @param options - cause and code-specific details
   */
  constructor(code: ErrorCode, message: string, options: CkptErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CkptError';
    this.code = code;
    // Not enumerable: the brand is for isCkptError, not for printing or copying.
    Object.defineProperty(this, BRAND, { value: true, enumerable: false, writable: false, configurable: false });
    if (options.errors !== undefined && options.errors.length > 0) defineFact(this, 'errors', Object.freeze([...options.errors]));
    for (const key of ['provider', 'image', 'where', 'hint'] as const) {
      const v = options[key];
      if (v !== undefined) defineFact(this, key, v);
    }
  }

  /**
   * What `util.inspect` shows (Node's printer of uncaught errors turns custom
   * inspection off, and then shows the own properties that are set):
   * the stack, then the code, the facts that are set (never `undefined`
   * placeholders), where the code is documented, the individual failures
   * and the cause.
   */
  [Symbol.for('nodejs.util.inspect.custom')](depth: number, options: { readonly stylize?: unknown }, inspect: (v: unknown, o?: unknown) => string): string {
    const lines = [this.stack ?? `${this.name} [${this.code}]: ${this.message}`];
    const facts = [`code: ${this.code}`];
    if (this.provider !== undefined) facts.push(`provider: ${JSON.stringify(this.provider)}`);
    if (this.image !== undefined) facts.push(`image: ${JSON.stringify(this.image)}`);
    if (this.where !== undefined) facts.push(`where: ${JSON.stringify(this.where)}`);
    lines.push(`  ${facts.join(', ')}`);
    if (this.hint !== undefined) lines.push(`  hint: ${this.hint}`);
    lines.push(`  (${this.code} is explained in ckpt's docs/errors.md)`);
    const nested = typeof inspect === 'function' && depth >= 0;
    for (const e of this.errors ?? []) lines.push(`  - ${nested ? inspect(e, { ...options, depth: depth - 1 }).replace(/\n/g, '\n    ') : e.message}`);
    if (this.cause !== undefined) lines.push(`  [cause]: ${nested ? inspect(this.cause, { ...options, depth: depth - 1 }).replace(/\n/g, '\n  ') : describeError(this.cause)}`);
    return lines.join('\n');
  }
}

/** Make `value` a read-only, enumerable own property of `err`. */
function defineFact(err: CkptError, key: keyof CkptErrorDetails, value: unknown): void {
  Object.defineProperty(err, key, { value, enumerable: true, writable: false, configurable: true });
}

/**
 * True when `err` is a {@link CkptError}, optionally with the given code.
 * Recognises errors made by any copy of ckpt in the process (by a brand
 * registered with `Symbol.for('ckpt.error')`), not only by this one.
 */
export function isCkptError(err: unknown, code?: ErrorCode): err is CkptError {
  if (typeof err !== 'object' || err === null) return false;
  if (!(err instanceof CkptError) && (err as { readonly [BRAND]?: unknown })[BRAND] !== true) return false;
  return code === undefined || (err as CkptError).code === code;
}

/** A thrown value as an Error (something thrown that is not one becomes an Error with its text). Internal. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Render an unknown thrown value as text for messages. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
