/**
 * @module group/participant
 *
 * {@link joinGroup} and the {@link GroupParticipant} it returns: the part of
 * a checkpoint group that runs in a worker thread. It has what a
 * Checkpointer's run loop has — `register()`, `registerClass()`, `loop()`,
 * `safepoint()`, `due` — but never writes an image itself: at a safepoint
 * where the coordinator asked for a group epoch, it captures its providers,
 * posts the encoded state to the coordinator and carries on. `due` reads the
 * shared control block with `Atomics.load`, so a loop that never yields to
 * its event loop still sees a request at its next safepoint.
 */
import { isMainThread, parentPort, type MessagePort } from 'node:worker_threads';
import { ClassRegistry } from '../codec/class-registry.js';
import { StateEncoder } from '../codec/encode.js';
import { CkptError, ErrorCodes } from '../errors.js';
import type { ImageInfo } from '../info.js';
import type { Provider } from '../provider/provider.js';
import { Registry } from '../provider/registry.js';
import { capturePart, restorePart, type PartEnv } from './part-state.js';
import { CTRL_EPOCH, CTRL_STOP, GROUP_TAG, ownBuffers, toWire, type InitMessage, type PartMessage, type PartState } from './protocol.js';

/** Options of {@link GroupParticipant.loop}. */
export interface GroupLoopOptions {
  /** Run until this many steps have completed (default: forever, until a stop). */
  readonly until?: number;
  /** Restore this part's state from the group image before the first iteration (default true). */
  readonly restore?: boolean;
}

/** What {@link GroupParticipant.safepoint} reports. */
export interface GroupSafepointResult {
  /** True when the group is stopping: this part's state is captured; end the loop now. */
  readonly stop: boolean;
}

/**
 * One part of a checkpoint group, in its worker thread. Get it with
 * {@link joinGroup}; register providers (and classes), then run
 * {@link GroupParticipant.loop} — or call {@link GroupParticipant.restore}
 * and {@link GroupParticipant.safepoint} from a loop of your own and
 * {@link GroupParticipant.finish} at its end.
 */
export class GroupParticipant {
  /** This part's index in the group (the order of `addWorker()`, from 0). */
  readonly index: number;
  /** How many parts the group has. */
  readonly parts: number;
  readonly #control: Int32Array;
  readonly #port: MessagePort;
  readonly #registry = new Registry();
  readonly #classes = new ClassRegistry();
  readonly #encoder = new StateEncoder();
  readonly #image: ImageInfo | null;
  #pending: PartState | null;
  /** The last epoch this part answered. */
  #answered: number;
  #step: number | null = null;
  #restored = false;
  #capturing = false;
  #stopped = false;
  #finished = false;

  /** @internal Created by {@link joinGroup}. */
  constructor(init: InitMessage) {
    this.index = init.index;
    this.parts = init.parts;
    this.#control = new Int32Array(init.control);
    this.#port = init.port;
    // The port never keeps the thread alive: the part's own work does.
    this.#port.unref();
    this.#image = init.image;
    this.#pending = init.state;
    this.#answered = init.epoch;
  }

  /**
   * True when the coordinator asked for a group checkpoint this part has not
   * captured yet. One `Atomics.load`: cheap enough to test every iteration
   * (`if (ckpt.due) await ckpt.safepoint(step)`), and it changes without the
   * event loop turning.
   */
  get due(): boolean {
    return !this.#finished && !this.#stopped && Atomics.load(this.#control, CTRL_EPOCH) > this.#answered;
  }

  /**
   * The group epoch being captured (during a capture, e.g. in `snapshot()`),
   * else the last one this part answered (the restored one before its first).
   */
  get epoch(): number {
    return this.#answered;
  }

  /** True once a loop or a safepoint ended because the group is stopping. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** The step restored from the group image (null when starting fresh or before restore). */
  get restoredStep(): number | null {
    return this.#restored ? this.#step : null;
  }

  /**
   * Register a state provider, as on a Checkpointer (`id`, `snapshot`,
   * `restore`, `version`, `migrations`, `tree`, `aliases`, `prepare`,
   * `resume`; `committed` is not called in a group). Register every provider
   * before `loop()`/`restore()`: later ones fail with `CKPT_ERR_LATE_REGISTRATION`.
   */
  register<S>(provider: Provider<S>): void {
    this.#checkNotRestored('provider', typeof provider === 'object' && provider !== null ? String((provider as { id?: unknown }).id) : '?');
    this.#registry.addProvider(provider);
  }

  /** Register a class whose instances are part of state (as `Checkpointer.registerClass`). */
  registerClass(ctor: abstract new (...args: never[]) => unknown, name?: string): void {
    this.#checkNotRestored('class', name ?? (typeof ctor === 'function' ? ctor.name : '?'));
    this.#classes.register(ctor, name);
  }

  #checkNotRestored(what: string, id: string): void {
    if (!this.#restored) return;
    throw new CkptError(
      ErrorCodes.LATE_REGISTRATION,
      `part ${String(this.index)}: ${what} ${JSON.stringify(id)} was registered after restore()/loop(); register every provider and class before them`,
      what === 'provider' ? { provider: id } : {},
    );
  }

  get #env(): PartEnv {
    return { registry: this.#registry, classes: this.#classes, encoder: this.#encoder, index: this.index };
  }

