/**
 * A job worker that drains a queue exactly once, even when it is killed.
 *
 * The queue is a folder of small JSON files (`--make N` creates N of them).
 * Each item is processed (a SHA-256 and word counts of its text). The cursor,
 * the per-item results and a processing log (item ids in the order they were
 * processed) are one provider's state, and `ckpt.loop()` checkpoints it every
 * `--every` items or `--seconds` seconds. SIGTERM or Ctrl-C checkpoint and
 * stop (exit code 75, "try again": a supervisor restarts the job).
 *
 * Exactly once — why a kill at any moment neither loses nor repeats an item:
 * - Processing changes only in-memory state. A kill between "processed" and
 *   "checkpointed" loses that work; the restart restores the last committed
 *   image and redoes those items, so every item is in the committed history
 *   exactly once (the image's step *is* the cursor: the number of items done).
 * - The only external effect, the output file, is written from committed state
 *   only: by the provider's `committed()` hook (the state as captured for that
 *   image) and once more after the loop. Each write goes to a temp file that is
 *   fsynced and renamed over the output, so a reader sees one committed state
 *   or the previous one — never an item that a restart would process again.
 *
 * The worker's lease on the queue (a file renewed by a timer) is a *resource*:
 * a timer cannot be saved in an image. It is paused at checkpoint time and
 * re-created after a restore.
 *
 * Run: node --import tsx examples/worker-loop.ts --in ./queue --make 200 --out ./results.json --dir ./worker-checkpoints
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Checkpointer, type CkptWarning } from 'ckpt';

const { values } = parseArgs({
  options: {
    in: { type: 'string', default: './queue' },
    make: { type: 'string', default: '0' },
    out: { type: 'string', default: './results.json' },
    dir: { type: 'string', default: './worker-checkpoints' },
    every: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '5' },
    persist: { type: 'string', default: 'sync' },
    'delay-ms': { type: 'string', default: '0' },
    trace: { type: 'boolean', default: false },
  },
});
const IN = values.in;
const OUT = values.out;
const EVERY = Number(values.every);
const SECONDS = Number(values.seconds);
const DELAY = Number(values['delay-ms']);
const PERSIST = values.persist === 'async' ? 'async' : 'sync';

function emit(event: Record<string, unknown>): void {
  console.log(JSON.stringify(event));
}

// ---- the queue: a folder of items ------------------------------------------

const WORDS = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega'.split(' ');

/** A tiny seeded PRNG, so `--make` creates the same items on every machine. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Create the items that do not exist yet (each written whole: temp file + rename). */
function makeItems(dir: string, n: number): void {
  mkdirSync(dir, { recursive: true });
  const existing = new Set(readdirSync(dir));
  for (let i = 0; i < n; i++) {
    const id = `item-${String(i).padStart(5, '0')}`;
    if (existing.has(`${id}.json`)) continue;
    const rnd = mulberry32(i + 1);
    const lines: string[] = [];
    for (let l = 0, nl = 1 + Math.floor(rnd() * 6); l < nl; l++) {
      const words: string[] = [];
      for (let w = 0, nw = 3 + Math.floor(rnd() * 12); w < nw; w++) words.push(WORDS[Math.floor(rnd() * WORDS.length)]!);
      lines.push(words.join(' '));
    }
    writeFileSync(join(dir, `${id}.json.tmp`), JSON.stringify({ id, text: lines.join('\n') }));
    renameSync(join(dir, `${id}.json.tmp`), join(dir, `${id}.json`));
  }
}

/** The items in the queue, in processing order. */
function listQueue(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json') && !name.startsWith('.'))
    .map((name) => name.slice(0, -'.json'.length))
    .sort();
}

// ---- the worker's state (everything here is checkpointed) ------------------

interface ItemResult {
  readonly sha256: string;
  readonly lines: number;
  readonly words: number;
  /** The most frequent word (ties: alphabetical first). */
  readonly top: string;
}

interface WorkerState {
  /** The item ids of this job, fixed at the first run. */
  queue: string[];
  /** Item ids in the order they were processed; its length is the cursor. */
  log: string[];
  /** Result per item id. */
  results: Map<string, ItemResult>;
  /** Word counts over every processed item. */
  totals: Map<string, number>;
}

const makeCount = Number(values.make);
if (makeCount > 0) makeItems(IN, makeCount);
if (!existsSync(IN)) {
  console.error(`no queue at ${IN}: pass --make N to create N items there`);
  process.exit(2);
}
const queue = listQueue(IN);
let state: WorkerState = { queue, log: [], results: new Map(), totals: new Map() };

