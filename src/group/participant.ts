/**
 * @module group/participant
 *
 * {@link joinGroup} and the {@link GroupParticipant} it returns: the part of
 * a checkpoint group that runs in a worker thread or a forked child process.
 * It has what a
 * Checkpointer's run loop has — `register()`, `registerClass()`, `loop()`,
 * `safepoint()`, `due` — but never writes an image itself: at a safepoint
 * where the coordinator asked for a group epoch, it captures its providers,
 * sends the encoded state to the coordinator and carries on. `due` reads a
 * control block with `Atomics.load` — shared with the coordinator in a
 * thread, kept up to date by a watcher thread in a child (see group/ipc) —
 * so a loop that never yields to its event loop still sees a request at its
 * next safepoint.
 */
import { isMainThread, parentPort, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import { ClassRegistry } from '../codec/class-registry.js';
import { StateEncoder } from '../codec/encode.js';
import { CkptError, ErrorCodes } from '../errors.js';
import type { ImageInfo } from '../info.js';
import type { Provider } from '../provider/provider.js';
import { Registry } from '../provider/registry.js';
import { CaptureMemory } from './capture-memory.js';
import { ChannelEndpoint, GroupChannel, type ChannelTransport } from './channel.js';
import { capturePart, restorePart, type PartEnv } from './part-state.js';
import { checkShardSpec, DEFAULT_KEY_GROUPS, partOfKey, shardRange, type ShardRange, type ShardSpec } from './shard.js';
import {
  ArrayReceiver,
  CHILD_EPOCH,
  CHILD_GONE,
  CHILD_STOP,
  CHILD_TURN,
  CHILD_WORDS,
  flatten,
  isSkeleton,
  raiseWord,
  sendOne,
  sendWithArrays,
  startWatcher,
  unflatten,
  type IpcSend,
} from './ipc.js';
import {
  CTRL_EPOCH,
  CTRL_STOP,
  GROUP_TAG,
  isIpcMessage,
  isRecycleMessage,
  ownBuffers,
  toWire,
  type ChannelMessageBytes,
  type ChildInitMessage,
  type InitMessage,
  type PartMessage,
  type PartState,
  type SendMessage,
} from './protocol.js';

/** Options of {@link GroupParticipant.loop}. */
export interface GroupLoopOptions {
  /** Run until this many steps have completed (default: forever, until a stop). */
  readonly until?: number;
  /** Restore this part's state from the group image before the first iteration (default true). */
  readonly restore?: boolean;
}

/**
 * A provider of a group part: a Checkpointer's provider, and optionally how
 * its state is one shard of a whole split across the parts — so a group
 * image restores into another number of parts (docs/groups.md).
 */
export type GroupProvider<S> = Provider<S> & {
  /** `{ kind: 'range' }` (an Array or typed array split by index) or `{ kind: 'keyed' }` (a Map or plain object split by key). */
  readonly shard?: ShardSpec;
};

/** What {@link GroupParticipant.safepoint} reports. */
export interface GroupSafepointResult {
  /** True when the group is stopping: this part's state is captured; end the loop now. */
  readonly stop: boolean;
}

/** @internal How a participant reaches its coordinator. */
export interface PartLink {
  readonly index: number;
  readonly parts: number;
  /** The control block: requested epoch, stop epoch (and, in a child, the coordinator-gone word). */
  readonly control: Int32Array;
  readonly epoch: number;
  readonly image: ImageInfo | null;
  readonly state: PartState | null;
  /** What the part is, for messages ('worker thread', 'child process'). */
  readonly kind: 'thread' | 'child';
  /** Send a message to the coordinator; resolves once it is handed over. */
  post(msg: PartMessage): Promise<void> | void;
  /** The part's loop ended (finished or stopped): release what joinGroup set up for it. */
  close(): void;
  /** Buffers of past captures the coordinator gave back since the last call (a thread's link), without waiting. */
  reclaim?(): ArrayBuffer[];
  /** The part's channel messages to and from the coordinator. */
  readonly channel: ChannelTransport;
}

function threadLink(init: InitMessage): PartLink {
  const port: MessagePort = init.port;
  // The port never keeps the thread alive: the part's own work does.
  port.unref();
  // The coordinator's messages on the port: capture buffers given back, and channel messages.
  const recycled: ArrayBuffer[] = [];
  const inbox: ChannelMessageBytes[] = [];
  const pull = (): void => {
    // Read without the event loop turning: the port has no listener, messages wait on it.
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
      if (isRecycleMessage(m.message)) recycled.push(...m.message.buffers);
      else inbox.push(m.message as ChannelMessageBytes);
    }
  };
  return {
    index: init.index,
    parts: init.parts,
    control: new Int32Array(init.control),
    epoch: init.epoch,
    image: init.image,
    state: init.state,
    kind: 'thread',
    post: (msg) => {
      if (msg.type === 'failed') {
        port.postMessage(msg);
        return;
      }
      const { state, transfer } = ownBuffers(msg.state);
      port.postMessage({ ...msg, state }, transfer);
    },
    close: () => undefined,
    reclaim: () => {
      pull();
      return recycled.splice(0);
    },
    channel: {
      transmit: (to, seq, bytes) => {
        const msg: SendMessage = { type: 'send', to, seq, bytes };
        port.postMessage(msg, [bytes.buffer as ArrayBuffer]);
      },
      drain: () => {
        pull();
        return inbox.splice(0);
      },
    },
  };
}

