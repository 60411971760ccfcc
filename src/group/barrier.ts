/**
 * @module group/barrier
 *
 * One group epoch on the coordinator's side: the set of parts whose capture
 * it still waits for, the captures received, and its end — every part
 * answered (resolve), or one part failed or the deadline passed (reject,
 * naming the parts). Answers for another epoch never reach it: the
 * coordinator routes by epoch, so a late capture cannot enter a newer cut.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { PartState } from './protocol.js';

/** The captures of one group epoch, by part index. */
export type EpochCaptures = ReadonlyMap<number, PartState>;

/** One group epoch waiting for its parts. */
export class Barrier {
  /** The captures received so far. */
  readonly #answers = new Map<number, PartState>();
  readonly #waiting: Set<number>;
  readonly #timer: NodeJS.Timeout | undefined;
  #settled = false;
  #resolve!: (captures: EpochCaptures) => void;
  #reject!: (err: CkptError) => void;
  /** Settles once every awaited part answered, or the epoch failed. */
  readonly done: Promise<EpochCaptures>;

  /**
   * @param epoch - the group epoch
   * @param waiting - the parts that must capture it
   * @param deadlineMs - how long they have
   */
  constructor(
    readonly epoch: number,
    waiting: Iterable<number>,
    deadlineMs: number,
  ) {
    this.#waiting = new Set(waiting);
    this.done = new Promise<EpochCaptures>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (this.#waiting.size === 0) {
      this.#settle();
      return;
    }
    this.#timer = setTimeout(() => {
      const late = [...this.#waiting].sort((a, b) => a - b);
      this.fail(
        new CkptError(
          ErrorCodes.DEADLINE,
          `group checkpoint ${String(epoch)}: part${late.length > 1 ? 's' : ''} ${late.join(', ')} did not capture within ${String(deadlineMs)} ms; the previous group image is intact — call safepoint() more often in those parts (or check ckpt.due in their loops), or raise deadlineMs`,
        ),
      );
    }, deadlineMs);
  }

  /** Whether part `index` still owes this epoch its capture. */
  waitsFor(index: number): boolean {
    return !this.#settled && this.#waiting.has(index);
  }

  /** Part `index` captured this epoch. */
  answer(index: number, state: PartState): void {
    if (!this.waitsFor(index)) return;
    this.#waiting.delete(index);
    this.#answers.set(index, state);
    if (this.#waiting.size === 0) this.#settle();
  }

  /** The epoch failed; the first failure wins. */
  fail(err: CkptError): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#reject(err);
  }

  #settle(): void {
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#resolve(this.#answers);
  }
}
