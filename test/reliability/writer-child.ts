// The writer process of the concurrency suite: checkpoints a counter and a
// Float64Array filled with that counter (so a torn image would show) into
// CKPT_DIR in a loop, prints one JSON line per event, and stops cleanly when
// its stdin closes (or after CKPT_COUNT checkpoints).
import { writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Checkpointer, isCkptError } from '../../src/index.js';

const env = process.env;
const dir = env['CKPT_DIR']!;
const interval = Number(env['CKPT_INTERVAL_MS'] ?? 0);
const count = Number(env['CKPT_COUNT'] ?? Infinity);
const size = Number(env['CKPT_SIZE'] ?? 20_000);
const emit = (e: Record<string, unknown>): void => void writeSync(1, JSON.stringify(e) + '\n');

let stop = false;
process.stdin.on('end', () => (stop = true));
process.stdin.on('data', () => undefined);
process.stdin.resume();

const ckpt = new Checkpointer({
  store: dir,
  retention: { keepLast: Number(env['CKPT_KEEP'] ?? 2) },
  lockWaitMs: Number(env['CKPT_LOCK_WAIT_MS'] ?? 0),
  segmentSize: 64 * 1024,
  signals: false,
});
let n = 0;
let data: Float64Array = new Float64Array(size);
ckpt.register<{ n: number; data: Float64Array }>({
  id: 'data',
  snapshot: () => ({ n, data }),
  restore: (s) => {
    n = s.n;
    data = s.data;
  },
});
const res = await ckpt.restore();
emit({ e: 'ready', pid: process.pid, restored: res?.image.id ?? null, n });
try {
  while (!stop && n < count) {
    n++;
    data.fill(n);
    const info = await ckpt.checkpoint({ step: n });
    emit({ e: 'committed', id: info.id, n });
    if (interval > 0) await sleep(interval);
    else await new Promise((r) => setImmediate(r));
  }
  await ckpt.close();
  emit({ e: 'closed', n });
} catch (err) {
  emit({ e: 'error', code: isCkptError(err) ? err.code : 'non-ckpt', message: String(err) });
  process.exitCode = 2;
}