/**
 * One part of a checkpoint group, in its worker thread or child process. Get it with
 * {@link joinGroup}; register providers (and classes), then run
 * {@link GroupParticipant.loop} — or call {@link GroupParticipant.restore}
 * and {@link GroupParticipant.safepoint} from a loop of your own and
 * {@link GroupParticipant.finish} at its end.
 */
export class GroupParticipant {
  /** This part's index in the group (the order of `addWorker()` and `addChild()` calls, from 0). */
  readonly index: number;
  /** How many parts the group has. */
  readonly parts: number;
  readonly #control: Int32Array;
  /** Whether this part is a child process (its control block has the turn and gone words). */
  readonly #child: boolean;
  readonly #link: PartLink;
  readonly #registry = new Registry();
  readonly #shards = new Map<string, ShardSpec>();
  readonly #classes = new ClassRegistry();
  readonly #encoder = new StateEncoder();
  /** A thread part's capture memory, given back by the coordinator after each image. */
  readonly #memory: CaptureMemory | undefined;
  readonly #image: ImageInfo | null;
  #pending: PartState | null;
  /** The last epoch this part answered. */
  #answered: number;
  #step: number | null = null;
  #restored = false;
  #capturing = false;
  #stopped = false;
  #finished = false;
  readonly #channels: ChannelEndpoint;
  #channel: GroupChannel | undefined;

  /** @internal Created by {@link joinGroup}. */
  constructor(link: PartLink) {
    this.index = link.index;
    this.parts = link.parts;
    this.#control = link.control;
    this.#child = link.kind === 'child';
    this.#link = link;
    this.#memory = link.reclaim === undefined ? undefined : new CaptureMemory();
    this.#image = link.image;
    this.#pending = link.state;
    this.#answered = link.epoch;
    this.#channels = new ChannelEndpoint(link.index, link.parts, link.state?.channels, link.channel, { blocked: () => this.#channelBlocked() });
  }

