/**
 * @module store/fs-hooks
 *
 * Observation points of {@link FsStore}'s durable path: the exact moments
 * between two filesystem steps of taking the writer lock, committing an
 * image, deleting one and cleaning up. `FsStoreOptions.hooks` receives each
 * as it is reached. Production code passes none (the default does nothing);
 * `ckpt/testing` provides `faultPointHooks()`, which the crash-consistency
 * suite uses to kill a process at one of these moments (see
 * `docs/reliability.md`).
 */

/**
 * A step of {@link FsStore}'s durable path (see {@link FsStoreHooks}):
 * `lock-created`, `lock-written` (taking the writer lock or a stale-lock
 * recovery token), `temp-created`, `segment-write` (after each write into the
 * temp file), `after-fsync`, `before-rename`, `after-rename`,
 * `after-dir-fsync` (committing an image), `retention-delete`,
 * `after-unlink` (deleting one), `cleanup-unlink` (after each leftover
 * `cleanup()` removed).
 */
export type FsStoreStep =
  | 'lock-created'
  | 'lock-written'
  | 'cleanup-unlink'
  | 'temp-created'
  | 'segment-write'
  | 'after-fsync'
  | 'before-rename'
  | 'after-rename'
  | 'after-dir-fsync'
  | 'retention-delete'
  | 'after-unlink';

/**
 * Every step {@link FsStoreHooks.reached} reports, in the order a checkpoint
 * passes them (taking the lock, cleanup, the image's commit, retention).
 */
export const FS_STORE_STEPS = [
  'lock-created', // the lock file (or a stale-lock recovery token) is created with O_EXCL, not yet written
  'lock-written', // that file is written, fsynced and closed
  'cleanup-unlink', // cleanup() removed one leftover file
  'temp-created', // the temp file of a new image exists, empty
  'segment-write', // after each write(2) into the temp file
  'after-fsync', // the temp file is fsynced, not yet closed or renamed
  'before-rename', // lock checked, target checked: the rename is next
  'after-rename', // renamed to <id>.ckpt, the directory not yet fsynced
  'after-dir-fsync', // the commit is durable
  'retention-delete', // delete(): lock checked, the unlink is next
  'after-unlink', // delete(): unlinked, the directory not yet fsynced
] as const satisfies readonly FsStoreStep[];

/** Steps missing from {@link FS_STORE_STEPS}: none, or this file does not compile. */
type MissingSteps = Exclude<FsStoreStep, (typeof FS_STORE_STEPS)[number]>;
const listsEveryStep: [MissingSteps] extends [never] ? true : false = true;
void listsEveryStep;

/**
 * Receives the steps of {@link FsStore}'s durable path as they are reached
 * (`FsStoreOptions.hooks`), for tests that must act at an exact moment —
 * e.g. kill the process right after the rename and before the directory
 * fsync, which no timer can hit reliably. Together with `FsStoreOptions.fs`
 * (the filesystem layer) this is how tests reach inside the store without
 * any test code in it.
 */
export interface FsStoreHooks {
  /**
   * Called synchronously when `step` is reached. Should return quickly; a
   * hook that throws fails the operation in progress with what it threw.
   */
  reached(step: FsStoreStep): void;
}

/** The default hooks: nothing happens at any step. */
export const NO_FS_STORE_HOOKS: FsStoreHooks = Object.freeze({
  reached(): void {
    // no observer
  },
});
