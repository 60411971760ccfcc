/**
 * @module test/group/sim-part
 *
 * A worker thread of the group kill test's child program: runs its part of
 * the computation in `sim.ts` in a group loop, and posts its digest to the
 * main thread when it is done (also when a restart finds it already done).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { joinGroup } from '../../src/index.js';
import { advance, digest, initial, type SimState } from './sim.js';

const { steps } = workerData as { steps: number };
const ckpt = await joinGroup();
let state: SimState = initial(ckpt.index);
ckpt.register<SimState>({ id: 'sim', snapshot: () => state, restore: (s) => (state = s) });
const restored = await ckpt.restore();
parentPort!.postMessage({ event: 'part-start', part: ckpt.index, step: restored });
for await (const step of ckpt.loop({ until: steps })) advance(state, step);
if (!ckpt.stopped) parentPort!.postMessage({ event: 'part-done', part: ckpt.index, digest: digest(state) });
