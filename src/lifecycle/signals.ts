/**
 * @module lifecycle/signals
 *
 * Process signal handling for checkpoint/restart: "stop" signals (SIGTERM and
 * SIGINT by default — what schedulers send on preemption) ask for a
 * checkpoint at the next safepoint and then a clean end of the loop;
 * "checkpoint" signals (SIGUSR2 by default) ask for a checkpoint and carry on.
 * A second SIGINT while stopping means "stop now": the handlers are removed
 * and the signal is raised again, so Node's default action ends the process
 * (the last committed image is intact; a half-written one is invisible).
 * Handlers are removed by `dispose()`; ckpt never calls `process.exit`.
 */
import { CkptError, ErrorCodes } from '../errors.js';

/** Signal options of a Checkpointer. `false` installs no handlers. */
export interface SignalOptions {
  /** Signals that mean "checkpoint, then stop" (default SIGTERM, SIGINT). */
  readonly stop?: readonly NodeJS.Signals[];
  /** Signals that mean "checkpoint and continue" (default SIGUSR2). */
  readonly checkpoint?: readonly NodeJS.Signals[];
  /** Exit code set on `process.exitCode` when a loop ends because of a stop signal (default: leave it alone, i.e. 0). */
  readonly exitCode?: number;
}

/** What the signal handlers call. */
export interface SignalTarget {
  /** A stop signal arrived. */
  onStop(signal: NodeJS.Signals): void;
  /** A checkpoint signal arrived. */
  onCheckpointSignal(signal: NodeJS.Signals): void;
  /** Whether a stop is already in progress (a second SIGINT then forces). */
  readonly stopping: boolean;
}

const UNCATCHABLE = new Set(['SIGKILL', 'SIGSTOP']);

function checkSignals(list: unknown, what: string): NodeJS.Signals[] {
  if (!Array.isArray(list)) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `signals.${what} must be an array of signal names like ['SIGTERM']`);
  for (const s of list) {
    if (typeof s !== 'string' || !/^SIG[A-Z0-9]+$/.test(s) || UNCATCHABLE.has(s)) {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `signals.${what}: ${JSON.stringify(s)} is not a signal that can be handled`);
    }
  }
  return list as NodeJS.Signals[];
}

/** Validated signal settings. */
export interface SignalSettings {
  readonly stop: readonly NodeJS.Signals[];
  readonly checkpoint: readonly NodeJS.Signals[];
  readonly exitCode: number | undefined;
}

/** Validate signal options (`undefined` → defaults, `false` → none). */
export function signalSettings(options: SignalOptions | false | undefined): SignalSettings | undefined {
  if (options === false) return undefined;
  const o = options ?? {};
  if (typeof o !== 'object' || o === null) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'signals must be false or an object { stop?, checkpoint?, exitCode? }');
  const stop = checkSignals(o.stop ?? ['SIGTERM', 'SIGINT'], 'stop');
  const checkpoint = checkSignals(o.checkpoint ?? ['SIGUSR2'], 'checkpoint');
  const overlap = stop.filter((s) => checkpoint.includes(s));
  if (overlap.length > 0) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `signals: ${overlap.join(', ')} cannot be both a stop and a checkpoint signal`);
  if (o.exitCode !== undefined && (!Number.isInteger(o.exitCode) || o.exitCode < 0 || o.exitCode > 255)) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `signals.exitCode must be an integer 0..255, got ${String(o.exitCode)}`);
  }
  return { stop, checkpoint, exitCode: o.exitCode };
}

/** Installed signal handlers; `dispose()` removes them. */
export class SignalHandlers {
  readonly #installed: [NodeJS.Signals, () => void][] = [];
  #disposed = false;

  /** Install handlers for `settings` that call into `target`. */
  constructor(settings: SignalSettings, target: SignalTarget) {
    for (const sig of settings.stop) {
      const handler = (): void => {
        if (sig === 'SIGINT' && target.stopping) {
          // Second Ctrl-C: give the signal back to Node's default action.
          this.dispose();
          process.kill(process.pid, sig);
          return;
        }
        target.onStop(sig);
      };
      process.on(sig, handler);
      this.#installed.push([sig, handler]);
    }
    for (const sig of settings.checkpoint) {
      const handler = (): void => target.onCheckpointSignal(sig);
      process.on(sig, handler);
      this.#installed.push([sig, handler]);
    }
  }

  /** Remove every handler this object installed. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const [sig, handler] of this.#installed) process.off(sig, handler);
    this.#installed.length = 0;
  }
}
