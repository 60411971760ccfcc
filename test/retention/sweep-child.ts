// The child program of the retention kill test: opens the store CKPT_DIR with
// the fault-point hooks and takes one checkpoint (step 7 incremental, 100 injected) with retention
// keepLast(1), then exits. The test SIGKILLs it at a fault point of the sweep
// (CKPT_TEST_KILL_AT).
//
// CKPT_MODE=inject: images refer to each other as CKPT_REFS says (a JSON
// object id → ids; "*" for images not named, such as the one this run
// writes). CKPT_MODE=incremental: a real incremental Checkpointer restores
// the newest image first, so the image it writes refers to it (format 3).
import { writeSync } from 'node:fs';
import { Checkpointer, FsStore } from '../../src/index.js';
import { faultPointHooks } from '../../src/testing/index.js';
import { injectRefs } from '../helpers/inject-refs.js';
import { gridAt } from './sweep-state.js';

const dir = process.env['CKPT_DIR'];
if (dir === undefined) throw new Error('CKPT_DIR is required');
const incremental = process.env['CKPT_MODE'] === 'incremental';
if (!incremental) {
  const table = JSON.parse(process.env['CKPT_REFS'] ?? '{}') as Record<string, string[]>;
  injectRefs({ get: (id: string) => table[id] ?? table['*'] });
}

const ckpt = new Checkpointer({
  store: new FsStore(dir, { hooks: faultPointHooks() }),
  retention: { keepLast: 1 },
  signals: false,
  // The template's chain is 4 (full), 5, 6: the 4th image of the chain (7) refers, the 5th (8) is full.
  ...(incremental ? { incremental: { fullEvery: 4 }, segmentSize: 64 * 1024 } : {}),
});
let step = 0;
ckpt.register({
  id: 'p',
  snapshot: () => ({ step, grid: gridAt(step) }),
  restore: (s) => {
    step = (s as { step: number }).step;
  },
});
ckpt.on('warning', (w) => writeSync(1, `${JSON.stringify({ warning: w.code, message: w.message })}\n`));
if (incremental) await ckpt.restore();
// Incremental: one segment changes (7 refers to 6, 5 and 4); injected: any state.
step = incremental ? 7 : 100;
const info = await ckpt.checkpoint({ step });
writeSync(1, `${JSON.stringify({ committed: info.id })}\n`);
await ckpt.close();