/** Process one item: pure in-memory work on `state`, no external effect. */
async function processItem(id: string): Promise<void> {
  const item = JSON.parse(await readFile(join(IN, `${id}.json`), 'utf8')) as { id: string; text: string };
  const counts = new Map<string, number>();
  for (const word of item.text.toLowerCase().match(/[a-z']+/g) ?? []) counts.set(word, (counts.get(word) ?? 0) + 1);
  let top = '';
  let words = 0;
  for (const [word, n] of counts) {
    words += n;
    const best = counts.get(top) ?? 0;
    if (n > best || (n === best && word < top)) top = word;
    state.totals.set(word, (state.totals.get(word) ?? 0) + n);
  }
  state.results.set(id, { sha256: createHash('sha256').update(item.text).digest('hex'), lines: item.text.split('\n').length, words, top });
  state.log.push(id);
}

/** The output document: a pure function of the state, identical for interrupted and uninterrupted runs. */
function render(s: WorkerState): string {
  const results = s.log.map((id) => [id, s.results.get(id)] as const);
  const totals = [...s.totals].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const digest = createHash('sha256').update(JSON.stringify(results)).digest('hex');
  return `${JSON.stringify({ items: s.queue.length, processed: s.log.length, digest, log: s.log, results: Object.fromEntries(results), totals: Object.fromEntries(totals) }, null, 1)}\n`;
}

/** Replace `path` with `data` atomically and durably: temp file, fsync, rename, fsync the directory. */
async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

// ---- a resource: the lease, renewed by a timer -----------------------------

/**
 * The worker's lease on the queue: a small file a supervisor can watch,
 * renewed every `everyMs` by a timer. Neither the timer nor "who holds the
 * lease" can be restored from an image: the process that held it is gone.
 */
class Lease {
  #timer: NodeJS.Timeout | undefined;
  constructor(
    readonly path: string,
    readonly everyMs: number,
  ) {}

  /** (Re-)acquire the lease for this process and start renewing it. */
  start(): void {
    this.stop();
    this.#write('working');
    this.#timer = setInterval(() => this.#write('working'), this.everyMs);
    this.#timer.unref();
  }

  /** Stop renewing and tell the supervisor why. */
  stop(status?: string): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (status !== undefined) this.#write(status);
  }

  #write(status: string): void {
    writeFileSync(`${this.path}.tmp`, JSON.stringify({ pid: process.pid, status, processed: state.log.length, renewedAt: new Date().toISOString() }));
    renameSync(`${this.path}.tmp`, this.path);
  }
}
const lease = new Lease(join(IN, '.worker.lease'), 200);

// ---- checkpointing ----------------------------------------------------------

const ckpt = new Checkpointer({
  store: values.dir,
  app: 'worker-loop',
  retention: { keepLast: 3 },
  persist: PERSIST,
  signals: { exitCode: 75 },
  lockWaitMs: 5000,
});

/** Output documents rendered at snapshot time, by step, waiting for their image to commit. */
const captured = new Map<number, string>();

ckpt.register<WorkerState>({
  id: 'worker',
  version: 1,
  tree: true, // no object appears twice in this state: skip identity tracking
  snapshot: (ctx) => {
    // With persist 'async' the loop runs on before the commit: render now,
    // from the state this image holds, and publish it once it is committed.
    captured.set(ctx.step ?? -1, render(state));
    return state;
  },
  restore: (s, ctx) => {
    if (s.queue.length !== queue.length || s.queue.some((id, i) => id !== queue[i])) {
      throw new Error(`the queue in ${IN} changed since checkpoint ${ctx.image.id} (${s.queue.length} items then, ${queue.length} now); finish that job with the same input, or use a new --dir`);
    }
    if (s.log.length !== ctx.image.step) throw new Error(`image ${ctx.image.id}: step ${ctx.image.step} but ${s.log.length} items in the log`);
    state = s;
  },
  resume: (ctx) => {
    if (!ctx.ok) captured.delete(ctx.step ?? -1);
  },
  committed: async (info) => {
    // The external effect, from committed state only. Idempotent: the same
    // image always yields the same bytes, so a restart may safely write it again.
    const step = info.step ?? -1;
    const doc = captured.get(step);
    for (const k of captured.keys()) if (k <= step) captured.delete(k);
    if (doc !== undefined) await writeFileAtomic(OUT, doc);
  },
});

ckpt.registerResource({
  id: 'lease',
  beforeCheckpoint: () => lease.stop('checkpointing'), // no timer callback runs while the state is frozen
  afterCheckpoint: () => lease.start(),
  afterRestore: () => lease.start(), // the lease in the image's world belonged to a dead process: take it over
});

ckpt.on('warning', (w: CkptWarning) => console.error(`warning: ${w.message}`));
ckpt.on('restore', (r) => emit({ event: 'resumed', step: r.image.step, image: r.image.id, fellBack: r.fellBack }));
ckpt.on('checkpoint', (info) => emit({ event: 'checkpoint', step: info.step, image: info.id, label: info.label, pauseMs: Number(info.pauseMs.toFixed(2)) }));

lease.start();
emit({ event: 'ready', items: queue.length });
for await (const step of ckpt.loop({ until: queue.length, every: { steps: EVERY, seconds: SECONDS } })) {
  // Invariant: the loop's step (restored from the image) is the cursor.
  if (state.log.length !== step) throw new Error(`cursor ${state.log.length} != loop step ${step}`);
  const id = queue[step]!;
  if (values.trace) emit({ event: 'item', step, id });
  await processItem(id);
  if (DELAY > 0) await sleep(DELAY);
}
// Here the state is committed: by the last checkpoint (end of queue or stop
// signal), or restored from an image that had already finished the queue.
await writeFileAtomic(OUT, render(state));
lease.stop(ckpt.stopping ? 'stopped' : 'done');
await ckpt.close();
emit({ event: 'done', processed: state.log.length, items: queue.length, stopped: ckpt.stopping, digest: (JSON.parse(await readFile(OUT, 'utf8')) as { digest: string }).digest });
