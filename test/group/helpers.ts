/**
 * @module test/group/helpers
 *
 * Start a CheckpointGroup of real worker threads running `part.ts` (through
 * tsx), or of child processes running `child-part.ts`, collect what every
 * part reports, and make sure no worker or child outlives its test
 * ({@link terminateAll}, {@link reapChildParts}).
 */
import { fork as forkChild, type ChildProcess } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { CheckpointGroup, type CheckpointGroupOptions, type GroupRunResult } from '../../src/index.js';

const PART = new URL('./part.ts', import.meta.url);

/**
 * A worker thread running the TypeScript module `entry`: its first code
 * registers tsx in the new thread (on Node 20 a worker does not take
 * `--import tsx` from `execArgv` for its entry), then imports the module.
 */
export function tsWorker(entry: URL, options: { readonly workerData?: unknown } = {}): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(code, { eval: true, ...options });
}

/** What a part of `part.ts` is told to do (see its module comment). */
export interface PartOptions {
  readonly mode: 'counter' | 'spin' | 'slow' | 'idle' | 'rogue';
  readonly until?: number;
  readonly throwAtEpoch?: number;
  readonly dieAtStep?: number;
  readonly spinLimit?: number;
  readonly blockMs?: number;
  readonly version?: number;
  readonly extraProvider?: string;
  readonly bigLength?: number;
  readonly exitAtEpoch?: number;
  readonly secret?: { readonly apiKey: string; readonly note: string };
}

/** A message a part reported. */
export interface Report {
  readonly part: number;
  readonly type: string;
  readonly [key: string]: unknown;
}

/** A started group. */
export interface Started {
  readonly group: CheckpointGroup;
  readonly workers: readonly Worker[];
  readonly reports: Report[];
  /** `group.run()`, already observed (a rejection is never unhandled). */
  readonly run: Promise<GroupRunResult>;
  /** Resolves with the first report matching `pred` (already reported or later); rejects when the run fails first. */
  next(pred: (r: Report) => boolean): Promise<Report>;
}

const live = new Set<Worker>();

/** Terminate every worker a test started and left running (for afterEach). */
export async function terminateAll(): Promise<void> {
  const all = [...live];
  live.clear();
  await Promise.all(all.map((w) => w.terminate()));
}

/**
 * What the parts of a started group reported: `add` records a report and
 * wakes the waiters it matches; once `run` fails, every waiter (and every
 * later one) is woken with its error, so no test waits for a report that
 * never comes.
 */
function reportBoard(): { reports: Report[]; add: (r: Report) => void; watch: (run: Promise<unknown>) => void; next: Started['next'] } {
  const reports: Report[] = [];
  const waiters: { pred: (r: Report) => boolean; resolve: (r: Report) => void; reject: (err: unknown) => void }[] = [];
  return {
    reports,
    add: (r) => {
      reports.push(r);
      for (const x of [...waiters]) {
        if (x.pred(r)) {
          waiters.splice(waiters.indexOf(x), 1);
          x.resolve(r);
        }
      }
    },
    watch: (run) => {
      run.catch((err: unknown) => {
        for (const x of waiters.splice(0)) x.reject(err);
      });
    },
    next: (pred) => {
      const seen = reports.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => waiters.push({ pred, resolve, reject }));
    },
  };
}

/** Start a group over `store` with one worker per entry of `parts`. */
export function startGroup(options: CheckpointGroupOptions, parts: readonly PartOptions[]): Started {
  const group = new CheckpointGroup({ signals: false, ...options });
  const board = reportBoard();
  const workers = parts.map((p) => {
    const w = tsWorker(PART, { workerData: p });
    live.add(w);
    w.on('exit', () => live.delete(w));
    w.on('message', board.add);
    group.addWorker(w);
    return w;
  });
  const run = group.run();
  board.watch(run);
  return { group, workers, reports: board.reports, run, next: board.next };
}

const CHILD_PART = new URL('./child-part.ts', import.meta.url).pathname;
const liveChildren = new Set<ChildProcess>();

/** A child process running `child-part.ts` with `options`, tracked until it is reaped ({@link reapChildParts}). */
export function forkPart(options: PartOptions, fork: { readonly serialization?: 'json' | 'advanced' } = {}): ChildProcess & { stderrText: () => string } {
  const child = forkChild(CHILD_PART, [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    serialization: fork.serialization ?? 'advanced',
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (t: string) => (stderr += t));
  liveChildren.add(child);
  child.on('close', () => liveChildren.delete(child));
  return Object.assign(child, { stderrText: () => stderr });
}

/** SIGKILL every child process a test started and left running, and wait until each is reaped (for afterEach). */
export async function reapChildParts(): Promise<void> {
  const all = [...liveChildren];
  await Promise.all(
    all.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (!liveChildren.has(c)) return resolve();
          c.once('close', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
}

/** A started group of child processes. */
export interface StartedChildren extends Omit<Started, 'workers'> {
  readonly children: readonly (ChildProcess & { stderrText: () => string })[];
}

/** Start a group over `store` with one child process per entry of `parts`. */
export function startChildGroup(options: CheckpointGroupOptions, parts: readonly PartOptions[], fork: { readonly serialization?: 'json' | 'advanced' } = {}): StartedChildren {
  const group = new CheckpointGroup({ signals: false, ...options });
  const board = reportBoard();
  const children = parts.map((p, i) => {
    const c = forkPart(p, fork);
    c.on('message', (m: { report?: Omit<Report, 'part'> }) => {
      if (m.report !== undefined) board.add({ part: i, ...m.report } as Report);
    });
    group.addChild(c);
    return c;
  });
  const run = group.run();
  board.watch(run);
  return { group, children, reports: board.reports, run, next: board.next };
}
