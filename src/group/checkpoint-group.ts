/**
 * @module group/checkpoint-group
 *
 * {@link CheckpointGroup}: the coordinator of a program split across worker
 * threads and child processes. It owns an ordinary Checkpointer over the store with one provider
 * per part (`part-0`, `part-1`, …) and takes group checkpoints as aligned
 * barriers: it raises the requested epoch in the shared control block (and,
 * for child processes, in a control file and an IPC message), every part
 * captures at its next safepoint and sends its encoded state, and only
 * when every part has answered does the Checkpointer write one image holding
 * all of them (a part that fails, dies or misses the deadline fails that
 * epoch; the previous image stays the latest). Restore reads the newest
 * group image and hands each part its state when it joins. The protocol is
 * drawn in docs/groups.md.
 */
import { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { Checkpointer } from '../checkpointer.js';
import { CkptError, ErrorCodes, isCkptError } from '../errors.js';
import type { CheckpointInfo, ImageInfo } from '../info.js';
import { SignalHandlers, signalSettings, type SignalOptions } from '../lifecycle/signals.js';
import type { CheckpointerOptions } from '../options.js';
import { Barrier } from './barrier.js';
import { ChannelRouter } from './channel-router.js';
import { placeRanges, reshardStates } from './reshard.js';
import { ArrayReceiver, ControlFile, flatten, isSkeleton, sendWithArrays, unflatten, type IpcSend } from './ipc.js';
import {
  checkPartState,
  CTRL_EPOCH,
  CTRL_STOP,
  CTRL_WORDS,
  GROUP_TAG,
  isIpcMessage,
  META_EPOCH,
  META_PARTS,
  ownBuffers,
  type RecycleMessage,
  partProviderId,
  type ChildInitMessage,
  type InitMessage,
  type ChannelMessageBytes,
  type PartMessage,
  type PartState,
  type SendMessage,
} from './protocol.js';

/** Default of {@link CheckpointGroupOptions.deadlineMs}. */
const DEFAULT_DEADLINE_MS = 60_000;

/** Options of a {@link CheckpointGroup}. */
export interface CheckpointGroupOptions extends Pick<CheckpointerOptions, 'store' | 'app' | 'retention' | 'compression' | 'lockWaitMs' | 'limits' | 'encryption'> {
  /** Take a group checkpoint every this many seconds of wall time (default: only on a stop, a signal, `checkpoint()` and at the end). */
  readonly every?: {
    /** Seconds of wall time between group checkpoints (a positive number). */
    readonly seconds: number;
  };
  /**
   * Longest a group checkpoint waits for every part's capture, in ms (default
   * 60 000). Past it the epoch fails with `CKPT_ERR_DEADLINE` naming the
   * parts that did not answer; the previous group image stays the latest.
   */
  readonly deadlineMs?: number;
  /**
   * Signal handling while `run()` runs: stop signals (default SIGTERM,
   * SIGINT) take one group checkpoint and stop every part; checkpoint
   * signals (default SIGUSR2) take one and carry on. `false`: none.
   */
  readonly signals?: SignalOptions | false;
  /** Take a last group checkpoint when every part has finished (default true), so a restart does not redo work. */
  readonly checkpointAtEnd?: boolean;
}

/** A committed group checkpoint. */
export interface GroupCheckpointInfo {
  /** The group epoch it holds (every part captured at this epoch). */
  readonly epoch: number;
  /** The image, as the Checkpointer reports it (`meta` holds `ckpt.group.parts` and `ckpt.group.epoch`). */
  readonly image: CheckpointInfo;
}

/** How {@link CheckpointGroup.run} ended. */
export interface GroupRunResult {
  /** True when the run ended because of a stop (a signal or `requestStop()`); false when every part finished. */
  readonly stopped: boolean;
  /** Why it stopped: the signal name or the `requestStop(reason)`. */
  readonly reason?: string;
  /**
   * The exit code to end the process with after a stop: `signals.exitCode`
   * when set, else for a signal 128 + its number (143 for SIGTERM).
   */
  readonly exitCode?: number;
  /** The group image restored from at the start, or null for a fresh start. */
  readonly restoredFrom: ImageInfo | null;
  /** The last group checkpoint committed by this run, if any. */
  readonly last: GroupCheckpointInfo | null;
}

/** Events of a {@link CheckpointGroup}. */
export interface CheckpointGroupEvents {
  /** A group checkpoint was committed. */
  checkpoint: GroupCheckpointInfo;
  /**
   * A group checkpoint taken by the `every` timer or a checkpoint signal
   * failed (the previous image stays the latest; the run goes on). Without a
   * listener it is printed with `process.emitWarning`.
   */
  checkpointFailed: CkptError;
}

/** A part: its worker or child process and what the coordinator knows of it. */
interface Part {
  readonly index: number;
  /** The worker thread, for a part added with addWorker(). */
  readonly worker: Worker | undefined;
  /** The child process, for a part added with addChild(). */
  readonly child: ChildProcess | undefined;
  /** 'worker thread 3' or 'child process 1234', for messages. */
  readonly label: string;
  port: MessagePort | undefined;
  /** A child asked to join; `binary` says whether its channel carries bytes. */
  join: { readonly binary: boolean } | undefined;
  /** A child's restored state, kept until it joins; `undefined` before run() restored. */
  restored: PartState | null | undefined;
  /** A child's state being received in chunks. */
  readonly receiver: ArrayReceiver;
  exitSignal: NodeJS.Signals | null;
  /** Called once the part has ended (a child: reaped and its IPC channel closed). */
  readonly onEnded: (() => void)[];
  /** The final state, once the part finished. */
  finished: PartState | undefined;
  /** It captured the stop epoch (its loop ended). */
  stopped: boolean;
  exited: boolean;
  exitCode: number | undefined;
  /** An uncaught error of the worker, if any. */
  error: Error | undefined;
}

/** A promise with its settle functions; its rejection is observed (a caller may never wait on it). */
function deferred(): { readonly promise: Promise<void>; resolve(): void; reject(err: Error): void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

function invalid(message: string): CkptError {
  return new CkptError(ErrorCodes.INVALID_ARGUMENT, message);
}

function checkOptions(options: CheckpointGroupOptions): void {
  if (typeof options !== 'object' || options === null) throw invalid('new CheckpointGroup() needs options { store, every?, deadlineMs?, … }');
  const every = options.every;
  if (every !== undefined) {
    if (typeof every !== 'object' || every === null) throw invalid('every must be { seconds }');
    if (typeof every.seconds !== 'number' || !Number.isFinite(every.seconds) || every.seconds <= 0) {
      throw invalid(`every.seconds must be a positive number, got ${String(every.seconds)}; a group checkpoints by time only (steps are each part's own)`);
    }
  }
  const d = options.deadlineMs;
  if (d !== undefined && (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1)) throw invalid(`deadlineMs must be a positive integer, got ${String(d)}`);
  if (options.checkpointAtEnd !== undefined && typeof options.checkpointAtEnd !== 'boolean') throw invalid('checkpointAtEnd must be a boolean');
}

/**
 * The coordinator of a checkpoint group: one program split across worker
 * threads and child processes, checkpointed as one consistent image. Add
 * every worker (`addWorker`) and child (`addChild`), then `run()`; each part
 * calls `joinGroup()` (see {@link joinGroup}).
 *
 * ```ts
 * const group = new CheckpointGroup({ store: './checkpoints', every: { seconds: 30 } });
 * for (let i = 0; i < 4; i++) group.addWorker(new Worker(new URL('./part.js', import.meta.url)));
 * const result = await group.run();   // restores every part, runs until all finish or a stop
 * if (result.stopped) process.exitCode = result.exitCode ?? 0;
 * ```
 *
 * An image restores into the same number of parts, or into another number
 * when every part provider is sharded (`shard: { kind: 'range' | 'keyed' }`)
 * and the parts were at one step (`CKPT_ERR_GROUP_MISMATCH` otherwise). Parts
 * exchange messages through their channels (`ckpt.channel()`), which the
 * coordinator routes and records so each message is delivered exactly once
 * across checkpoints and restores; other channels between parts are not in
 * the image and must be quiet at safepoints.
 */
export class CheckpointGroup {
  readonly #options: CheckpointGroupOptions;
  readonly #deadlineMs: number;
  readonly #parts: Part[] = [];
  readonly #events = new EventEmitter();
  #state: 'idle' | 'running' | 'ended' = 'idle';
  /** The Checkpointer that writes and restores the group images. */
  readonly #ckpt: Checkpointer;
  #control: Int32Array | undefined;
  /** The control file the child parts' watchers read (only when there are child parts). */
  #controlFile: ControlFile | undefined;
  #stopSignals: readonly NodeJS.Signals[] = [];
  #epoch = 0;
  #restoredEpoch = 0;
  #barrier: Barrier | undefined;
  /** Forwards the parts' channel messages and records those in flight at each cut. */
  #router: ChannelRouter | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #queued = 0;
  /** What provider `part-<i>` returns while the Checkpointer writes an epoch. */
  readonly #captures: (PartState | undefined)[] = [];
  #stopReason: string | undefined;
  #stopSignal: NodeJS.Signals | undefined;
  #ending = false;
  #completion: GroupRunResult | undefined;
  #restoredFrom: ImageInfo | null = null;
  #last: GroupCheckpointInfo | null = null;
  #end: { resolve: (r: GroupRunResult) => void; reject: (e: Error) => void } | undefined;
  /** Settles once run() has restored and started every part (or failed to). */
  readonly #startup = deferred();

  /** @param options - see {@link CheckpointGroupOptions} */
  constructor(options: CheckpointGroupOptions) {
    checkOptions(options);
    signalSettings(options.signals);
    this.#options = options;
    this.#deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    // Made now so its options are checked now; it takes the store's writer lock only when run() restores.
    const o = options;
    this.#ckpt = new Checkpointer({
      store: o.store,
      signals: false,
      persist: 'sync',
      ...(o.app === undefined ? {} : { app: o.app }),
      ...(o.retention === undefined ? {} : { retention: o.retention }),
      ...(o.compression === undefined ? {} : { compression: o.compression }),
      ...(o.lockWaitMs === undefined ? {} : { lockWaitMs: o.lockWaitMs }),
      ...(o.limits === undefined ? {} : { limits: o.limits }),
      ...(o.encryption === undefined ? {} : { encryption: o.encryption }),
    });
  }

  /** How many parts (workers and child processes) the group has. */
  get parts(): number {
    return this.#parts.length;
  }

  /**
   * The group image `run()` restored from: null before it has restored and
   * when it started fresh. Set before any part receives its state.
   */
  get restoredFrom(): ImageInfo | null {
    return this.#restoredFrom;
  }

  /** True once a stop was requested (by a signal or `requestStop()`). */
  get stopping(): boolean {
    return this.#stopReason !== undefined;
  }

  /** Listen to an event. */
  on<E extends keyof CheckpointGroupEvents>(event: E, listener: (payload: CheckpointGroupEvents[E]) => void): this {
    this.#events.on(event, listener);
    return this;
  }

  /** Stop listening. */
  off<E extends keyof CheckpointGroupEvents>(event: E, listener: (payload: CheckpointGroupEvents[E]) => void): this {
    this.#events.off(event, listener);
    return this;
  }

  /**
   * Add a worker thread as the next part (index = number of parts added
   * before it). Add every worker before `run()`; the worker calls
   * `joinGroup()`. Returns the part's index.
   */
  addWorker(worker: Worker): number {
    if (!(worker instanceof Worker)) throw invalid('addWorker() takes a worker_threads Worker');
    if (this.#state !== 'idle') throw invalid('addWorker() must be called before run()');
    if (this.#parts.some((p) => p.worker === worker)) throw invalid('this Worker was already added to the group');
    const part = this.#newPart({ worker, label: `worker thread ${String(worker.threadId)}` });
    // Listen at once: an uncaught error in a worker nobody listens to would end the process.
    worker.on('error', (err: Error) => (part.error ??= err));
    worker.on('exit', (code: number) => this.#onExit(part, code, null));
    return part.index;
  }

  /**
   * Add a child process as the next part (index = number of parts added
   * before it). It must have an IPC channel with binary serialization —
   * `fork(file, { serialization: 'advanced' })` — and call `joinGroup()`.
   * Add every child before `run()`. Returns the part's index.
   *
   * A child sees a group checkpoint request through a watcher thread that
   * joinGroup() starts in it (see docs/groups.md), and sends its captured
   * state over IPC in chunks; the coordinator writes one image. Its stop
   * signals (SIGTERM, SIGINT) make it ask the coordinator for a group stop.
   * On every error path `run()` kills (SIGKILL) and reaps the children.
   */
  addChild(child: ChildProcess): number {
    if (!(child instanceof ChildProcess)) throw invalid('addChild() takes a ChildProcess made by child_process.fork()');
    if (this.#state !== 'idle') throw invalid('addChild() must be called before run()');
    if (this.#parts.some((p) => p.child === child)) throw invalid('this child process was already added to the group');
    if (child.exitCode !== null || child.signalCode !== null) throw invalid(`child process ${String(child.pid)} has already exited: add a child that runs (and calls joinGroup())`);
    if (typeof child.send !== 'function' || !child.connected) {
      throw invalid(`child process ${String(child.pid)} has no IPC channel: start it with fork(file, { serialization: 'advanced' })`);
    }
    const part = this.#newPart({ child, label: `child process ${String(child.pid)}` });
    child.on('error', (err: Error) => (part.error ??= err));
    child.on('message', (m: unknown) => this.#onChildMessage(part, m));
    // Ended once it was reaped ('exit') and every message it sent was read (its IPC channel closed): not 'close',
    // which also waits for stdio pipes the program may never read.
    child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      const ended = (): void => this.#onExit(part, code ?? 1, signal);
      if (child.connected) child.once('disconnect', ended);
      else ended();
    });
    return part.index;
  }

  #newPart(p: { worker?: Worker; child?: ChildProcess; label: string }): Part {
    const part: Part = {
      index: this.#parts.length,
      worker: p.worker,
      child: p.child,
      label: p.label,
      port: undefined,
      join: undefined,
      restored: undefined,
      receiver: new ArrayReceiver(),
      exitSignal: null,
      onEnded: [],
      finished: undefined,
      stopped: false,
      exited: false,
      exitCode: undefined,
      error: undefined,
    };
    this.#parts.push(part);
    return part;
  }

  /**
   * Restore every part from the newest group image (each part receives its
   * state when it calls `joinGroup()`), then run: group checkpoints by the
   * `every` timer, signals and `checkpoint()`, until every part has finished
   * (then one last group checkpoint) or a stop (one group checkpoint, then
   * every part's loop ends). Resolves once that image is committed and every
   * worker and child process has exited.
   *
   * Rejects with `CKPT_ERR_GROUP_MISMATCH` when the image holds another
   * number of parts and cannot be resharded into this one; with `CKPT_ERR_PART_FAILED` when a part dies or exits
   * without finishing outside a stop (the remaining workers are terminated
   * and the children killed and reaped; the last group image is intact and
   * a restart resumes from it); with `CKPT_ERR_INVALID_ARGUMENT` when a child
   * joins over a JSON IPC channel; with the stop checkpoint's error when
   * that fails.
   */
  async run(): Promise<GroupRunResult> {
    if (this.#state !== 'idle') throw invalid('run() can be called once per CheckpointGroup');
    if (this.#parts.length === 0) throw invalid('run() needs at least one part: call addWorker() or addChild() first');
    this.#state = 'running';
    const n = this.#parts.length;
    const o = this.#options;
    const ckpt = this.#ckpt;
    const restored: (PartState | null)[] = this.#parts.map(() => null);
    for (let i = 0; i < n; i++) {
      ckpt.register<PartState | undefined>({
        id: partProviderId(i),
        tree: true,
        snapshot: () => this.#captures[i],
        restore: (s) => {
          restored[i] = checkPartState(s, i, n);
        },
      });
    }
    // The group's own handles: each thread part's private port and the worker's port its owner may listen on;
    // each child's process handle, IPC pipe and stdio pipes.
    ckpt.registerResource({ id: 'ckpt-group', owns: () => this.#ownHandles() });
    const ended = new Promise<GroupRunResult>((resolve, reject) => (this.#end = { resolve, reject }));
    let signals: SignalHandlers | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await this.#restore(ckpt);
      if (result?.states !== undefined) result.states.forEach((st, i) => (restored[i] = st));
      else if (restored.every((st) => st !== null)) placeRanges(restored).forEach((st, i) => (restored[i] = st));
      this.#restoredFrom = result?.image ?? null;
      const epoch = result?.image.meta[META_EPOCH];
      this.#epoch = typeof epoch === 'number' && Number.isSafeInteger(epoch) && epoch > 0 ? epoch : 0;
      this.#restoredEpoch = this.#epoch;
      this.#router = new ChannelRouter(n, this.#epoch, (to, msg) => this.#deliver(to, msg));
      this.#router.restore(restored, this.#restoredFrom?.id ?? '');
      const control = new SharedArrayBuffer(CTRL_WORDS * 4);
      this.#control = new Int32Array(control);
      Atomics.store(this.#control, CTRL_EPOCH, this.#epoch);
      const settings = signalSettings(o.signals);
      this.#stopSignals = settings?.stop ?? [];
      if (this.#parts.some((p) => p.child !== undefined)) {
        this.#controlFile = new ControlFile();
        this.#writeControl();
      }
      for (const part of this.#parts) {
        if (part.worker !== undefined) this.#start(part, control, restored[part.index] ?? null);
        else this.#startChild(part, restored[part.index] ?? null);
      }
      restored.fill(null);
      if (settings !== undefined) {
        const isStopping = (): boolean => this.stopping;
        signals = new SignalHandlers(settings, {
          onStop: (sig) => this.#requestStop(sig, sig),
          onCheckpointSignal: () => this.#background(),
          get stopping() {
            return isStopping();
          },
        });
      }
      if (o.every !== undefined) {
        timer = setInterval(() => this.#background(), o.every.seconds * 1000);
        timer.unref();
      }
      this.#startup.resolve();
      for (const part of this.#parts) if (part.exited) this.#onExit(part, part.exitCode ?? 1, part.exitSignal);
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
    }
    try {
      return await ended;
    } finally {
      clearInterval(timer);
      signals?.dispose();
      this.#state = 'ended';
      await this.#queue.catch(() => undefined);
      for (const part of this.#parts) {
        part.port?.close();
        part.restored = undefined;
      }
      this.#controlFile?.remove();
      await ckpt.close();
    }
  }

  /** The handles the group itself holds open, by kind. */
  #ownHandles(): Record<string, number> {
    let ports = 0;
    let processes = 0;
    let pipes = 0;
    for (const p of this.#parts) {
      if (p.exited) continue;
      if (p.worker !== undefined) ports += 2;
      if (p.child !== undefined) {
        processes++;
        pipes += (p.child.connected ? 1 : 0) + p.child.stdio.filter((s: { destroyed: boolean } | null | undefined) => s !== null && s !== undefined && !s.destroyed).length;
      }
    }
    return { MessagePort: ports, ProcessWrap: processes, PipeWrap: pipes };
  }

  /** Write the control words to the control file, which every child's watcher thread reads. */
  #writeControl(): void {
    const c = this.#control;
    if (this.#controlFile === undefined || c === undefined) return;
    this.#controlFile.write(Atomics.load(c, CTRL_EPOCH), Atomics.load(c, CTRL_STOP));
  }

  /** A child's restored state is ready: send its init once it asked to join. */
  #startChild(part: Part, state: PartState | null): void {
    part.restored = state;
    if (part.join !== undefined) this.#sendChildInit(part);
  }

  #sendChildInit(part: Part): void {
    const child = part.child!;
    const state = part.restored;
    if (state === undefined || this.#controlFile === undefined || this.#control === undefined) return;
    part.restored = undefined;
    if (!part.join!.binary) {
      const message = `part ${String(part.index)} (${part.label}): its IPC channel does not carry binary data — start the child with fork(file, { serialization: 'advanced' })`;
      child.send({ [GROUP_TAG]: 'refused', message }, () => undefined);
      this.#fail(invalid(message));
      return;
    }
    const flat = state === null ? null : flatten(state);
    const init: ChildInitMessage = {
      [GROUP_TAG]: 'init',
      index: part.index,
      parts: this.#parts.length,
      control: this.#controlFile.path,
      request: { epoch: Atomics.load(this.#control, CTRL_EPOCH), stop: Atomics.load(this.#control, CTRL_STOP) },
      epoch: this.#restoredEpoch,
      image: this.#restoredFrom,
      stopSignals: this.#stopSignals,
      state: flat?.skeleton ?? null,
    };
    // A failed send means the child is gone: its exit ends the run.
    sendWithArrays(child.send.bind(child) as IpcSend, init, flat?.arrays ?? []).then(
      () => this.#router?.ready(part.index),
      () => undefined,
    );
  }

  /** Post a channel message to part `to` (a part that exited gets nothing: its run is over). */
  #deliver(to: number, msg: ChannelMessageBytes): void {
    const part = this.#parts[to]!;
    if (part.exited) return;
    if (part.port !== undefined) part.port.postMessage(msg);
    else if (part.child?.connected === true) part.child.send({ [GROUP_TAG]: 'deliver', ...msg }, () => undefined);
  }

  /** A message on a child's IPC channel: the group's, or the program's own (ignored). */
  #onChildMessage(part: Part, value: unknown): void {
    if (!isIpcMessage(value) || this.#state === 'ended') return;
    const m = value as unknown as Record<string, unknown>;
    switch (m[GROUP_TAG]) {
      case 'join':
        if (part.join !== undefined) return;
        part.join = { binary: m['probe'] instanceof Uint8Array };
        if (this.#state === 'running') this.#sendChildInit(part);
        return;
      case 'stop':
        this.#requestStop(`${String(m['signal'])} in part ${String(part.index)}`, typeof m['signal'] === 'string' ? (m['signal'] as NodeJS.Signals) : undefined);
        return;
      case 'chunk':
        if (!part.receiver.chunk(m['bytes'])) this.#protocolError(part, 'a chunk of state nobody asked for');
        return;
      case 'send': {
        const { to, seq, bytes } = m;
        if (typeof to !== 'number' || typeof seq !== 'number' || !(bytes instanceof Uint8Array)) return this.#protocolError(part, 'a malformed channel message');
        return this.#onMessage(part, { type: 'send', to, seq, bytes });
      }
      case 'part': {
        const msg = m['msg'] as { type?: unknown; state?: unknown; epoch?: unknown; error?: unknown } | null;
        if (msg === null || typeof msg !== 'object') return this.#protocolError(part, 'a part message without content');
        if (msg.type !== 'finished' && typeof msg.epoch !== 'number') return this.#protocolError(part, 'a part message without an epoch');
        if (msg.type === 'failed') {
          const e = msg.error as Partial<Record<string, unknown>> | null;
          if (e === null || typeof e !== 'object' || typeof e['message'] !== 'string') return this.#protocolError(part, 'a failure without an error');
          const code = typeof e['code'] === 'string' ? e['code'] : null;
          const provider = typeof e['provider'] === 'string' ? e['provider'] : null;
          return this.#onMessage(part, { type: 'failed', epoch: msg.epoch as number, error: { code, message: e['message'], provider } });
        }
        if ((msg.type !== 'captured' && msg.type !== 'finished') || !isSkeleton(msg.state)) return this.#protocolError(part, 'a malformed part message');
        if (part.receiver.busy) return this.#protocolError(part, 'a new state before the last one was complete');
        const skeleton = msg.state;
        part.receiver.expect(skeleton.sizes, (arrays) => this.#onMessage(part, { ...msg, state: unflatten(skeleton, arrays) } as PartMessage));
        return;
      }
    }
  }

  #protocolError(part: Part, what: string): void {
    const err = new CkptError(ErrorCodes.PART_FAILED, `part ${String(part.index)} (${part.label}) broke the group protocol: it sent ${what}; is it running the same version of ckpt as the coordinator?`);
    this.#barrier?.fail(err);
    this.#fail(err);
  }

  /**
   * Restore the newest group image. An image of another number of parts is
   * read again with as many part providers and resharded (`states`: what
   * each part receives); one that cannot be is `CKPT_ERR_GROUP_MISMATCH`.
   */
  async #restore(ckpt: Checkpointer): Promise<{ readonly image: ImageInfo; readonly states?: PartState[] } | undefined> {
    try {
      return await ckpt.restore();
    } catch (err) {
      if (!isCkptError(err, ErrorCodes.UNKNOWN_PROVIDER) && !isCkptError(err, ErrorCodes.MISSING_PROVIDER)) throw err;
      const images = await ckpt.list().catch(() => []);
      const image = images.find((i) => i.id === err.image) ?? images[0];
      const parts = image?.meta[META_PARTS];
      const n = this.#parts.length;
      if (image !== undefined && typeof parts === 'number' && Number.isSafeInteger(parts) && parts > 0 && parts !== n) return this.#reshard(image, parts);
      const holds = typeof parts === 'number' ? `holds ${String(parts)} part${parts === 1 ? '' : 's'}` : `is not an image of a group of ${String(n)} parts`;
      throw new CkptError(
        ErrorCodes.GROUP_MISMATCH,
        `group image ${image?.id ?? err.image ?? '?'} ${holds}, but this group has ${String(n)} part${n === 1 ? '' : 's'}: add ${typeof parts === 'number' ? String(parts) : 'as many'} workers or child processes, or start fresh in another store`,
        { cause: err, ...(image === undefined ? {} : { image: image.id }) },
      );
    }
  }

  /** Read group image `image` of `from` parts and split its parts' shards among this group's parts. */
  async #reshard(image: ImageInfo, from: number): Promise<{ readonly image: ImageInfo; readonly states: PartState[] }> {
    const o = this.#options;
    const reader = new Checkpointer({
      store: o.store,
      readOnly: true,
      signals: false,
      ...(o.app === undefined ? {} : { app: o.app }),
      ...(o.limits === undefined ? {} : { limits: o.limits }),
      ...(o.encryption === undefined ? {} : { encryption: o.encryption }),
    });
    try {
      const saved: (PartState | null)[] = Array.from({ length: from }, () => null);
      for (let i = 0; i < from; i++) reader.register<PartState>({ id: partProviderId(i), tree: true, snapshot: () => saved[i]!, restore: (s) => void (saved[i] = checkPartState(s, i, from)) });
      // Read by id: the image the restore above planned, which cannot be another one now.
      const result = await reader.restore(image.id);
      const states: PartState[] = [];
      for (const st of saved) {
        if (st === null) throw new CkptError(ErrorCodes.CORRUPT, `group image ${image.id} holds no state for part ${String(states.length)}; move it out of the store`, { image: image.id });
        states.push(st);
      }
      return { image: result?.image ?? image, states: reshardStates(states, this.#parts.length, image.id) };
    } finally {
      await reader.close();
    }
  }

  /** Send part `part` its init message: index, control block, private port, restored state. */
  #start(part: Part, control: SharedArrayBuffer, state: PartState | null): void {
    const { port1, port2 } = new MessageChannel();
    part.port = port1;
    port1.on('message', (m: PartMessage | SendMessage) => this.#onMessage(part, m));
    const own = state === null ? { state: null, transfer: [] } : ownBuffers(state);
    const init: InitMessage = {
      [GROUP_TAG]: 'init',
      index: part.index,
      parts: this.#parts.length,
      control,
      port: port2,
      epoch: this.#epoch,
      image: this.#restoredFrom,
      state: own.state,
    };
    part.worker!.postMessage(init, [port2, ...own.transfer]);
    this.#router?.ready(part.index);
  }

  #onMessage(part: Part, msg: PartMessage | SendMessage): void {
    if (this.#state !== 'running') return;
    const b = this.#barrier;
    const stopAt = this.#control === undefined ? 0 : Atomics.load(this.#control, CTRL_STOP);
    try {
      switch (msg.type) {
        case 'send':
          this.#router?.send(part.index, msg.to, msg.seq, msg.bytes);
          return;
        case 'captured':
          this.#router?.answered(part.index, msg.epoch, msg.state.channels);
          break;
        case 'failed':
          this.#router?.answered(part.index, msg.epoch, undefined);
          break;
        case 'finished':
          this.#router?.finished(part.index, msg.state.channels);
          break;
      }
    } catch (err) {
      const e = err as CkptError;
      this.#barrier?.fail(e);
      this.#fail(e);
      return;
    }
    switch (msg.type) {
      case 'captured':
        if (stopAt !== 0 && msg.epoch >= stopAt) part.stopped = true;
        if (b?.epoch === msg.epoch) b.answer(part.index, msg.state);
        break;
      case 'failed':
        if (stopAt !== 0 && msg.epoch >= stopAt) part.stopped = true;
        if (b?.epoch === msg.epoch) {
          b.fail(
            new CkptError(ErrorCodes.SNAPSHOT_FAILED, `group checkpoint ${String(msg.epoch)}: part ${String(part.index)} could not capture: ${msg.error.message}; the previous group image is intact`, {
              ...(msg.error.provider === null ? {} : { provider: msg.error.provider }),
            }),
          );
        }
        break;
      case 'finished':
        part.finished = msg.state;
        b?.answer(part.index, msg.state);
        if (this.#parts.every((p) => p.finished !== undefined)) this.#allFinished();
        break;
    }
  }

  #onExit(part: Part, code: number, signal: NodeJS.Signals | null): void {
    part.exitCode = code;
    part.exitSignal = signal;
    part.exited = true;
    for (const f of part.onEnded.splice(0)) f();
    if (this.#state !== 'running') return; // before run(): judged when it starts; after it: nothing to decide
    // Messages the part posted before it ended may not have been read yet: read them first.
    const port = part.port;
    for (let m = port === undefined ? undefined : receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port!)) {
      this.#onMessage(part, m.message as PartMessage | SendMessage);
    }
    if (part.finished !== undefined || part.stopped) {
      this.#checkEnd();
      return;
    }
    const why =
      part.error !== undefined && part.worker !== undefined
        ? `threw: ${part.error.message}`
        : signal !== null
          ? `was killed by ${signal} before finishing`
          : code === 0
            ? `ended its ${part.worker === undefined ? 'process' : 'thread'} without finishing (call finish() at the end of a loop of your own, or end its loop({ until }))`
            : `exited with code ${String(code)} before finishing`;
    const err = new CkptError(
      ErrorCodes.PART_FAILED,
      `part ${String(part.index)} (${part.label}) ${why}; the other parts were stopped and the last group image is intact — fix the part and restart the program to resume from it`,
      part.error === undefined ? {} : { cause: part.error },
    );
    this.#barrier?.fail(err);
    this.#fail(err);
  }

  /** Every part finished: the last group checkpoint, then the end once every part exited. */
  #allFinished(): void {
    if (this.#ending) return;
    this.#ending = true;
    const done = (last: GroupCheckpointInfo | null): void => {
      this.#completion ??= { stopped: false, restoredFrom: this.#restoredFrom, last: last ?? this.#last };
      this.#checkEnd();
    };
    if (this.#options.checkpointAtEnd === false) {
      done(null);
      return;
    }
    this.#enqueue(() => this.#groupCheckpoint('end')).then(done, (err: unknown) => this.#fail(err as Error));
  }

  #requestStop(reason: string, signal: NodeJS.Signals | undefined): void {
    if (this.#stopReason !== undefined || this.#state !== 'running' || this.#ending) return;
    this.#stopReason = reason;
    this.#stopSignal = signal;
    this.#ending = true;
    // A stop may come while run() still restores: the epoch is requested once every part has started.
    this.#enqueue(() => this.#startup.promise.then(() => this.#groupCheckpoint('stop'))).then(
      (info) => {
        this.#completion ??= { stopped: true, reason, ...this.#exitCode(), restoredFrom: this.#restoredFrom, last: info };
        this.#checkEnd();
      },
      (err: unknown) => this.#fail(err as Error),
    );
  }

  #exitCode(): { exitCode?: number } {
    const configured = this.#options.signals === false ? undefined : this.#options.signals?.exitCode;
    if (configured !== undefined) return { exitCode: configured };
    const sig = this.#stopSignal;
    const n = sig === undefined ? undefined : (osConstants.signals as Readonly<Record<string, number>>)[sig];
    return n === undefined ? {} : { exitCode: 128 + n };
  }

  /**
   * Ask every part to stop: one group checkpoint (each part ends its loop
   * after capturing it), then `run()` resolves with `stopped: true`. What a
   * stop signal does.
   */
  requestStop(reason = 'requested'): void {
    this.#requestStop(String(reason).slice(0, 200), undefined);
  }

  /**
   * Take a group checkpoint now (while `run()` runs): resolves once every
   * part captured the new epoch and the image is committed. Rejects with
   * `CKPT_ERR_SNAPSHOT_FAILED` (a part's hook threw or its state could not
   * be encoded), `CKPT_ERR_DEADLINE` (a part did not answer within
   * `deadlineMs`) or `CKPT_ERR_PART_FAILED` (a part died); the previous group
   * image stays the latest.
   */
  checkpoint(): Promise<GroupCheckpointInfo> {
    if (this.#state !== 'running') {
      return Promise.reject(new CkptError(ErrorCodes.INVALID_ARGUMENT, 'checkpoint() is taken while run() runs; call run() first'));
    }
    return this.#startup.promise.then(() => this.#enqueue(() => this.#groupCheckpoint()));
  }

  /** A checkpoint of the timer or a checkpoint signal: skipped while another is queued; a failure is an event. */
  #background(): void {
    if (this.#queued > 0 || this.#ending || this.#state !== 'running' || this.#control === undefined) return;
    this.#enqueue(() => this.#groupCheckpoint()).catch((err: unknown) => {
      if (this.#state !== 'running') return;
      const e = isCkptError(err) ? err : new CkptError(ErrorCodes.SNAPSHOT_FAILED, String(err), { cause: err });
      if (this.#events.listenerCount('checkpointFailed') > 0) this.#events.emit('checkpointFailed', e);
      else process.emitWarning(`ckpt group checkpoint failed: ${e.message}`, { code: e.code });
    });
  }

  /** Run group checkpoints one at a time, in call order. */
  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    this.#queued++;
    const run = this.#queue.then(fn, fn).finally(() => this.#queued--);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** One group epoch: request it, wait for every part's capture, write one image. */
  async #groupCheckpoint(kind: 'stop' | 'end' | 'other' = 'other'): Promise<GroupCheckpointInfo> {
    const control = this.#control!;
    const ckpt = this.#ckpt;
    if (this.#state !== 'running' || (kind === 'other' && this.#ending)) {
      throw new CkptError(ErrorCodes.CLOSED, 'the group is stopping or its parts have finished: no more group checkpoints are taken');
    }
    const stop = kind === 'stop';
    const epoch = ++this.#epoch;
    const barrier = new Barrier(
      epoch,
      this.#parts.filter((p) => p.finished === undefined).map((p) => p.index),
      this.#deadlineMs,
    );
    this.#barrier = barrier;
    // STOP before EPOCH: a part that sees the epoch sees the stop with it.
    if (stop) Atomics.store(control, CTRL_STOP, epoch);
    Atomics.store(control, CTRL_EPOCH, epoch);
    this.#writeControl();
    let captures;
    try {
      captures = await barrier.done;
    } catch (err) {
      // No cut at this epoch: the messages held for it flow again (a part that waits mid-iteration
      // for one of them would otherwise wait for ever).
      this.#router?.release(epoch);
      throw err;
    } finally {
      this.#barrier = undefined;
    }
    let steps: number | null = Infinity;
    const states = this.#parts.map((p) => captures.get(p.index) ?? p.finished!);
    for (const s of states) steps = s.step === null || steps === null ? null : Math.min(steps, s.step);
    // Each receiver's inbox gets what was in flight to it at this cut.
    this.#router!.cut(states).forEach((s, i) => (this.#captures[i] = s));
    try {
      const image = await ckpt.checkpoint({
        ...(steps === null || steps === Infinity ? {} : { step: steps }),
        meta: { [META_PARTS]: this.#parts.length, [META_EPOCH]: epoch },
      });
      const info: GroupCheckpointInfo = { epoch, image };
      this.#last = info;
      this.#events.emit('checkpoint', info);
      this.#recycle(captures);
      return info;
    } finally {
      this.#captures.fill(undefined);
    }
  }

  /**
   * The image is written: give each thread part the buffers of its capture
   * back (transferred), for its next capture to copy into — not a finished
   * part's final state, which later images use again.
   */
  #recycle(captures: ReadonlyMap<number, PartState>): void {
    for (const [index, state] of captures) {
      const part = this.#parts[index];
      // Not to a part that will not capture again (finished, stopped, gone): its memory would only wait on its port.
      if (part?.port === undefined || part.finished !== undefined || part.stopped || part.exited) continue;
      const buffers = new Set<ArrayBuffer>();
      for (const p of state.providers) {
        for (const a of [p.stream, ...p.blobs]) if (a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) buffers.add(a.buffer);
      }
      if (buffers.size === 0) continue;
      const msg: RecycleMessage = { type: 'recycle', buffers: [...buffers] };
      try {
        part.port.postMessage(msg, [...buffers]);
      } catch {
        // A buffer that cannot be transferred stays here and is collected: the part captures into fresh memory.
      }
    }
  }

  /** Resolve run() once it has its result and every part (thread or process) has exited. */
  #checkEnd(): void {
    if (this.#completion === undefined || !this.#parts.every((p) => p.exited)) return;
    this.#end?.resolve(this.#completion);
  }

  /** End run() with `err`: terminate the workers and kill (SIGKILL) and reap the child processes still running. */
  #fail(err: Error): void {
    if (this.#state === 'ended' || this.#end === undefined) return;
    const end = this.#end;
    this.#end = undefined;
    this.#barrier?.fail(isCkptError(err) ? err : new CkptError(ErrorCodes.PART_FAILED, err.message, { cause: err }));
    this.#startup.reject(err);
    const running = this.#parts.filter((p) => !p.exited).map((p) => (p.worker !== undefined ? p.worker.terminate().then(() => undefined, () => undefined) : killAndReap(p)));
    void Promise.all(running).then(() => end.reject(err));
  }
}

/** SIGKILL a part's child process and resolve once it was reaped and its IPC channel closed. */
function killAndReap(part: Part): Promise<void> {
  return new Promise((resolve) => {
    if (part.exited) return resolve();
    part.onEnded.push(resolve);
    part.child!.kill('SIGKILL');
  });
}
