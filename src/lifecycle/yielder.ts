/**
 * @module lifecycle/yielder
 *
 * Lets a synchronous-bodied loop give the event loop a turn often enough that
 * signals and timers are seen within a bounded delay, while costing almost
 * nothing per iteration: the clock is read only every `checkEvery`
 * iterations, and `checkEvery` adapts so that reads happen about once per
 * millisecond whatever an iteration costs.
 */
import { setImmediate as turn } from 'node:timers/promises';

/** Adaptive event-loop yielder. */
export class Yielder {
  #sinceCheck = 0;
  #checkEvery = 1;
  #lastCheck = performance.now();
  #lastTurn = this.#lastCheck;

  /** @param intervalMs - give the event loop a turn at least this often (ms) */
  constructor(readonly intervalMs: number) {}

  /**
   * Call once per iteration. Returns a promise (to await) when the event loop
   * should turn now, otherwise `undefined` — so the common path allocates nothing.
   */
  tick(): Promise<void> | undefined {
    if (++this.#sinceCheck < this.#checkEvery) return undefined;
    const now = performance.now();
    const elapsed = now - this.#lastCheck;
    // Aim for one clock read per ~1 ms of loop time.
    if (elapsed < 0.5 && this.#checkEvery < 1 << 20) this.#checkEvery *= 2;
    else if (elapsed > 2 && this.#checkEvery > 1) this.#checkEvery = Math.max(1, this.#checkEvery >> 1);
    this.#sinceCheck = 0;
    this.#lastCheck = now;
    if (now - this.#lastTurn < this.intervalMs) return undefined;
    return this.turn();
  }

  /** Give the event loop a turn (timers, I/O, signals) now. */
  async turn(): Promise<void> {
    await turn();
    this.#lastTurn = this.#lastCheck = performance.now();
  }
}
