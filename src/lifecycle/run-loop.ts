/**
 * @module lifecycle/run-loop
 *
 * The runtime side of checkpointing a running program: when a checkpoint is
 * due and where it is taken. It owns the due flag, the trigger policies
 * (every N steps, every T seconds), explicit requests, the stop state, the
 * signal handlers, the event-loop turns of synchronous loops, `safepoint()`
 * and `loop()`.
 *
 * What a checkpoint is, how a restore runs and who may write are the host's:
 * a {@link RunLoopHost} starts checkpoints, restores before a loop and takes
 * the writer lock. The Checkpointer is one host; a participant of a
 * coordinated checkpoint (a worker thread, another machine) is another, and
 * reuses this run loop unchanged.
 *
 * The hot path of a loop iteration when nothing is due is one comparison
 * with the next step of the step policies, one read of the due flag and,
 * every iteration, one clock read (see `yielder.ts`); time policies, signals
 * and requests only set the flag.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { CheckpointInfo } from '../info.js';
import type { CheckpointContext } from '../provider/provider.js';
import type { CheckpointRun, PersistMode, RunOptions } from './checkpoint-run.js';
import { toTriggerPolicies, type TriggerPolicy } from './policies.js';
import { SignalHandlers, type SignalSettings } from './signals.js';
import { StopState } from './stop-state.js';
import { Triggers } from './triggers.js';
import { Yielder } from './yielder.js';
import { loopSettings, type LoopOptions } from '../options.js';

/** What {@link Checkpointer.safepoint} did. */
export interface SafepointResult {
  /** The checkpoint taken here, if any (in async persist mode: its capture; the commit may still be running). */
  readonly checkpointed: boolean;
  /** True when a stop was requested (signal or `requestStop`): a checkpoint was taken and the loop should end. */
  readonly stop: boolean;
}

/** Where the run loop writes whether a checkpoint is due (a plain field, read once per iteration). */
export interface DueFlag {
  due: boolean;
}

/** What the run loop needs from the participant it runs for. */
export interface RunLoopHost {
  /** Throws when the participant is closed. */
  checkOpen(): void;
  /** Throws when the participant may not checkpoint (`what` names the call). */
  checkWritable(what: string): void;
  /** Start one checkpoint, after the work already queued. */
  checkpoint(ctx: CheckpointContext, mode: PersistMode, options?: RunOptions): CheckpointRun;
  /** Restore the newest image before a loop; resolves the step to continue from (0: start). */
  restore(): Promise<number>;
  /** Take the writer lock before a loop that does not restore. */
  lockWriter(): Promise<void>;
  /** A checkpoint at a safepoint failed and no caller awaits it. */
  reportBackground(err: unknown): void;
}

/** Settings of a run loop. */
export interface RunLoopSettings {
  /** The persist mode of checkpoints taken at safepoints (stop checkpoints are always sync). */
  readonly persist: PersistMode;
  /** The default trigger policies. */
  readonly every: readonly TriggerPolicy[];
  /** Signal handling; undefined: none. */
  readonly signals: SignalSettings | undefined;
  /** Longest a stop checkpoint may take (undefined: no limit). */
  readonly stopDeadlineMs: number | undefined;
  /** Give the event loop a turn at least this often. */
  readonly yieldEveryMs: number;
}

/** Due flag, triggers, requests, stop state, signals, safepoints and the loop of one participant. */
export class RunLoop {
  readonly #host: RunLoopHost;
  readonly #settings: RunLoopSettings;
  readonly #flag: DueFlag;
  readonly #stop: StopState;
  readonly #defaultTriggers: Triggers;
  #signalHandlers: SignalHandlers | undefined;
  #requestLabel: string | null = null;
  #looping = false;
  /** Step of the last checkpoint taken at a safepoint, or of the image restored last: step policies count from it. */
  #lastCheckpointStep: number | null = null;
  /** Outcome of the last checkpoint taken at a safepoint (its commit may still run in async mode). */
  #lastRun: Promise<CheckpointInfo> | undefined;
  /** Whether the first safepoint() has started the default policies (and installed signal handlers). */
  #safepointsStarted = false;
  #yielder: Yielder | undefined;
  /** A stop checkpoint missed its deadline and was abandoned. */
  #abandoned = false;

