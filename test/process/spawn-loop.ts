// Spawns child-loop.ts (`node --import tsx`) and follows its JSON-line events.
// Every child is tracked so a test's afterEach can kill and reap it.
import { spawn, type ChildProcess } from 'node:child_process';

const CHILD = new URL('./child-loop.ts', import.meta.url).pathname;

/** One line printed by child-loop.ts. */
export interface LoopEvent {
  event: 'running' | 'restored' | 'snapshot' | 'checkpoint' | 'progress' | 'done';
  step: number;
  label?: string | null;
  id?: string;
  at?: number;
  hash?: string;
  stateStep?: number | null;
  fellBack?: boolean;
  stopping?: boolean;
  exitCode?: number | null;
  listeners?: Record<string, number>;
  before?: Record<string, number>;
}

/** How a child ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running child-loop.ts. */
export interface LoopChild {
  readonly process: ChildProcess;
  readonly events: LoopEvent[];
  stderr: string;
  readonly exited: Promise<Exit>;
  /** Resolves with the first event (already seen or future) matching `pred`; rejects if the child exits first or after `timeoutMs`. */
  waitFor(pred: (e: LoopEvent) => boolean, timeoutMs?: number): Promise<LoopEvent>;
  /** Send a signal; returns the wall-clock time it was sent (comparable with the child's `at`). */
  signal(sig: NodeJS.Signals): number;
}

const live = new Set<LoopChild>();

/** Kill (SIGKILL) every child still running and wait until each is reaped. */
export async function reapChildren(): Promise<void> {
  const all = [...live];
  live.clear();
  for (const c of all) if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL');
  await Promise.all(all.map((c) => c.exited));
}

export const wall = (): number => performance.timeOrigin + performance.now();

/** Start child-loop.ts with `env` (CKPT_DIR is required). */
export function startLoopChild(env: Record<string, string>): LoopChild {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const events: LoopEvent[] = [];
  const waiters: { pred: (e: LoopEvent) => boolean; resolve: (e: LoopEvent) => void }[] = [];
  let buf = '';
  const child: LoopChild = {
    process: proc,
    events,
    stderr: '',
    exited: new Promise<Exit>((resolve, reject) => {
      proc.on('error', reject);
      proc.on('close', (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      });
    }),
    waitFor(pred, timeoutMs = 15_000) {
      const seen = events.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for an event; got ${JSON.stringify(events.slice(-5))}; stderr: ${child.stderr}`)), timeoutMs);
        const w = {
          pred,
          resolve: (e: LoopEvent) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        waiters.push(w);
        void child.exited.then((x) => {
          clearTimeout(timer);
          reject(new Error(`child exited (${JSON.stringify(x)}) before the event; last events ${JSON.stringify(events.slice(-5))}; stderr: ${child.stderr}`));
        });
      });
    },
    signal(sig) {
      const at = wall();
      proc.kill(sig);
      return at;
    },
  };
  live.add(child);
  proc.stderr.on('data', (d: Buffer) => (child.stderr += d.toString()));
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const ev = JSON.parse(line) as LoopEvent;
      events.push(ev);
      for (const w of waiters.splice(0)) {
        if (w.pred(ev)) w.resolve(ev);
        else waiters.push(w);
      }
    }
  });
  return child;
}
