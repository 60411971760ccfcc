/**
 * @module test/group/sim-procs
 *
 * The coordinator program of the child-process group kill test: a
 * CheckpointGroup of `parts` child processes (`sim-proc-part.ts`, forked
 * with binary IPC) over an FsStore in `dir`, checkpointing every 50 ms.
 * Prints one JSON line per event: each child's pid, each part's restored
 * step, each committed group checkpoint, and at the end every part's digest
 * — or, when run() fails (a child was killed), the error, then exits 1.
 *
 * Run: node --import tsx test/group/sim-procs.ts <dir> <parts> <steps>
 */
import { fork } from 'node:child_process';
import { CheckpointGroup } from '../../src/index.js';

const [dir, partsArg, stepsArg] = process.argv.slice(2);
const parts = Number(partsArg);
const emit = (e: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(e)}\n`);

const group = new CheckpointGroup({ store: dir!, every: { seconds: 0.05 } });
group.on('checkpoint', (info) => emit({ event: 'checkpoint', epoch: info.epoch, step: info.image.step }));
const digests: string[] = [];
for (let i = 0; i < parts; i++) {
  const child = fork(new URL('./sim-proc-part.ts', import.meta.url).pathname, [stepsArg!], {
    execArgv: ['--import', 'tsx'],
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  emit({ event: 'child', part: i, pid: child.pid });
  child.on('message', (m: { event: string; part: number; digest?: string }) => {
    if (m.event === 'part-done') digests[m.part] = m.digest!;
    else if (m.event === 'part-start') emit({ ...m, restoredEpoch: group.restoredFrom?.meta['ckpt.group.epoch'] ?? 0 });
  });
  group.addChild(child);
}
try {
  const result = await group.run();
  emit({ event: 'done', stopped: result.stopped, epoch: result.last?.epoch ?? 0, digests });
  if (result.stopped) process.exitCode = result.exitCode ?? 0;
} catch (err) {
  emit({ event: 'failed', code: (err as { code?: string }).code, message: (err as Error).message });
  process.exitCode = 1;
}
