/**
 * @module test/group/sim-proc-part
 *
 * A child process of the child-process group kill test: runs its part of
 * the computation in `sim.ts` in a group loop and sends the coordinator its
 * digest when it is done (also when a restart finds it already done).
 *
 * Run (forked by sim-procs.ts): node --import tsx test/group/sim-proc-part.ts <steps>
 */
import { joinGroup } from '../../src/index.js';
import { advance, digest, initial, type SimState } from './sim.js';

const steps = Number(process.argv[2]);
const ckpt = await joinGroup();
let state: SimState = initial(ckpt.index);
ckpt.register<SimState>({ id: 'sim', snapshot: () => state, restore: (s) => (state = s) });
const restored = await ckpt.restore();
process.send!({ event: 'part-start', part: ckpt.index, step: restored, pid: process.pid });
for await (const step of ckpt.loop({ until: steps })) advance(state, step);
if (!ckpt.stopped) process.send!({ event: 'part-done', part: ckpt.index, digest: digest(state) });
