/**
 * @module test/group/chan-part
 *
 * A part of the channel tests (a worker thread, or a child process when
 * forked): at each of its `steps` steps it sends the step number to every
 * other part, and takes what arrived, checking that every sender's numbers
 * come in order without a gap or a repeat (it throws otherwise, which fails
 * the group). After its last step it waits until every other part's `steps`
 * numbers arrived, then finishes and reports per sender how many it got and
 * their sum.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { joinGroup } from '../../src/index.js';

interface ChanState {
  got: number[];
  sum: number[];
}

const args = (workerData ?? JSON.parse(process.argv[2] ?? '{}')) as { steps: number; work?: number };
const report = (m: Record<string, unknown>): void => {
  if (parentPort !== null) parentPort.postMessage(m);
  else process.send?.({ report: m });
};
const ckpt = await joinGroup();
const ch = ckpt.channel();
const me = ckpt.index;
let st: ChanState = { got: new Array<number>(ckpt.parts).fill(0), sum: new Array<number>(ckpt.parts).fill(0) };
ckpt.register<ChanState>({ id: 'chan', snapshot: () => st, restore: (s) => (st = s) });
let step = (await ckpt.restore()) ?? 0;
report({ event: 'part-start', part: me, step, pid: process.pid });

const take = (): void => {
  for (const m of ch.receive()) {
    const v = m.data as { n: number; from: number };
    if (v.from !== m.from || v.n !== st.got[m.from]! + 1) throw new Error(`part ${String(me)}: from part ${String(m.from)} got ${String(v.n)} after ${String(st.got[m.from])}`);
    st.got[m.from] = v.n;
    st.sum[m.from]! += v.n;
  }
};
const allIn = (): boolean => st.got.every((g, i) => i === me || g === args.steps);
let x = me;
for (;;) {
  if (step < args.steps) {
    for (let q = 0; q < ckpt.parts; q++) if (q !== me) ch.send(q, { n: step + 1, from: me });
    for (let k = 0; k < (args.work ?? 20_000); k++) x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    step++;
  } else {
    await sleep(1); // waiting for the others: let the machine breathe
  }
  take();
  if (step >= args.steps && allIn()) break;
  if (ckpt.due && (await ckpt.safepoint(step)).stop) break;
}
if (!ckpt.stopped) {
  await ckpt.finish(step);
  report({ event: 'part-done', part: me, got: st.got, sum: st.sum, x });
}