  /**
   * Put this part's state from the group image back into its providers
   * (once; later calls return the same step). Resolves the restored step,
   * or null when the group started fresh. `loop()` calls it.
   */
  async restore(): Promise<number | null> {
    if (this.#restored) return this.#step;
    this.#restored = true;
    const state = this.#pending;
    this.#pending = null;
    if (state === null || this.#image === null) return null;
    await restorePart(this.#env, state, this.#image);
    this.#step = state.step;
    return this.#step;
  }

  /**
   * A safe point: when a group checkpoint is due, capture every provider and
   * send the state to the coordinator (the part carries on at once; the
   * coordinator commits the image when every part has answered). A capture
   * that fails is reported to the coordinator, which fails that group
   * checkpoint; this part carries on. Resolves `{ stop: true }` when the
   * capture was the group's stop checkpoint: end the loop then.
   *
   * @param step - completed iterations, recorded with the state and given back by restore
   */
  async safepoint(step?: number): Promise<GroupSafepointResult> {
    if (!this.due || this.#capturing) return { stop: this.#stopped };
    if (step !== undefined) this.#step = step;
    const epoch = Atomics.load(this.#control, CTRL_EPOCH);
    // Answered from here on, whatever the capture's outcome: a failed capture is that epoch's answer.
    this.#answered = epoch;
    this.#capturing = true;
    try {
      const state = await capturePart(this.#env, { step: this.#step, label: null }, this.#step);
      this.#post({ type: 'captured', epoch, state });
    } catch (err) {
      this.#post({ type: 'failed', epoch, error: toWire(err) });
    } finally {
      this.#capturing = false;
    }
    const stopAt = Atomics.load(this.#control, CTRL_STOP);
    if (stopAt !== 0 && stopAt <= epoch) this.#stopped = true;
    return { stop: this.#stopped };
  }

  /**
   * This part's work is done: capture its final state and send it to the
   * coordinator, which uses it for every later group checkpoint (a restart
   * restores it, and the part's loop ends at once). `loop()` calls it when
   * it reaches `until`. A part whose thread ends without finishing (and not
   * because of a stop) fails the group's run.
   */
  async finish(step?: number): Promise<void> {
    if (this.#finished) return;
    if (step !== undefined) this.#step = step;
    const state = await capturePart(this.#env, { step: this.#step, label: 'finished' }, this.#step);
    this.#finished = true;
    this.#post({ type: 'finished', state });
  }

  /**
   * Run a loop whose every iteration boundary is a safepoint: restores this
   * part first (unless `restore: false`) and continues from its step, answers
   * each group checkpoint between iterations, ends after the group's stop
   * checkpoint (`stopped` is then true) or at `until` (then `finish()`).
   * The iterations may be synchronous: requests are seen without the event
   * loop turning.
   *
   * ```ts
   * for await (const step of ckpt.loop({ until: 10_000 })) simulate(step);
   * ```
   */
  async *loop(options: GroupLoopOptions = {}): AsyncGenerator<number, void, undefined> {
    const until = options.until ?? Infinity;
    if (typeof until !== 'number' || Number.isNaN(until) || until < 0) {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `loop({ until }) must be a non-negative number of steps, got ${String(until)}`);
    }
    let step = (options.restore === false ? null : await this.restore()) ?? this.#step ?? 0;
    while (step < until) {
      if (this.due && (await this.safepoint(step)).stop) return;
      yield step;
      step++;
      this.#step = step;
    }
    await this.finish(step);
  }

  #post(msg: PartMessage): void {
    if (msg.type === 'failed') {
      this.#port.postMessage(msg);
      return;
    }
    const { state, transfer } = ownBuffers(msg.state);
    this.#port.postMessage({ ...msg, state }, transfer);
  }
}

function isInit(value: unknown): value is InitMessage {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)[GROUP_TAG] === 'init';
}

/**
 * Join the checkpoint group this worker thread was added to (with
 * `CheckpointGroup.addWorker()` in the main thread). Resolves once the
 * group runs (`group.run()`), with this part's restored state waiting for
 * its providers: register them, then `loop()`.
 *
 * The coordinator's one message arrives on `parentPort`: call `joinGroup()`
 * before adding `message` listeners of your own to `parentPort`.
 *
 * ```ts
 * const ckpt = await joinGroup();
 * ckpt.register({ id: 'cells', snapshot: () => cells, restore: (s) => { cells = s; } });
 * for await (const step of ckpt.loop({ until: 10_000 })) update(cells, step);
 * ```
 *
 * @throws CkptError INVALID_ARGUMENT when not called in a worker thread
 */
export function joinGroup(): Promise<GroupParticipant> {
  const port = parentPort;
  if (isMainThread || port === null) {
    return Promise.reject(
      new CkptError(ErrorCodes.INVALID_ARGUMENT, 'joinGroup() runs in a worker thread added to a CheckpointGroup with group.addWorker(worker); in the main thread, use CheckpointGroup'),
    );
  }
  return new Promise((resolve) => {
    const onMessage = (value: unknown): void => {
      if (!isInit(value)) return;
      port.off('message', onMessage);
      resolve(new GroupParticipant(value));
    };
    port.on('message', onMessage);
  });
}
