/**
 * Counting primes across child processes that survives being stopped: the
 * processes are checkpointed together, as one consistent image.
 *
 * The coordinator forks `--parts` copies of this file (with binary IPC); each
 * child counts the primes in its own slice of [2, `--limit`), a batch of
 * numbers per loop iteration. Every `--seconds` the coordinator asks all
 * children for a group checkpoint and writes one image. SIGTERM — sent to the
 * coordinator, or to any one child, as a scheduler or `kill` may do — takes
 * one more group checkpoint, stops every child and exits 143; running the
 * same command again resumes every child from that image. The final line is
 * a JSON summary: the same numbers whether or not the run was interrupted.
 *
 * Run:
 *   node --import tsx examples/parallel-procs.ts --dir ./procs-checkpoints --parts 3 --limit 3000000
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CheckpointGroup, joinGroup } from 'ckpt';

const BATCH = 2_000;

// ---- a part: runs in a child process ------------------------------------------
async function part(limit: number): Promise<void> {
  const ckpt = await joinGroup();
  // This child's slice of [2, limit), and how far it got.
  const per = Math.ceil((limit - 2) / ckpt.parts);
  const lo = 2 + ckpt.index * per;
  const hi = Math.min(limit, lo + per);
  let state = { primes: 0 };
  ckpt.register<{ primes: number }>({ id: 'primes', snapshot: () => state, restore: (s) => (state = s) });

  const isPrime = (n: number): boolean => {
    if (n % 2 === 0) return n === 2;
    for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
    return true;
  };
  // One step = one batch of numbers; the loop is a safepoint between batches (its step is checkpointed).
  for await (const step of ckpt.loop({ until: Math.ceil((hi - lo) / BATCH) })) {
    const end = Math.min(hi, lo + (step + 1) * BATCH);
    for (let n = lo + step * BATCH; n < end; n++) if (isPrime(n)) state.primes++;
  }
  if (!ckpt.stopped) process.send!({ part: ckpt.index, primes: state.primes });
}

// ---- the coordinator -------------------------------------------------------------
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: './procs-checkpoints' },
      parts: { type: 'string', default: '3' },
      limit: { type: 'string', default: '3000000' },
      seconds: { type: 'string', default: '2' },
    },
  });
  const group = new CheckpointGroup({ store: values.dir, every: { seconds: Number(values.seconds) }, retention: { keepLast: 3 }, app: 'parallel-procs' });
  group.on('checkpoint', (info) => console.log(JSON.stringify({ event: 'checkpoint', epoch: info.epoch, image: info.image.id })));
  group.on('checkpointFailed', (err) => console.error(`group checkpoint failed: ${err.message}`));

  const counts: number[] = [];
  for (let i = 0; i < Number(values.parts); i++) {
    // The same file, as a part; IPC must carry binary data.
    const child = fork(fileURLToPath(import.meta.url), ['--part', values.limit], { serialization: 'advanced' });
    console.log(JSON.stringify({ event: 'part', index: i, pid: child.pid }));
    child.on('message', (m: { part?: number; primes?: number }) => {
      if (m.part !== undefined && m.primes !== undefined) counts[m.part] = m.primes;
    });
    group.addChild(child);
  }
  const result = await group.run();
  if (result.restoredFrom !== null) console.log(JSON.stringify({ event: 'resumed-from', image: result.restoredFrom.id }));
  if (result.stopped) {
    console.log(JSON.stringify({ event: 'stopped', reason: result.reason, epoch: result.last?.epoch }));
    process.exitCode = result.exitCode ?? 0;
    return;
  }
  console.log(JSON.stringify({ event: 'done', parts: counts.length, primes: counts.reduce((a, b) => a + b, 0) }));
}

if (process.argv[2] === '--part') await part(Number(process.argv[3]));
else await main();