  /**
   * Arms the time policies at once (an unref'd timer that only sets the due
   * flag), so `if (flag.due) await safepoint()` works from the first iteration.
   *
   * @param host - the participant the loop runs for
   * @param settings - persist mode, policies, signals, stop deadline, yield interval
   * @param flag - where `due` is written
   */
  constructor(host: RunLoopHost, settings: RunLoopSettings, flag: DueFlag) {
    this.#host = host;
    this.#settings = settings;
    this.#flag = flag;
    this.#stop = new StopState(settings.signals?.exitCode);
    this.#defaultTriggers = new Triggers(settings.every, () => (this.#flag.due = true));
    this.#defaultTriggers.restart(0);
  }

  /** The stop request and its outcome. */
  get stop(): StopState {
    return this.#stop;
  }

  /** True when a stop checkpoint missed its deadline and was abandoned (it may never settle). */
  get abandoned(): boolean {
    return this.#abandoned;
  }

  /** Ask for a checkpoint at the next safepoint; a label given replaces an earlier one. */
  requestCheckpoint(label: string | undefined): void {
    if (label !== undefined) this.#requestLabel = label;
    this.#flag.due = true;
  }

  /** Ask for a checkpoint at the next safepoint and then the end of the loop. */
  requestStop(reason: string): void {
    this.#stop.request(reason);
    this.#flag.due = true;
  }

  /** An image was restored: step policies of safepoint(step) loops count from its step. */
  restored(step: number | null): void {
    this.#lastCheckpointStep = step;
  }

