/**
 * Helpers of the runtime tests (loop, safepoint, policies, signals, async
 * persist): a store wrapper whose writes can be held, slowed or failed, a
 * counter provider that records its hook calls, and small timing helpers.
 */
import { Checkpointer, MemoryStore } from '../../src/index.js';
import type { AcquireOptions, CheckpointerOptions, ImageSink, ImageSource, Store, StoreEntry, WriterLock } from '../../src/index.js';

export { expectCode, expectThrowCode } from '../helpers/errors.js';
export { deferred, tick, type Deferred } from '../helpers/async.js';

/** Milliseconds since an arbitrary origin, sub-ms resolution. */
export const now = (): number => performance.now();

/** Spin for `ms` without giving the event loop a turn (a synchronous iteration). */
export function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/**
 * Wraps a store: logs `write:<id>`, `commit:<id>`, `abort:<id>` into `log`,
 * and can hold every write until `hold` resolves, slow each write by
 * `writeDelayMs`, or fail writes with `failWrites`.
 */
export class ControlledStore implements Store {
  readonly log: string[] = [];
  hold: Promise<void> | undefined;
  writeDelayMs = 0;
  failWrites: Error | undefined;

  constructor(readonly inner: Store = new MemoryStore()) {}

  get description(): string {
    return `controlled(${this.inner.description})`;
  }

  list(): Promise<StoreEntry[]> {
    return this.inner.list();
  }

  open(id: string): Promise<ImageSource> {
    return this.inner.open(id);
  }

  acquireWriter(options?: AcquireOptions): Promise<WriterLock> {
    return this.inner.acquireWriter(options);
  }

  async create(lock: WriterLock): Promise<ImageSink> {
    const sink = await this.inner.create(lock);
    let wrote = false;
    return {
      id: sink.id,
      write: async (chunk: Uint8Array): Promise<void> => {
        if (!wrote) this.log.push(`write:${sink.id}`);
        wrote = true;
        if (this.hold !== undefined) await this.hold;
        if (this.writeDelayMs > 0) await new Promise((r) => setTimeout(r, this.writeDelayMs));
        if (this.failWrites !== undefined) throw this.failWrites;
        await sink.write(chunk);
      },
      commit: async (): Promise<void> => {
        await sink.commit();
        this.log.push(`commit:${sink.id}`);
      },
      abort: async (): Promise<void> => {
        this.log.push(`abort:${sink.id}`);
        await sink.abort();
      },
    };
  }

  delete(lock: WriterLock, id: string): Promise<void> {
    return this.inner.delete(lock, id);
  }

  cleanup(lock: WriterLock): Promise<string[]> {
    return this.inner.cleanup(lock);
  }
}

/** A counter state: `n` is bumped by the app once per iteration; `history` records each step's value. */
export interface Counter {
  n: number;
  history: number[];
}

/** What a {@link counterApp} recorded. */
export interface CounterApp {
  readonly ckpt: Checkpointer;
  readonly state: { value: Counter };
  /** `snapshot:<step>:<label>`, `restore:<n>` … in call order. */
  readonly log: string[];
  /** Set by the test while an iteration body runs; snapshot() records it. */
  inIteration: boolean;
  /** Snapshots taken while `inIteration` was true (must stay 0). */
  midIteration: number;
}

/** A Checkpointer (signals off unless given) with one counter provider `c`. */
export function counterApp(options: Partial<CheckpointerOptions> & { store: Store | string }): CounterApp {
  const ckpt = new Checkpointer({ signals: false, ...options });
  const app: CounterApp = {
    ckpt,
    state: { value: { n: 0, history: [] } },
    log: [],
    inIteration: false,
    midIteration: 0,
  };
  ckpt.register<Counter>({
    id: 'c',
    snapshot: (ctx) => {
      app.log.push(`snapshot:${String(ctx.step)}:${String(ctx.label)}`);
      if (app.inIteration) app.midIteration++;
      return app.state.value;
    },
    restore: (s) => {
      app.log.push(`restore:${s.n}`);
      app.state.value = s;
    },
  });
  return app;
}

/** `step:label` of every committed image, oldest first. */
export async function imageSteps(ckpt: Checkpointer): Promise<string[]> {
  return (await ckpt.list()).reverse().map((i) => `${String(i.step)}:${String(i.label)}`);
}

/** Listener counts of the signals ckpt handles by default. */
export function signalListeners(): { SIGTERM: number; SIGINT: number; SIGUSR2: number } {
  return { SIGTERM: process.listenerCount('SIGTERM'), SIGINT: process.listenerCount('SIGINT'), SIGUSR2: process.listenerCount('SIGUSR2') };
}
