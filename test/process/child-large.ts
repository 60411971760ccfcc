// Child program for the large-state test: checkpoints one big Float64Array
// (MB megabytes of realistic, not constant data) and restores it, reporting
// the peak resident memory above the state itself for each phase.
import { Checkpointer } from '../../src/index.js';

const [dir, mbArg] = process.argv.slice(2);
const MB = Number(mbArg ?? 256);
const n = (MB * 1024 * 1024) / 8;
const field = new Float64Array(n);
for (let i = 0; i < n; i++) field[i] = Math.sin(i / 1000) * 300 + (i % 17) * 0.01;

const maxRss = (): number => process.resourceUsage().maxRSS * 1024; // KiB → bytes
const baseline = maxRss();

const ckpt = new Checkpointer({ store: dir!, compression: { level: 1 } });
let restored: Float64Array | undefined;
ckpt.register({ id: 'field', snapshot: () => ({ field }), restore: (s: { field: Float64Array }) => void (restored = s.field) });
let t = performance.now();
const info = await ckpt.checkpoint({ step: 1 });
const writeMs = performance.now() - t;
const afterWrite = maxRss();

t = performance.now();
await ckpt.restore();
const readMs = performance.now() - t;
const afterRead = maxRss();
await ckpt.close();

let same = restored !== undefined && restored.length === field.length && restored !== field;
for (let i = 0; same && i < n; i += 4099) if (restored![i] !== field[i]) same = false;
if (same && restored![n - 1] !== field[n - 1]) same = false;
console.log(JSON.stringify({
  stateBytes: field.byteLength,
  imageBytes: info.bytes,
  writeExtra: afterWrite - baseline,
  readExtra: afterRead - afterWrite,
  writeMs: Math.round(writeMs),
  readMs: Math.round(readMs),
  same,
}));
