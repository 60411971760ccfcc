/**
 * @module test/group/part
 *
 * The worker-thread program of the group tests: joins the group and runs in
 * the mode `workerData.mode` says, reporting what it does to the test on
 * `parentPort` (after joinGroup(), which reads the coordinator's message there).
 *
 * - `counter`: a loop (`loop({ until })`) counting steps into a provider;
 *   each snapshot reports the epoch it captures; `throwAtEpoch` makes the
 *   snapshot of that epoch throw; `dieAtStep` throws from the loop body.
 * - `spin`: a loop that never yields to the event loop — synchronous
 *   iterations until `ckpt.due` is seen (or `spinLimit` iterations), then a
 *   safepoint; reports how many iterations it saw each request after.
 * - `slow`: blocks its thread for `blockMs` per iteration (Atomics.wait), so
 *   it misses a short barrier deadline.
 *
 * `secret` registers a provider `creds` whose `apiKey` is declared secret
 * (reported as restored).
 * `version: 2` registers the counter at version 2 with a migration from 1;
 * `extraProvider` registers one more provider; `bigLength` adds a large
 * Float64Array provider (blobs) incremented at every step.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { joinGroup } from '../../src/index.js';

interface Options {
  readonly mode: 'counter' | 'spin' | 'slow';
  readonly until?: number;
  readonly throwAtEpoch?: number;
  readonly dieAtStep?: number;
  readonly spinLimit?: number;
  readonly blockMs?: number;
  /** The counter provider's version: 2 migrates version-1 state (marks it migrated). */
  readonly version?: number;
  /** Also register a provider with this id (an image without it fails closed). */
  readonly extraProvider?: string;
  /** Also keep a Float64Array of this many elements (large: written as blobs), changed every step. */
  readonly bigLength?: number;
  /** End the thread (process.exit in a worker) in the snapshot of this epoch. */
  readonly exitAtEpoch?: number;
  /** Also keep `{ apiKey: secret, note }` in a provider `creds` that declares `apiKey` secret. */
  readonly secret?: { readonly apiKey: string; readonly note: string };
}

/** A class instance in state: restored with its prototype. */
class Tally {
  n = 0;
  readonly seen = new Float64Array(4);
  bump(): void {
    this.n++;
    this.seen[this.n % 4]! += 1;
  }
}

const o = workerData as Options;
const port = parentPort!;
const ckpt = await joinGroup();
const report = (msg: Record<string, unknown>): void => port.postMessage({ part: ckpt.index, ...msg });
/** The restored tally is a Tally whose typed array counted every bump. */
const intact = (): boolean => tally instanceof Tally && tally.seen instanceof Float64Array && tally.seen.reduce((a, b) => a + b, 0) === tally.n;

let tally = new Tally();
let snapshots = 0;
let migrated = false;
ckpt.registerClass(Tally);
ckpt.register<{ tally: Tally; snapshots: number; migrated?: boolean }>({
  id: 'counter',
  version: o.version ?? 1,
  ...(o.version === 2 ? { migrations: { 2: (s: { tally: Tally; snapshots: number }) => ({ ...s, migrated: true }) } } : {}),
  snapshot: () => {
    snapshots++;
    report({ type: 'snap', epoch: ckpt.epoch, n: tally.n });
    if (o.exitAtEpoch === ckpt.epoch) process.exit(3);
    if (o.throwAtEpoch === ckpt.epoch) throw new Error(`no state at epoch ${String(ckpt.epoch)}`);
    return { tally, snapshots };
  },
  restore: (s) => {
    tally = s.tally;
    snapshots = s.snapshots;
    migrated = s.migrated === true;
  },
});
let big: Float64Array = new Float64Array(o.bigLength ?? 0);
const bigSum = (): number => big.reduce((a, b) => a + b, 0);
if (o.bigLength !== undefined) {
  ckpt.register<Float64Array>({ id: 'big', snapshot: () => big, restore: (s) => (big = s) });
}
let creds: { apiKey: string | undefined; note: string } | undefined = o.secret === undefined ? undefined : { ...o.secret };
if (o.secret !== undefined) {
  ckpt.register<{ apiKey: string | undefined; note: string }>({ id: 'creds', secret: ['apiKey'], snapshot: () => creds!, restore: (s) => (creds = s) });
}
if (o.extraProvider !== undefined) ckpt.register({ id: o.extraProvider, snapshot: () => 0, restore: () => undefined });

const block = new Int32Array(new SharedArrayBuffer(4));

if (o.mode === 'spin') {
  const restoredStep = await ckpt.restore();
  report({ type: 'restored', step: restoredStep, n: tally.n, intact: intact() });
  let step = restoredStep ?? 0;
  for (;;) {
    // Synchronous from here until due is seen: no await, no event-loop turn.
    let spins = 0;
    while (!ckpt.due && spins < o.spinLimit!) {
      tally.bump();
      spins++;
      step++;
    }
    report({ type: 'spins', spins, seen: spins < o.spinLimit! });
    if (spins >= o.spinLimit!) break;
    if ((await ckpt.safepoint(step)).stop) break;
  }
  report({ type: 'end', stopped: ckpt.stopped, n: tally.n });
} else {
  let first = true;
  for await (const step of ckpt.loop(o.until === undefined ? {} : { until: o.until })) {
    if (first) {
      report({ type: 'restored', step: ckpt.restoredStep, n: tally.n, intact: intact(), migrated, bigSum: bigSum(), bigLength: big.length, creds });
      first = false;
    }
    if (o.dieAtStep === step) throw new Error(`part ${String(ckpt.index)} broke at step ${String(step)}`);
    if (o.mode === 'slow') Atomics.wait(block, 0, 0, o.blockMs ?? 1000);
    tally.bump();
    if (big.length > 0) big[step % big.length]! += 1;
    if (step % 64 === 0) Atomics.wait(block, 0, 0, 1); // give the other threads of a small machine a turn
  }
  report({ type: 'end', stopped: ckpt.stopped, n: tally.n, snapshots, bigSum: bigSum(), reused: ckpt.reusedCaptureBuffers });
}
