/**
 * @module test/group/sim-child
 *
 * The child program of the group kill test: a CheckpointGroup of `parts`
 * worker threads (`sim-part.ts`) over an FsStore in `dir`, checkpointing
 * every 50 ms. Prints one JSON line per event: each part's restored step,
 * each committed group checkpoint, and at the end every part's digest (or,
 * after SIGTERM, that it stopped: exit code 143).
 *
 * Run: node --import tsx test/group/sim-child.ts <dir> <parts> <steps>
 */
import { CheckpointGroup } from '../../src/index.js';
import { tsWorker } from './helpers.js';

const [dir, partsArg, stepsArg] = process.argv.slice(2);
const parts = Number(partsArg);
const steps = Number(stepsArg);
const emit = (e: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(e)}\n`);

const group = new CheckpointGroup({ store: dir!, every: { seconds: 0.05 } });
group.on('checkpoint', (info) => emit({ event: 'checkpoint', epoch: info.epoch, step: info.image.step }));
const digests: string[] = [];
for (let i = 0; i < parts; i++) {
  const w = tsWorker(new URL('./sim-part.ts', import.meta.url), { workerData: { steps } });
  w.on('message', (m: { event: string; part: number; digest?: string }) => {
    if (m.event === 'part-done') digests[m.part] = m.digest!;
    else emit({ ...m, restoredEpoch: group.restoredFrom?.meta['ckpt.group.epoch'] ?? 0 });
  });
  group.addWorker(w);
}
const result = await group.run();
emit({ event: 'done', stopped: result.stopped, epoch: result.last?.epoch ?? 0, restoredEpoch: result.restoredFrom?.meta['ckpt.group.epoch'] ?? 0, digests });
if (result.stopped) process.exitCode = result.exitCode ?? 0;
