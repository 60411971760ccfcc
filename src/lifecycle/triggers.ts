/**
 * @module lifecycle/triggers
 *
 * Keeps track of when the next checkpoint is due under a set of trigger
 * policies: the next step (checked by the loop with one comparison) and a
 * timer for time-based policies (which marks the checkpoint due through a
 * callback, so the hot path never reads the clock). Restarted after every
 * checkpoint.
 */
import type { TriggerPolicy } from './policies.js';

/** Live trigger state for one set of policies. */
export class Triggers {
  /** Step at which a step policy wants the next checkpoint (Infinity: none). */
  nextStep = Infinity;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param policies - the trigger policies
   * @param onTimer - called when a time policy's delay has passed
   */
  constructor(
    readonly policies: readonly TriggerPolicy[],
    private readonly onTimer: () => void,
  ) {}

  /** Restart every policy from a checkpoint (or the start) at `step`. */
  restart(step: number): void {
    let next = Infinity;
    let delay = Infinity;
    for (const p of this.policies) {
      next = Math.min(next, p.nextStep(step));
      delay = Math.min(delay, p.nextDelayMs());
    }
    this.nextStep = next;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (Number.isFinite(delay)) {
      // unref: a pending checkpoint timer must never keep the process alive.
      this.#timer = setTimeout(this.onTimer, Math.min(delay, 2 ** 31 - 1));
      this.#timer.unref();
    }
  }

  /** Stop the timer. */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.nextStep = Infinity;
  }
}
