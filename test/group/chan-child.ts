/**
 * @module test/group/chan-child
 *
 * The child program of the channel kill test: a CheckpointGroup of `parts`
 * worker threads running `chan-part.ts` over an FsStore in `dir`,
 * checkpointing every 30 ms. Prints one JSON line per event: each part's
 * restored step, each committed group checkpoint, and at the end what every
 * part received. A failed group checkpoint ends it with exit code 1.
 *
 * Run: node --import tsx test/group/chan-child.ts <dir> <parts> <steps>
 */
import { CheckpointGroup } from '../../src/index.js';
import { tsWorker } from './helpers.js';

const [dir, partsArg, stepsArg] = process.argv.slice(2);
const parts = Number(partsArg);
const steps = Number(stepsArg);
const emit = (e: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(e)}\n`);

const group = new CheckpointGroup({ store: dir!, every: { seconds: 0.03 }, signals: false });
group.on('checkpoint', (info) => emit({ event: 'checkpoint', epoch: info.epoch, step: info.image.step }));
// No group checkpoint may fail here: a cut the channels got wrong fails its checkpoint.
group.on('checkpointFailed', (err) => {
  process.stderr.write(`checkpoint failed: ${err.code}: ${err.message}\n`);
  process.exit(1);
});
const results: unknown[] = [];
for (let i = 0; i < parts; i++) {
  const w = tsWorker(new URL('./chan-part.ts', import.meta.url), { workerData: { steps } });
  w.on('message', (m: { event: string; part: number }) => {
    if (m.event === 'part-done') results[m.part] = m;
    else emit({ ...m, restoredEpoch: group.restoredFrom?.meta['ckpt.group.epoch'] ?? 0 });
  });
  group.addWorker(w);
}
const result = await group.run();
emit({ event: 'done', epoch: result.last?.epoch ?? 0, results });
