/**
 * @module bench/lib/group-part
 *
 * A part of the groups bench (a worker thread): holds `elements` float64
 * cells (a smooth field with low-order noise: realistic, compressible) as a
 * `range` shard, works on them in small chunks with a short sleep between
 * (so idle parts do not take the cores from what is being measured), and
 * reports the pause of every group checkpoint it takes part in — the time
 * its safepoint took — to the main thread.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { joinGroup } from 'ckpt';

const { elements } = workerData as { elements: number };
const ckpt = await joinGroup();
const cells = new Float64Array(elements);
for (let i = 0; i < elements; i++) cells[i] = Math.sin((i + ckpt.index * 977) * 1e-4) * 100 + (((i * 2654435761) >>> 0) % 1000) * 1e-6;
ckpt.register<Float64Array>({ id: 'cells', shard: { kind: 'range' }, snapshot: () => cells, restore: () => undefined });
await ckpt.restore();
parentPort!.postMessage({ type: 'ready', part: ckpt.index });
let step = 0;
for (;;) {
  for (let k = 0; k < 10_000; k++) cells[(step * 10_000 + k) % elements]! += 1e-9;
  step++;
  if (ckpt.due) {
    const epoch = ckpt.epoch + 1;
    const t = performance.now();
    const r = await ckpt.safepoint(step);
    parentPort!.postMessage({ type: 'pause', part: ckpt.index, epoch, ms: performance.now() - t });
    if (r.stop) break;
  }
  await sleep(1);
}
