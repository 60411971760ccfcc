/**
 * @module test/process/spawn-loop
 *
 * Spawns child-loop.ts (`node --import tsx`) and follows its JSON-line events.
 * Every child is tracked (by test/helpers/child-process) so a test's afterEach
 * can kill and reap it with {@link reapChildren}.
 */
import type { ChildProcess } from 'node:child_process';
import { reapChildren, startNodeChild, tsxArgs, type Exit } from '../helpers/child-process.js';

export { reapChildren };

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
  stopped?: boolean;
  stopReason?: string | null;
  stopExitCode?: number | null;
  exitCode?: number | null;
  listeners?: Record<string, number>;
  before?: Record<string, number>;
}

/** A running child-loop.ts. */
export interface LoopChild {
  readonly process: ChildProcess;
  readonly events: LoopEvent[];
  readonly stderr: string;
  readonly exited: Promise<Exit>;
  /** Resolves with the first event (already seen or future) matching `pred`; rejects if the child exits first or after `timeoutMs`. */
  waitFor(pred: (e: LoopEvent) => boolean, timeoutMs?: number): Promise<LoopEvent>;
  /** Send a signal; returns the wall-clock time it was sent (comparable with the child's `at`). */
  signal(sig: NodeJS.Signals): number;
}

export const wall = (): number => performance.timeOrigin + performance.now();

/** Start child-loop.ts with `env` (CKPT_DIR is required). */
export function startLoopChild(env: Record<string, string>): LoopChild {
  const events: LoopEvent[] = [];
  const waiters: { pred: (e: LoopEvent) => boolean; resolve: (e: LoopEvent) => void }[] = [];
  const node = startNodeChild({
    args: tsxArgs(CHILD),
    env,
    onStdoutLine: (line) => {
      const ev = JSON.parse(line) as LoopEvent;
      events.push(ev);
      for (const w of waiters.splice(0)) {
        if (w.pred(ev)) w.resolve(ev);
        else waiters.push(w);
      }
    },
  });
  const child: LoopChild = {
    process: node.process,
    events,
    get stderr() {
      return node.stderr;
    },
    exited: node.exited,
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
      node.process.kill(sig);
      return at;
    },
  };
  return child;
}
