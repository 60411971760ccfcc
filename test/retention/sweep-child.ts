// The child program of the retention kill test: opens the store CKPT_DIR with
// the fault-point hooks, makes its images refer to each other as CKPT_REFS
// says (a JSON object id → ids; "*" for images not named, such as the one
// this run writes), takes one checkpoint with retention keepLast(1) and
// exits. The test SIGKILLs it at a fault point of the sweep (CKPT_TEST_KILL_AT).
import { writeSync } from 'node:fs';
import { Checkpointer, FsStore } from '../../src/index.js';
import { faultPointHooks } from '../../src/testing/index.js';
import { injectRefs } from '../helpers/inject-refs.js';

const dir = process.env['CKPT_DIR'];
if (dir === undefined) throw new Error('CKPT_DIR is required');
const table = JSON.parse(process.env['CKPT_REFS'] ?? '{}') as Record<string, string[]>;
injectRefs({ get: (id: string) => table[id] ?? table['*'] });

const ckpt = new Checkpointer({
  store: new FsStore(dir, { hooks: faultPointHooks() }),
  retention: { keepLast: 1 },
  signals: false,
});
ckpt.register({ id: 'p', snapshot: () => ({ data: new Uint8Array(4096).fill(7) }), restore: () => undefined });
ckpt.on('warning', (w) => writeSync(1, `${JSON.stringify({ warning: w.code, message: w.message })}\n`));
const info = await ckpt.checkpoint({ step: 100 });
writeSync(1, `${JSON.stringify({ committed: info.id })}\n`);
await ckpt.close();
