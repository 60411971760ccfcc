// A child program for process tests: a deterministic simulation (typed array +
// Map + step counter) that checkpoints every EVERY steps into DIR, restores on
// start, and prints one JSON line per event. Killed and restarted by the tests.
import { createHash } from 'node:crypto';
import { Checkpointer } from '../../src/index.js';

const [dir, stepsArg, everyArg] = process.argv.slice(2);
const STEPS = Number(stepsArg ?? 300);
const EVERY = Number(everyArg ?? 10);

let field: Float64Array = new Float64Array(50_000).map((_, i) => Math.cos(i));
let stats = new Map<string, number>([['sum', 0]]);
let step = 0;

function advance(): void {
  for (let i = 1; i < field.length; i++) field[i] = field[i]! * 0.999 + field[i - 1]! * 0.001 + step * 1e-9;
  stats.set('sum', (stats.get('sum') ?? 0) + field[step % field.length]!);
}

const ckpt = new Checkpointer({ store: dir!, retention: { keepLast: 2 }, lockWaitMs: 5000 });
ckpt.register({
  id: 'sim',
  snapshot: () => ({ field, stats, step }),
  restore: (s: { field: Float64Array; stats: Map<string, number>; step: number }) => {
    ({ field, stats, step } = s);
  },
});
const res = await ckpt.restore();
console.log(JSON.stringify({ event: res === undefined ? 'fresh' : 'resumed', step, fellBack: res?.fellBack ?? false }));
while (step < STEPS) {
  advance();
  step++;
  if (step % EVERY === 0) {
    await ckpt.checkpoint({ step });
    console.log(JSON.stringify({ event: 'checkpoint', step }));
  }
  // Let the event loop turn so a kill can land anywhere, including inside checkpoint().
  if (step % 3 === 0) await new Promise((r) => setImmediate(r));
}
await ckpt.close();
const hash = createHash('sha256').update(new Uint8Array(field.buffer, field.byteOffset, field.byteLength)).update(String(stats.get('sum'))).digest('hex');
console.log(JSON.stringify({ event: 'done', step, hash }));