  /** Install the signal handlers if configured and not yet installed; true if this call installed them. */
  installSignals(): boolean {
    const settings = this.#settings.signals;
    if (settings === undefined || this.#signalHandlers !== undefined) return false;
    const stop = this.#stop;
    this.#signalHandlers = new SignalHandlers(settings, {
      onStop: (sig) => {
        stop.request(sig);
        this.#flag.due = true;
      },
      onCheckpointSignal: (sig) => {
        this.#requestLabel = `signal:${sig}`;
        this.#flag.due = true;
      },
      get stopping(): boolean {
        return stop.stopping;
      },
    });
    return true;
  }

  #removeSignals(): void {
    this.#signalHandlers?.dispose();
    this.#signalHandlers = undefined;
  }

  /** A safe point: checkpoint if one is due (or `step` reached a step policy), else maybe give the event loop a turn. */
  async safepoint(step?: number): Promise<SafepointResult> {
    this.#host.checkOpen();
    if (step !== undefined && (typeof step !== 'number' || !Number.isFinite(step))) {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `safepoint(step): step must be a finite number, got ${String(step)}`);
    }
    if (!this.#safepointsStarted) {
      // Start the default policies here whatever the signal settings (with
      // `signals: false` they were never armed), counting from the start or the
      // restored image like loop() does — not from this first safepoint's step,
      // which would shift every step checkpoint by one iteration.
      this.#safepointsStarted = true;
      this.installSignals();
      this.#defaultTriggers.restart(this.#lastCheckpointStep ?? 0);
    }
    if (!this.#flag.due && (step === undefined || step < this.#defaultTriggers.nextStep)) {
      this.#yielder ??= new Yielder(this.#settings.yieldEveryMs);
      const turn = this.#yielder.tick();
      if (turn !== undefined) await turn;
      if (!this.#flag.due) return { checkpointed: false, stop: false };
    }
    this.#host.checkWritable('safepoint()');
    return this.#checkpointHere(step ?? null, this.#defaultTriggers);
  }

  /**
   * Take the checkpoint that is due at a safepoint. For a stop: wait until it
   * is committed (within the stop deadline) and report failure by throwing.
   * Otherwise: wait for capture only in async mode, and report a failure
   * through the host's `reportBackground`.
   */
  async #checkpointHere(step: number | null, triggers: Triggers): Promise<SafepointResult> {
    const stop = this.#stop.reason;
    const label = stop !== undefined ? `stop:${stop}` : this.#requestLabel;
    this.#flag.due = false;
    this.#requestLabel = null;
    const ctx: CheckpointContext = { step, label };
    if (stop !== undefined) {
      await this.#stopCheckpoint(ctx);
      return { checkpointed: true, stop: true };
    }
    const persist = this.#settings.persist;
    const run = this.#host.checkpoint(ctx, persist);
    this.#lastRun = run.committed;
    run.committed.then(
      () => undefined,
      (err: unknown) => this.#host.reportBackground(err),
    );
    await (persist === 'async' ? run.captured : run.committed.catch(() => undefined));
    // A checkpoint without a step (safepoint()) restarts time policies but
    // leaves step policies counting from the last known step, not from 0.
    if (step !== null) this.#lastCheckpointStep = step;
    triggers.restart(step ?? this.#lastCheckpointStep ?? 0);
    return { checkpointed: true, stop: false };
  }

  async #stopCheckpoint(ctx: CheckpointContext): Promise<void> {
    const deadline = this.#settings.stopDeadlineMs;
    const abort = new AbortController();
    const run = this.#host.checkpoint(ctx, 'sync', { signal: abort.signal }).committed;
    if (deadline === undefined) {
      await run;
    } else {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new CkptError(ErrorCodes.DEADLINE, `the stop checkpoint did not finish within stopDeadlineMs (${deadline} ms); it was abandoned and the previous image is intact — raise stopDeadlineMs or make snapshot()/persist faster`);
          abort.abort(err);
          // close() must not wait for a run that may hang in a hook forever.
          this.#abandoned = true;
          reject(err);
        }, deadline);
      });
      run.catch(() => undefined);
      try {
        await Promise.race([run, expired]);
      } finally {
        clearTimeout(timer);
      }
    }
    this.#lastCheckpointStep = ctx.step;
    this.#stop.markStopped();
  }

  /** The loop of `Checkpointer.loop()`: every iteration boundary is a safepoint. */
  async *loop(options: LoopOptions): AsyncGenerator<number, void, undefined> {
    const host = this.#host;
    host.checkOpen();
    const { until, every, restore, checkpointAtEnd } = loopSettings(options);
    if (this.#looping) throw new CkptError(ErrorCodes.BUSY, 'a loop() is already running on this Checkpointer; run one loop at a time');
    host.checkWritable('loop()');
    const flag = this.#flag;
    const stop = this.#stop;
    const triggers = every === undefined ? this.#defaultTriggers : new Triggers(toTriggerPolicies(every), () => (flag.due = true));
    this.#looping = true;
    const installed = this.installSignals();
    try {
      let step = 0;
      // Take the writer lock before the first iteration (restore() does it too):
      // a second writer fails now, not after running the job unprotected.
      if (restore) step = await host.restore();
      else await host.lockWriter();
      this.#lastCheckpointStep = step;
      this.#lastRun = undefined;
      triggers.restart(step);
      const yielder = new Yielder(this.#settings.yieldEveryMs);
      while (step < until) {
        if (stop.stopping) {
          await this.#checkpointHere(step, triggers);
          return;
        }
        yield step;
        step++;
        if (step >= triggers.nextStep || flag.due) {
          if ((await this.#checkpointHere(step, triggers)).stop) return;
        } else {
          const turn = yielder.tick();
          if (turn !== undefined) await turn;
        }
      }
      if (checkpointAtEnd) {
        // A policy checkpoint at this very step counts as the final one only
        // once it is committed: in async mode it may still be persisting (the
        // loop must not end before the final image is durable), and if it
        // failed the end checkpoint is taken after all.
        let covered = this.#lastCheckpointStep === step;
        // (#checkpointHere sets #lastRun during the loop; the cast undoes TS's narrowing to the reset above.)
        const last = this.#lastRun as Promise<CheckpointInfo> | undefined;
        if (covered && last !== undefined) covered = await last.then(() => true, () => false);
        if (!covered) await host.checkpoint({ step, label: 'end' }, 'sync').committed;
      }
    } finally {
      this.#looping = false;
      if (triggers !== this.#defaultTriggers) triggers.dispose();
      if (installed) this.#removeSignals();
    }
  }

  /** Remove the signal handlers and stop the timers. */
  dispose(): void {
    this.#removeSignals();
    this.#defaultTriggers.dispose();
  }
}
