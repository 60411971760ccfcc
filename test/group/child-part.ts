/**
 * @module test/group/child-part
 *
 * The child-process program of the child group tests: joins the group and
 * runs in the mode its first argument (JSON) says, reporting to the test
 * with `process.send({ report })` — messages of its own on the same IPC
 * channel, which the coordinator must ignore.
 *
 * - `counter`: `loop({ until })` counting steps into a provider; each
 *   snapshot reports its epoch; `throwAtEpoch` makes that snapshot throw;
 *   `exitAtEpoch` exits the process (code 3) in that snapshot; `dieAtStep`
 *   throws from the loop body (an uncaught error: exit code 1).
 * - `spin`: a loop that never yields to the event loop — synchronous
 *   iterations until `ckpt.due` is seen (or `spinLimit` iterations), then a
 *   safepoint; reports how many iterations it saw each request after.
 *
 * - `idle`: never joins the group (stays alive until killed).
 * - `rogue`: joins by hand and answers the init message with a chunk of
 *   state nobody asked for (a protocol error), then stays alive.
 *
 * `bigLength` adds a large Float64Array provider (several IPC chunks)
 * incremented at every step.
 */
import { joinGroup } from '../../src/index.js';

interface Options {
  readonly mode: 'counter' | 'spin' | 'idle' | 'rogue';
  readonly until?: number;
  readonly throwAtEpoch?: number;
  readonly exitAtEpoch?: number;
  readonly dieAtStep?: number;
  readonly spinLimit?: number;
  readonly bigLength?: number;
}

const o = JSON.parse(process.argv[2] ?? '{}') as Options;
const report = (msg: Record<string, unknown>): void => void process.send!({ report: { pid: process.pid, ...msg } });
if (o.mode === 'idle' || o.mode === 'rogue') {
  if (o.mode === 'rogue') {
    process.on('message', (m: Record<string, unknown>) => {
      if (m['ckpt:group'] === 'init') process.send!({ 'ckpt:group': 'chunk', bytes: new Uint8Array(4) });
    });
    process.send!({ 'ckpt:group': 'join', probe: new Uint8Array(1) });
  }
  report({ type: 'waiting' });
  setInterval(() => undefined, 1000);
  await new Promise(() => undefined);
}
const ckpt = await joinGroup().catch((err: unknown) => {
  report({ type: 'join-failed', code: (err as { code?: string }).code, message: (err as Error).message });
  throw err;
});
report({ type: 'joined', index: ckpt.index });

let n = 0;
ckpt.register<{ n: number }>({
  id: 'counter',
  snapshot: () => {
    report({ type: 'snap', epoch: ckpt.epoch, n });
    if (o.exitAtEpoch === ckpt.epoch) process.exit(3);
    if (o.throwAtEpoch === ckpt.epoch) throw new Error(`no state at epoch ${String(ckpt.epoch)}`);
    return { n };
  },
  restore: (s) => {
    n = s.n;
  },
});
let big: Float64Array = new Float64Array(o.bigLength ?? 0);
const bigSum = (): number => big.reduce((a, b) => a + b, 0);
if (o.bigLength !== undefined) ckpt.register<Float64Array>({ id: 'big', snapshot: () => big, restore: (s) => (big = s) });

const block = new Int32Array(new SharedArrayBuffer(4));
if (o.mode === 'spin') {
  let step = (await ckpt.restore()) ?? 0;
  report({ type: 'restored', step, n });
  for (;;) {
    // Synchronous from here until due is seen: no await, no event-loop turn.
    let spins = 0;
    while (!ckpt.due && spins < o.spinLimit!) {
      n++;
      spins++;
      step++;
      if ((spins & 1023) === 0) Atomics.wait(block, 0, 0, 1); // a slow iteration now and then, still without the event loop
    }
    report({ type: 'spins', spins, seen: spins < o.spinLimit! });
    if (spins >= o.spinLimit!) break;
    if ((await ckpt.safepoint(step)).stop) break;
  }
  report({ type: 'end', stopped: ckpt.stopped, n });
} else {
  let first = true;
  for await (const step of ckpt.loop(o.until === undefined ? {} : { until: o.until })) {
    if (first) {
      report({ type: 'restored', step: ckpt.restoredStep, n, bigSum: bigSum(), bigLength: big.length });
      first = false;
    }
    if (o.dieAtStep === step) throw new Error(`part ${String(ckpt.index)} broke at step ${String(step)}`);
    n++;
    if (big.length > 0) big[step % big.length]! += 1;
    if (step % 64 === 0) Atomics.wait(block, 0, 0, 1);
  }
  report({ type: 'end', stopped: ckpt.stopped, n, bigSum: bigSum() });
}
