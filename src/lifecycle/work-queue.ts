/**
 * @module lifecycle/work-queue
 *
 * Checkpoints and restores of one Checkpointer never overlap: each call is
 * queued and runs after the ones before it, in call order, whatever the
 * outcome of those. The queue also counts the calls made and not yet
 * settled, so registrations can be refused while any is pending.
 */

/** A queue of async jobs run one at a time, in call order. */
export class WorkQueue {
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  /** Jobs called and not yet settled (queued or running). */
  get pending(): number {
    return this.#pending;
  }

  /** Settles when every job queued so far has settled (never rejects). */
  get idle(): Promise<unknown> {
    return this.#tail;
  }

  /** Run `fn` after every job queued before it; `beforeEach` runs first (it may throw to refuse the job). */
  enqueue<T>(fn: () => Promise<T>, beforeEach: () => void): Promise<T> {
    // Pending from the call on, not only while running: a queued checkpoint
    // reads the registry when it starts, so a registration made in between
    // would silently change what a checkpoint the caller already asked for contains.
    this.#pending++;
    const run = this.#tail.then(async () => {
      try {
        beforeEach();
        return await fn();
      } finally {
        this.#pending--;
      }
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }
}