  #channelBlocked(): CkptError | null {
    if (this.#finished || this.#stopped) {
      return new CkptError(ErrorCodes.CLOSED, `part ${String(this.index)}: its channel closed when it ${this.#finished ? 'finished' : 'stopped'}; send and receive only while its loop runs`);
    }
    if (this.#capturing) {
      return new CkptError(
        ErrorCodes.INVALID_ARGUMENT,
        `part ${String(this.index)}: channel used during a capture (from a provider hook, or a callback that ran while the safepoint waited); send and receive from the part's loop, between safepoints`,
      );
    }
    return null;
  }

  /**
   * This part's message channel to the other parts (the same object on every
   * call): `send(part, value)` and `receive()`. Messages are delivered
   * exactly once across group checkpoints and restores, in order per
   * sender. See docs/groups.md, "Channels".
   */
  channel(): GroupChannel {
    return (this.#channel ??= new GroupChannel(this.#channels));
  }

  /**
   * True when the coordinator asked for a group checkpoint this part has not
   * captured yet (in a child process, also when the coordinator is gone: the
   * safepoint then rejects). One `Atomics.load`: cheap enough to test every
   * iteration (`if (ckpt.due) await ckpt.safepoint(step)`), and it changes
   * without the event loop turning.
   */
  get due(): boolean {
    if (this.#finished || this.#stopped) return false;
    // In a child, the turn word is also set when the coordinator is gone.
    return Atomics.load(this.#control, CTRL_EPOCH) > this.#answered || (this.#child && Atomics.load(this.#control, CHILD_TURN) !== 0);
  }

  get #gone(): boolean {
    return this.#child && Atomics.load(this.#control, CHILD_GONE) !== 0;
  }

  #goneError(cause?: unknown): CkptError {
    return new CkptError(
      ErrorCodes.PART_FAILED,
      `part ${String(this.index)} (child process ${String(process.pid)}): the group's coordinator is gone (its IPC channel closed); this part cannot checkpoint any more — restart the program: every part resumes from the last group image`,
      cause === undefined ? {} : { cause },
    );
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
   * `resume`; `committed` is not called in a group), and `shard` when its
   * state is this part's shard of a whole (`range` or `keyed`: the group
   * image then restores into another number of parts). Register every
   * provider before `loop()`/`restore()`: later ones fail with
   * `CKPT_ERR_LATE_REGISTRATION`.
   */
  register<S>(provider: GroupProvider<S>): void {
    this.#checkNotRestored('provider', typeof provider === 'object' && provider !== null ? String((provider as { id?: unknown }).id) : '?');
    const shard = typeof provider === 'object' && provider !== null ? provider.shard : undefined;
    const spec = shard === undefined ? undefined : checkShardSpec(shard, String(provider.id));
    const p = this.#registry.addProvider(provider);
    if (spec !== undefined) this.#shards.set(p.id, spec);
  }

  /**
   * The elements `[start, end)` of an array of `total` elements this part
   * holds in a `range` shard ({@link shardRange} for this part's index and
   * the group's count): split the work with it when the group starts fresh.
   */
  rangeOf(total: number): ShardRange {
    return shardRange(total, this.index, this.parts);
  }

  /** Whether this part holds `key` in a `keyed` shard ({@link partOfKey} for the group's count). */
  owns(key: string | number, keyGroups: number = DEFAULT_KEY_GROUPS): boolean {
    return partOfKey(key, this.parts, keyGroups) === this.index;
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
    return {
      registry: this.#registry,
      classes: this.#classes,
      encoder: this.#encoder,
      index: this.index,
      parts: this.parts,
      shards: this.#shards,
      ...(this.#memory === undefined ? {} : { memory: this.#memory }),
    };
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

  /** @internal How many buffers this part's captures copied into memory the coordinator gave back. */
  get reusedCaptureBuffers(): number {
    return this.#memory?.reused ?? 0;
  }

  /** Capture every provider, into the memory of the last capture where the coordinator gave it back. */
  async #capture(label: string | null): Promise<PartState> {
    this.#memory?.give(this.#link.reclaim?.() ?? []);
    try {
      const captured = await capturePart(this.#env, { step: this.#step, label }, this.#step);
      return { ...captured, channels: this.#channels.snapshot() };
    } finally {
      this.#memory?.settle();
    }
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
    if (this.#child && Atomics.load(this.#control, CTRL_EPOCH) <= this.#answered) {
      // A child's turn: let its event loop run once (signals, IPC messages), then look again.
      Atomics.store(this.#control, CHILD_TURN, 0);
      await new Promise((resolve) => setImmediate(resolve));
      if (this.#gone) throw this.#goneError();
      if (Atomics.load(this.#control, CTRL_EPOCH) <= this.#answered) return { stop: this.#stopped };
    }
    if (this.#gone) throw this.#goneError();
    if (step !== undefined) this.#step = step;
    const epoch = Atomics.load(this.#control, CTRL_EPOCH);
    // Answered from here on, whatever the capture's outcome: a failed capture is that epoch's answer.
    this.#answered = epoch;
    this.#capturing = true;
    try {
      let msg: PartMessage;
      try {
        msg = { type: 'captured', epoch, state: await this.#capture(null) };
      } catch (err) {
        msg = { type: 'failed', epoch, error: toWire(err) };
      }
      await this.#post(msg);
    } finally {
      this.#capturing = false;
    }
    const stopAt = Atomics.load(this.#control, CTRL_STOP);
    if (stopAt !== 0 && stopAt <= epoch) {
      this.#stopped = true;
      this.#link.close();
    }
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
    if (this.#gone) throw this.#goneError();
    this.#capturing = true;
    let state: PartState;
    try {
      state = await this.#capture('finished');
    } finally {
      this.#capturing = false;
    }
    this.#finished = true;
    await this.#post({ type: 'finished', state });
    this.#link.close();
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

  async #post(msg: PartMessage): Promise<void> {
    try {
      await this.#link.post(msg);
    } catch (err) {
      // Only a child's IPC send fails: its channel closed.
      if (this.#child) setGone(this.#control);
      throw this.#goneError(err);
    }
  }
}

/** This child process's one join (joinGroup() called again returns it). */
let childJoin: Promise<GroupParticipant> | undefined;

/** Mark a child's coordinator gone: the next `due` is true and the safepoint rejects. */
function setGone(control: Int32Array): void {
  Atomics.store(control, CHILD_GONE, 1);
  Atomics.store(control, CHILD_TURN, 1);
}

function isInit(value: unknown): value is InitMessage {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)[GROUP_TAG] === 'init';
}

/**
 * Join the checkpoint group this worker thread or child process was added to
 * (with `CheckpointGroup.addWorker()` or `addChild()` in the coordinator).
 * Resolves once the group runs (`group.run()`), with this part's restored
 * state waiting for its providers: register them, then `loop()`.
 *
 * In a worker thread, the coordinator's one message arrives on `parentPort`:
 * call `joinGroup()` before adding `message` listeners of your own to
 * `parentPort`. In a child process (forked with an IPC channel and
 * `serialization: 'advanced'`), the group's messages on `process` carry the
 * key `'ckpt:group'`: ignore them in listeners of your own. A child asks the
 * coordinator for a group stop when it receives a stop signal (SIGTERM and
 * SIGINT unless the group's `signals` say otherwise).
 *
 * ```ts
 * const ckpt = await joinGroup();
 * ckpt.register({ id: 'cells', snapshot: () => cells, restore: (s) => { cells = s; } });
 * for await (const step of ckpt.loop({ until: 10_000 })) update(cells, step);
 * ```
 *
 * @throws CkptError INVALID_ARGUMENT when called neither in a worker thread
 * nor in a child process with an IPC channel, or when the channel is not binary
 */
export function joinGroup(): Promise<GroupParticipant> {
  const port = parentPort;
  if (!isMainThread && port !== null) {
    return new Promise((resolve) => {
      const onMessage = (value: unknown): void => {
        if (!isInit(value)) return;
        port.off('message', onMessage);
        resolve(new GroupParticipant(threadLink(value)));
      };
      port.on('message', onMessage);
    });
  }
  if (isMainThread && typeof process.send === 'function' && process.channel !== undefined) {
    // A process joins once: later calls get the same participant.
    childJoin ??= joinAsChild(process.send.bind(process) as IpcSend);
    return childJoin;
  }
  return Promise.reject(
    new CkptError(
      ErrorCodes.INVALID_ARGUMENT,
      'joinGroup() runs in a worker thread added with group.addWorker(worker) or in a child process added with group.addChild(fork(file, { serialization: "advanced" })); in the coordinator, use CheckpointGroup',
    ),
  );
}

function isChildInit(m: Record<string, unknown>): m is Record<string, unknown> & ChildInitMessage {
  return (
    typeof m['index'] === 'number' &&
    typeof m['parts'] === 'number' &&
    typeof m['control'] === 'string' &&
    typeof m['epoch'] === 'number' &&
    Array.isArray(m['stopSignals']) &&
    typeof m['request'] === 'object' &&
    m['request'] !== null &&
    (m['state'] === null || isSkeleton(m['state']))
  );
}

/** Join as a child process: ask to join over IPC, receive the init message and the restored state's bytes. */
function joinAsChild(send: IpcSend): Promise<GroupParticipant> {
  const control = new Int32Array(new SharedArrayBuffer(CHILD_WORDS * 4));
  const receiver = new ArrayReceiver();
  const signals: [NodeJS.Signals, () => void][] = [];
  let joined = false;
  let closed = false;
  let watcher: Worker | undefined;
  /** Channel messages delivered to this part, until its channel drains them. */
  let delivered: ChannelMessageBytes[] = [];
  const onDeliver = (value: unknown): void => {
    if (!isIpcMessage(value)) return;
    const m = value as unknown as Record<string, unknown>;
    if (m[GROUP_TAG] !== 'deliver') return;
    const bytes = m['bytes'];
    delivered.push({ from: m['from'] as number, seq: m['seq'] as number, bytes: bytes instanceof Uint8Array ? bytes : new Uint8Array(0) });
  };
  const gone = (): boolean => Atomics.load(control, CHILD_GONE) !== 0;
  /** The part's loop ended (or it never joined): no more stop requests, no more watching. */
  const close = (): void => {
    if (closed) return;
    closed = true;
    process.off('message', onDeliver);
    for (const [sig, handler] of signals) process.off(sig, handler);
    void watcher?.terminate();
  };
  /** A stop signal with no coordinator to tell: give it its default action. */
  const raiseAgain = (sig: NodeJS.Signals): void => {
    close();
    process.kill(process.pid, sig);
  };
  return new Promise<GroupParticipant>((resolve, reject) => {
    const fail = (err: CkptError): void => {
      close();
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
      reject(err);
    };
    const onMessage = (value: unknown): void => {
      if (!isIpcMessage(value)) return;
      const m = value as unknown as Record<string, unknown>;
      switch (m[GROUP_TAG]) {
        case 'chunk':
          receiver.chunk(m['bytes']);
          break;
        case 'refused':
          fail(new CkptError(ErrorCodes.INVALID_ARGUMENT, String(m['message'])));
          break;
        case 'init': {
          if (joined || !isChildInit(m)) break;
          joined = true;
          raiseWord(control, CHILD_STOP, m.request.stop);
          raiseWord(control, CHILD_EPOCH, m.request.epoch);
          watcher = startWatcher(m.control, control.buffer);
          for (const sig of m.stopSignals as NodeJS.Signals[]) {
            const handler = (): void => {
              if (gone()) return raiseAgain(sig);
              sendOne(send, { [GROUP_TAG]: 'stop', signal: sig }).catch(() => raiseAgain(sig));
            };
            signals.push([sig, handler]);
            process.on(sig, handler);
          }
          const skeleton = m.state;
          receiver.expect(skeleton?.sizes ?? [], (arrays) => {
            // From here on requests and the coordinator's end come through the watcher thread. The group's listeners go, so
            // the IPC channel keeps the child alive only as the program's own listeners do (ckpt never unrefs it).
            process.off('message', onMessage);
            process.off('disconnect', onDisconnect);
            // Channel messages arrive on the IPC channel while the part's loop runs (its safepoints give the event
            // loop a turn); this listener keeps the channel open until the loop ends (close()).
            if (!closed) process.on('message', onDeliver);
            resolve(
              new GroupParticipant({
                index: m.index,
                parts: m.parts,
                control,
                epoch: m.epoch,
                image: m.image,
                state: skeleton === null ? null : unflatten(skeleton, arrays),
                kind: 'child',
                post: (msg) => {
                  if (msg.type === 'failed') return sendOne(send, { [GROUP_TAG]: 'part', msg });
                  const { skeleton: sk, arrays: bytes } = flatten(msg.state);
                  return sendWithArrays(send, { [GROUP_TAG]: 'part', msg: { ...msg, state: sk } }, bytes);
                },
                close,
                channel: {
                  transmit: (to, seq, bytes) => {
                    sendOne(send, { [GROUP_TAG]: 'send', to, seq, bytes }).catch(() => setGone(control));
                  },
                  drain: () => {
                    const out = delivered;
                    delivered = [];
                    return out;
                  },
                },
              }),
            );
          });
          break;
        }
      }
    };
    const onDisconnect = (): void => {
      setGone(control);
      fail(new CkptError(ErrorCodes.PART_FAILED, `child process ${String(process.pid)}: the group's coordinator closed the IPC channel before this part joined the group`));
    };
    process.on('message', onMessage);
    process.once('disconnect', onDisconnect);
    sendOne(send, { [GROUP_TAG]: 'join', probe: new Uint8Array([1, 2, 3]) }).catch((err: unknown) => {
      fail(new CkptError(ErrorCodes.PART_FAILED, `child process ${String(process.pid)}: could not ask the coordinator to join: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    });
  });
}
