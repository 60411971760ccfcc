/**
 * @module cli/exit-codes
 *
 * The exit codes of the `ckpt` command and how a `CKPT_ERR_*` code maps to
 * one. The table here is the one `ckpt --help` prints and `docs/cli.md`
 * documents; codes never change meaning.
 */
import { ErrorCodes } from '../index.js';

/** Every exit code `ckpt` uses. */
export const ExitCode = {
  /** Success (for `diff`: the images hold equal state). */
  OK: 0,
  /** Bad command line: unknown command or option, missing or invalid argument, an output that already exists. */
  USAGE: 1,
  /** An image is damaged (checksum, truncation, not an image at all) or over a reader limit; `verify` found damage. */
  CORRUPT: 2,
  /** An image (format, required feature or provider version) is newer than this ckpt or the app code. */
  NEWER: 3,
  /** Input missing or unreadable: no such file or directory, a directory that is not a store, permission or disk error. */
  IO: 4,
  /** The store's writer lock is held by a running writer (`prune`). */
  LOCKED: 5,
  /** `diff`: the images hold different state. */
  DIFFERENT: 6,
  /** The `--app` module could not be loaded, or app-level checks (`verify --deep`) failed: missing migration, failed migration, unknown/missing provider or class. */
  APP: 7,
  /** A bug in ckpt: an unexpected error (run with `--debug` and report it). */
  INTERNAL: 8,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit codes with a one-line meaning each, for help texts and docs. */
export const EXIT_CODE_TABLE: readonly { readonly code: ExitCodeValue; readonly meaning: string }[] = [
  { code: ExitCode.OK, meaning: 'ok (diff: no provider state differs)' },
  { code: ExitCode.USAGE, meaning: 'usage error: bad command, option or argument; output exists' },
  { code: ExitCode.CORRUPT, meaning: 'damaged image, not an image, or over a reader limit' },
  { code: ExitCode.NEWER, meaning: 'image newer than this ckpt (format, feature or provider version)' },
  { code: ExitCode.IO, meaning: 'not found or unreadable: missing path, not a store, I/O error' },
  { code: ExitCode.LOCKED, meaning: 'store locked by a running writer' },
  { code: ExitCode.DIFFERENT, meaning: 'diff: the images hold different state' },
  { code: ExitCode.APP, meaning: 'app problem: --app module failed, or verify --deep found one' },
  { code: ExitCode.INTERNAL, meaning: 'internal error (a bug: rerun with --debug and report it)' },
];

const BY_ERROR_CODE: ReadonlyMap<string, ExitCodeValue> = new Map<string, ExitCodeValue>([
  [ErrorCodes.INVALID_ARGUMENT, ExitCode.USAGE],
  [ErrorCodes.CORRUPT, ExitCode.CORRUPT],
  [ErrorCodes.LIMIT, ExitCode.CORRUPT],
  [ErrorCodes.NO_VALID_IMAGE, ExitCode.CORRUPT],
  [ErrorCodes.FORMAT_NEWER, ExitCode.NEWER],
  [ErrorCodes.UNSUPPORTED_FEATURE, ExitCode.NEWER],
  [ErrorCodes.VERSION_NEWER, ExitCode.NEWER],
  [ErrorCodes.NOT_FOUND, ExitCode.IO],
  [ErrorCodes.STORE_IO, ExitCode.IO],
  [ErrorCodes.CLOSED, ExitCode.INTERNAL],
  [ErrorCodes.LOCKED, ExitCode.LOCKED],
  [ErrorCodes.NO_MIGRATION, ExitCode.APP],
  [ErrorCodes.MIGRATION_FAILED, ExitCode.APP],
  [ErrorCodes.UNKNOWN_PROVIDER, ExitCode.APP],
  [ErrorCodes.MISSING_PROVIDER, ExitCode.APP],
  [ErrorCodes.UNKNOWN_CLASS, ExitCode.APP],
  [ErrorCodes.DUPLICATE_ID, ExitCode.APP],
  [ErrorCodes.BUSY, ExitCode.APP],
  [ErrorCodes.RESTORE_FAILED, ExitCode.APP],
  [ErrorCodes.UNSERIALIZABLE, ExitCode.APP],
  [ErrorCodes.SNAPSHOT_FAILED, ExitCode.APP],
  [ErrorCodes.DEADLINE, ExitCode.APP],
  [ErrorCodes.READ_ONLY, ExitCode.APP],
  [ErrorCodes.LATE_REGISTRATION, ExitCode.APP],
  [ErrorCodes.UNREGISTERED_RESOURCES, ExitCode.APP],
  [ErrorCodes.USAGE, ExitCode.USAGE],
  [ErrorCodes.NOT_A_STORE, ExitCode.IO],
  [ErrorCodes.APP_MODULE, ExitCode.APP],
  [ErrorCodes.INTERNAL, ExitCode.INTERNAL],
  [ErrorCodes.MISSING_REFERENCE, ExitCode.CORRUPT],
  [ErrorCodes.GROUP_MISMATCH, ExitCode.APP],
  [ErrorCodes.PART_FAILED, ExitCode.APP],
  [ErrorCodes.CHANNEL_CLOSED, ExitCode.APP],
  [ErrorCodes.KEY, ExitCode.APP],
  [ErrorCodes.NOT_ENCRYPTED, ExitCode.APP],
]);

/** The exit code for a `CKPT_ERR_*` code (unknown codes are internal errors). */
export function exitCodeForErrorCode(code: string): ExitCodeValue {
  return BY_ERROR_CODE.get(code) ?? ExitCode.INTERNAL;
}

/**
 * When several problems were found (e.g. `verify` of a directory), the exit
 * code reports the most serious: damage, then I/O, then newer, then app.
 */
const SEVERITY: readonly ExitCodeValue[] = [ExitCode.INTERNAL, ExitCode.CORRUPT, ExitCode.IO, ExitCode.NEWER, ExitCode.LOCKED, ExitCode.APP, ExitCode.USAGE];

/** The most serious exit code for a set of `CKPT_ERR_*` codes (OK for none). */
export function exitCodeForProblems(codes: Iterable<string>): ExitCodeValue {
  let best: ExitCodeValue = ExitCode.OK;
  let rank = SEVERITY.length;
  for (const c of codes) {
    const e = exitCodeForErrorCode(c);
    const r = SEVERITY.indexOf(e);
    if (r !== -1 && r < rank) {
      rank = r;
      best = e;
    }
  }
  return best;
}
