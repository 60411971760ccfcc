/**
 * @module lifecycle/writer-session
 *
 * A process's time as the writer of a store: the writer lock (taken once —
 * up front by a restore or a loop, or else by the first checkpoint — and
 * kept until `release()`), the cleanup of leftovers of interrupted
 * checkpoints, what happens when the lock is lost, and retention after each
 * commit.
 *
 * Retention decides on the images of the store, newest first. It holds the
 * info of the images it saw at its previous run (trusted while the image's
 * size is unchanged, forgotten when the lock is taken again), so after the
 * first run it lists the store but opens only the image just committed (a
 * write torn after its commit must not cost the last readable image) and
 * images it has not seen (written by another writer, or unreadable and
 * warned about again): a checkpoint costs O(1) image opens, not one per
 * image kept. What to delete is planned by `retention/plan` (mark and sweep
 * over the references of incremental images: nothing a kept image refers to
 * is deleted; deletes go newest first).
 */
import { asError, CkptError, ErrorCodes, isCkptError } from '../errors.js';
import { WarningCodes, type CkptWarning } from '../events.js';
import type { ReadLimits } from '../image/reader.js';
import type { ImageInfo } from '../info.js';
import { explainDecision, planRetention, type RetentionPlan } from '../retention/plan.js';
import type { RetentionPolicy } from '../retention/policy.js';
import type { Store, WriterLock } from '../store/store.js';
import { faultPoint } from './fault-points.js';
import { readEntry, type ReadableEntry } from './image-list.js';

/** What a writer session needs. */
export interface WriterSessionEnv {
  readonly store: Store;
  /** How long to wait for the writer lock, in ms (0: fail at once). */
  readonly lockWaitMs: number;
  /** Retention policies (none: keep every image). */
  readonly retention: readonly RetentionPolicy[];
  /** Limits applied when an image is opened to describe it. */
  readonly limits: ReadLimits;
  warn(w: CkptWarning): void;
}

/** The writer lock, cleanup and retention of one writer of a store. */
export class WriterSession {
  readonly #env: WriterSessionEnv;
  #lock: WriterLock | undefined;
  /**
   * Leftovers may be in the store: set when the writer lock is taken and after
   * a failed checkpoint (whose temporary image may not have been removable
   * while the disk failed), cleared by a successful `store.cleanup()`.
   */
  #cleanupPending = false;
  /** Info of the readable images retention saw last, by id. */
  #known = new Map<string, ReadableEntry>();
  /** The pinned images at the previous retention run (comma-joined), to warn only when they change. */
  #pinnedKey = '';

  /** @param env - the store, lock wait, retention policies and warning sink */
  constructor(env: WriterSessionEnv) {
    this.#env = env;
  }

  /** True while this session holds the writer lock. */
  get held(): boolean {
    return this.#lock !== undefined;
  }

  /**
   * The writer lock, taken on first use (waiting up to `lockWaitMs`); then,
   * if leftovers may be in the store, a cleanup. A lock held by another
   * writer fails with `CKPT_ERR_LOCKED` and a message that says what to do.
   */
  async lock(): Promise<WriterLock> {
    const { store, lockWaitMs } = this.#env;
    let lock = this.#lock;
    if (lock === undefined) {
      try {
        lock = await store.acquireWriter({ waitMs: lockWaitMs });
      } catch (err) {
        if (!isCkptError(err, ErrorCodes.LOCKED)) throw err;
        // The store's hint names acquireWriter({ waitMs }); a Checkpointer user sets options.
        const who = err.message.split(/(?<=[.;]) (?=[A-Z]|release|wait)/)[0] ?? err.message;
        throw new CkptError(
          ErrorCodes.LOCKED,
          `${who} Stop that writer, let this one wait for it (new Checkpointer({ lockWaitMs })${lockWaitMs > 0 ? `, now ${lockWaitMs} ms` : ''}), ` +
            `open this one with readOnly: true if it only restores or inspects, or use another store.`,
          { cause: err },
        );
      }
      this.#lock = lock;
      this.#cleanupPending = true;
      // What retention remembered was seen under an earlier lock: images may
      // have been pruned, damaged or replaced (ids are reused after the
      // newest is removed) since. Describe them again.
      this.#known.clear();
    }
    // At the first checkpoint, and again after a failed one or a failed
    // cleanup: a temp file the store could not remove while the disk failed
    // must not stay until the process exits.
    if (this.#cleanupPending) {
      try {
        const removed = await store.cleanup(lock);
        this.#cleanupPending = false;
        if (removed.length > 0) this.#env.warn({ code: WarningCodes.CLEANUP, message: `removed ${removed.length} leftover temporary file(s) of an interrupted checkpoint from ${store.description}` });
      } catch (err) {
        this.#env.warn({ code: WarningCodes.CLEANUP, message: `could not clean up leftovers in ${store.description} (retried at the next checkpoint): ${asError(err).message}`, error: asError(err) });
      }
    }
    return lock;
  }

