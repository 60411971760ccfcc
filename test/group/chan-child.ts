/**
 * @module test/group/chan-child
 *
 * The child program of the channel kill test: a CheckpointGroup of `parts`
 * worker threads (or, with `children`, child processes) running
 * `chan-part.ts` over an FsStore in `dir`,
 * checkpointing every 30 ms. Prints one JSON line per event: each part's
 * restored step, each committed group checkpoint, and at the end what every
 * part received. A failed group checkpoint ends it with exit code 1.
 *
 * Run: node --import tsx test/group/chan-child.ts <dir> <parts> <steps> [threads|children] [work per step]
 */
import { fork } from 'node:child_process';
import { CheckpointGroup } from '../../src/index.js';
import { tsWorker } from './helpers.js';

const [dir, partsArg, stepsArg, mode, workArg] = process.argv.slice(2);
const work = workArg === undefined ? undefined : Number(workArg);
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
const PART = new URL('./chan-part.ts', import.meta.url);
const onReport = (m: { event: string; part: number }): void => {
  if (m.event === 'part-done') results[m.part] = m;
  else emit({ ...m, restoredEpoch: group.restoredFrom?.meta['ckpt.group.epoch'] ?? 0 });
};
for (let i = 0; i < parts; i++) {
  if (mode === 'children') {
    const c = fork(PART.pathname, [JSON.stringify({ steps, ...(work === undefined ? {} : { work }) })], { execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    c.on('message', (m: { report?: { event: string; part: number } }) => m.report !== undefined && onReport(m.report));
    group.addChild(c);
    continue;
  }
  const w = tsWorker(PART, { workerData: { steps, ...(work === undefined ? {} : { work }) } });
  w.on('message', onReport);
  group.addWorker(w);
}
const result = await group.run();
emit({ event: 'done', epoch: result.last?.epoch ?? 0, results });
