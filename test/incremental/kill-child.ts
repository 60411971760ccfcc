// The child program of the incremental kill test: restores the newest image
// of CKPT_DIR (if any), then advances the state of kill-sim.ts and takes an
// incremental checkpoint after every step up to CKPT_STEPS, printing one JSON
// line per committed image. The test SIGKILLs it at a fault point
// (CKPT_TEST_KILL_AT) and starts it again. CKPT_ENCRYPT=1: encrypted images
// (format 5) under KILL_KEYS.
import { writeSync } from 'node:fs';
import { FsStore } from '../../src/index.js';
import { faultPointHooks } from '../../src/testing/index.js';
import { app } from './helpers.js';
import { advance, KILL_KEYS, stateAt } from './kill-sim.js';

const dir = process.env['CKPT_DIR'];
if (dir === undefined) throw new Error('CKPT_DIR is required');
const steps = Number(process.env['CKPT_STEPS'] ?? 10);
const delta = process.env['CKPT_DELTA'] === 'xor' ? 'xor' : 'segments';
const persist = process.env['CKPT_PERSIST'] === 'async' ? 'async' : 'sync';
const encryption = process.env['CKPT_ENCRYPT'] === '1' ? KILL_KEYS : undefined;

const emit = (e: Record<string, unknown>): void => void writeSync(1, `${JSON.stringify(e)}\n`);
const box = { state: stateAt(0) };
const ckpt = app(new FsStore(dir, { hooks: faultPointHooks() }), box, { incremental: { delta, fullEvery: 5 }, persist, lockWaitMs: 15_000, ...(encryption === undefined ? {} : { encryption }) });
const r = await ckpt.restore();
emit({ e: 'start', id: r?.image.id ?? null, step: box.state.counter.step });
while (box.state.counter.step < steps) {
  advance(box.state);
  const info = await ckpt.checkpoint({ step: box.state.counter.step });
  emit({ e: 'committed', id: info.id, step: info.step, kind: info.kind, references: info.references });
}
await ckpt.close();
emit({ e: 'done' });