  /** The writer lock before a restore; a store that cannot be locked for writing (read-only media) says how to restore anyway. */
  async lockForRestore(): Promise<void> {
    try {
      await this.lock();
    } catch (err) {
      if (isCkptError(err) && err.code !== ErrorCodes.STORE_IO) throw err;
      throw new CkptError(
        ErrorCodes.STORE_IO,
        `could not take the writer lock of ${this.#env.store.description}: ${asError(err).message} — restore() takes it first; to only restore or inspect, create the Checkpointer with readOnly: true`,
        { cause: err },
      );
    }
  }

  /**
   * After a failed checkpoint: its temporary image may be left over, so the
   * next lock() cleans up. After a `CKPT_ERR_LOCKED` failure, also: if the
   * writer lock was lost (its file removed or taken over), forget it.
   * Otherwise every later checkpoint would fail on the dead lock forever; the
   * next one now acquires the lock the normal way (and gets `CKPT_ERR_LOCKED`
   * only if someone else really holds it).
   */
  async checkpointFailed(err: CkptError): Promise<void> {
    this.#cleanupPending = true;
    if (err.code !== ErrorCodes.LOCKED) return;
    const lock = this.#lock;
    if (lock === undefined) return;
    try {
      await lock.assertHeld();
    } catch (e) {
      if (!isCkptError(e, ErrorCodes.LOCKED)) return;
      this.#lock = undefined;
      await lock.release().catch(() => undefined); // never removes a lock file that is not ours
    }
  }

  /**
   * Apply the retention policies after the commit of `committed`: delete the
   * images no policy keeps and no kept image refers to
   * (`retention/plan`), newest first. Images kept only because a kept image
   * refers to them are *pinned*; a change in that set is a
   * `CKPT_WARN_RETENTION_PINNED` warning. Never throws: a failure is a
   * `CKPT_WARN_RETENTION_FAILED` warning (the new image is committed).
   */
  async applyRetention(committed: ImageInfo): Promise<void> {
    const lock = this.#lock;
    if (this.#env.retention.length === 0 || lock === undefined) return;
    try {
      const { images, unreadable } = await this.#images(committed);
      const known = this.#known;
      const plan = await planRetention(
        images,
        this.#env.retention,
        (id) => known.get(id)?.refs,
        { alwaysKeep: [committed.id], unreadable },
      );
      this.#warnPinned(plan);
      faultPoint('retention-planned');
      for (const id of plan.deleteOrder) {
        await this.#env.store.delete(lock, id);
        this.#known.delete(id);
      }
    } catch (err) {
      this.#env.warn({ code: WarningCodes.RETENTION_FAILED, message: `retention could not prune old images (the new image is committed): ${asError(err).message}`, error: asError(err) });
    }
  }

  /** Warn when the set of pinned images changed since the previous run (not at every checkpoint). */
  #warnPinned(plan: RetentionPlan): void {
    const key = plan.pinned.join(',');
    if (key === this.#pinnedKey) return;
    this.#pinnedKey = key;
    if (plan.pinned.length === 0) return;
    const lines = plan.decisions.filter((d) => d.action === 'pinned').map((d) => `${d.id} (${explainDecision(d, plan.unknownRefs)})`);
    this.#env.warn({
      code: WarningCodes.RETENTION_PINNED,
      message: `retention keeps ${plan.pinned.length} image(s) in ${this.#env.store.description} that no policy keeps, because kept images need them: ${lines.join('; ')} — they go once nothing kept refers to them ('ckpt compact' writes a full image so older ones can go)`,
    });
  }

  /**
   * The store's images, newest first, as `list()` describes them, with the
   * images they refer to: the listing decides which images exist and their
   * order. The image just committed is opened again (a write torn after its
   * commit must not make retention delete the last readable image); an
   * image described at the previous run is trusted while its size is
   * unchanged; any other is opened. One open per checkpoint in the steady
   * state, not one per image. `unreadable`: images that cannot be described
   * for a reason other than damage (newer format, over a limit, I/O) — their
   * references are unknown, so retention keeps everything older.
   */
  async #images(committed: ImageInfo): Promise<{ images: ImageInfo[]; unreadable: string[] }> {
    const images: ImageInfo[] = [];
    const unreadable: string[] = [];
    const seen = new Map<string, ReadableEntry>();
    for (const entry of await this.#env.store.list()) {
      const known = entry.id === committed.id ? undefined : this.#known.get(entry.id);
      const read = known !== undefined && known.info.bytes === entry.size ? known : await readEntry(this.#env, entry);
      if (read === undefined) continue;
      if ('error' in read) {
        // A damaged image restores nothing, so what it refers to does not matter.
        if (read.error.code !== ErrorCodes.CORRUPT) unreadable.push(entry.id);
        continue;
      }
      images.push(read.info);
      seen.set(entry.id, read);
    }
    this.#known = seen;
    return { images, unreadable };
  }

  /** Release the writer lock (if held). Idempotent. */
  async release(): Promise<void> {
    const lock = this.#lock;
    this.#lock = undefined;
    this.#known.clear();
    if (lock !== undefined) await lock.release();
  }
}
