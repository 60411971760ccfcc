/**
 * @module lifecycle/yielder
 *
 * Lets a synchronous-bodied loop give the event loop a turn often enough that
 * signals and timers are seen within a bounded delay: `intervalMs` plus one
 * iteration, whatever the iterations cost and however that cost changes.
 *
 * The clock is read once per iteration (tens of nanoseconds). Reading it only
 * every N iterations, with N adapted to the recent iteration cost, cannot keep
 * that bound: after a phase of cheap iterations N is large, and when the
 * iterations become slow the next read comes N slow iterations later (seconds
 * in practice) — no turn, no signal, no timer in between.
 */
import { setImmediate as turn } from 'node:timers/promises';

/** Event-loop yielder for loops with synchronous iterations. */
export class Yielder {
  #lastTurn = performance.now();

  /** @param intervalMs - give the event loop a turn at least this often (ms) */
  constructor(readonly intervalMs: number) {}

  /**
   * Call once per iteration. Returns a promise (to await) when the event loop
   * should turn now, otherwise `undefined` — so the common path allocates nothing.
   */
  tick(): Promise<void> | undefined {
    if (performance.now() - this.#lastTurn < this.intervalMs) return undefined;
    return this.turn();
  }

  /** Give the event loop a turn (timers, I/O, signals) now. */
  async turn(): Promise<void> {
    await turn();
    this.#lastTurn = performance.now();
  }
}
