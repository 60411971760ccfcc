/**
 * @module lifecycle/stop-state
 *
 * Whether the job was asked to stop and whether it stopped: a stop is
 * requested by a stop signal or `requestStop(reason)` (the first reason
 * wins), and the job has stopped once the checkpoint taken for it is
 * committed. After a stop the process should end with the exit code that
 * says "ended by that signal", so supervisors do not take the job as finished.
 */
import { constants as osConstants } from 'node:os';

/** The stop request and its outcome. */
export class StopState {
  #reason: string | undefined;
  #stopped = false;

  /** @param configuredExitCode - `signals.exitCode`, if set: the exit code after any stop */
  constructor(readonly configuredExitCode: number | undefined) {}

  /** Record a stop request; the first reason is kept. */
  request(reason: string): void {
    this.#reason ??= reason;
  }

  /** True once a stop was requested. */
  get stopping(): boolean {
    return this.#reason !== undefined;
  }

  /** The signal name or `requestStop()` reason; undefined until a stop is requested. */
  get reason(): string | undefined {
    return this.#reason;
  }

  /** The stop checkpoint is committed: the job has stopped. Sets `process.exitCode` when `signals.exitCode` is configured. */
  markStopped(): void {
    this.#stopped = true;
    if (this.configuredExitCode !== undefined) process.exitCode = this.configuredExitCode;
  }

  /** True once the job stopped (its stop checkpoint is committed). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * The exit code to end the process with after a stop, undefined when not
   * stopped: the configured one, else for a signal 128 + its number, else
   * undefined (a `requestStop()`: the application decides).
   */
  get exitCode(): number | undefined {
    if (!this.#stopped) return undefined;
    if (this.configuredExitCode !== undefined) return this.configuredExitCode;
    const sig = this.#reason;
    const n = sig === undefined ? undefined : (osConstants.signals as Readonly<Record<string, number>>)[sig];
    return n === undefined ? undefined : 128 + n;
  }
}
