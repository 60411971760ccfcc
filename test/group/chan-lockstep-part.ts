/**
 * @module test/group/chan-lockstep-part
 *
 * A part of the lockstep channel test (a worker thread): at every step it
 * sends the step number to the other part and then waits, in the middle of
 * the iteration, until the other part's number for that step arrived — the
 * pattern docs/groups.md warns about. Reports how many numbers it got.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { joinGroup } from '../../src/index.js';

const { until } = workerData as { until: number };
const ckpt = await joinGroup();
const ch = ckpt.channel();
const other = 1 - ckpt.index;
let got = 0;
ckpt.register<number>({ id: 'got', snapshot: () => got, restore: (s) => (got = s) });
for await (const step of ckpt.loop({ until })) {
  ch.send(other, step + 1);
  // Waits mid-iteration (no safepoint) for the other part's number of this step.
  for (;;) {
    const msgs = ch.receive();
    for (const m of msgs) if (m.data === got + 1) got++;
    if (got >= step + 1) break;
    await sleep(1);
  }
}
parentPort!.postMessage({ part: ckpt.index, got });
