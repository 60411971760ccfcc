/**
 * @module test/helpers/child-process
 *
 * Child programs for the process-level tests: start a node child (a `.ts`
 * entry through tsx, a bundle, or a program that imports the built dist/),
 * follow its stdout and stderr line by line, signal it, and wait until it has
 * exited and its output is read to the end. Every child started here is
 * tracked until then, so a test's afterEach can SIGKILL and reap whatever is
 * still running ({@link reapChildren}): no test leaves a process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** How a child ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** What to start, and where its output goes. */
export interface NodeChildOptions {
  /** The program (default: this node, `process.execPath`). */
  readonly command?: string;
  /** Its arguments (see {@link tsxArgs} for a `.ts` entry). */
  readonly args: readonly string[];
  /** Variables added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory (default: this process's). */
  readonly cwd?: string;
  /** Called with every complete stdout line, without its newline (a line a kill cut short never is). */
  readonly onStdoutLine?: (line: string) => void;
  /** Called with every complete stderr line, without its newline. */
  readonly onStderrLine?: (line: string) => void;
}

/** A started child. */
export interface NodeChild {
  readonly process: ChildProcess;
  /** Everything it wrote to stderr so far. */
  readonly stderr: string;
  /** Resolves once it exited and its output streams closed (every line was seen); rejects if it could not be started. */
  readonly exited: Promise<Exit>;
  /** Send `signal` (default SIGKILL); nothing once it exited. */
  kill(signal?: NodeJS.Signals): void;
  /** Send `signal` (default SIGKILL) `ms` from now, unless it exited by then. Only the first call sets the timer. */
  killAfter(ms: number, signal?: NodeJS.Signals): void;
}

/** Arguments for node to run the TypeScript program `entry` through tsx, with the program's own `args`. */
export function tsxArgs(entry: string, ...args: string[]): string[] {
  return ['--import', 'tsx', entry, ...args];
}

const live = new Set<NodeChild>();

/** Call `onLine` with every complete line of `stream`. */
function followLines(stream: NodeJS.ReadableStream, onText: (text: string) => void, onLine: ((line: string) => void) | undefined): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    onText(text);
    if (onLine === undefined) return;
    buf += text;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(line);
    }
  });
}

/** Start a child program (stdin ignored, stdout and stderr piped), tracked until it is reaped. */
export function startNodeChild(options: NodeChildOptions): NodeChild {
  const proc = spawn(options.command ?? process.execPath, [...options.args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  let stderr = '';
  let timer: NodeJS.Timeout | undefined;
  const child: NodeChild = {
    process: proc,
    get stderr() {
      return stderr;
    },
    exited: new Promise<Exit>((resolve, reject) => {
      proc.on('error', (err) => {
        clearTimeout(timer);
        live.delete(child);
        reject(err);
      });
      proc.on('close', (code, signal) => {
        clearTimeout(timer);
        live.delete(child);
        resolve({ code, signal });
      });
    }),
    kill(signal = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
    killAfter(ms, signal = 'SIGKILL') {
      if (timer === undefined) timer = setTimeout(() => child.kill(signal), ms);
    },
  };
  live.add(child);
  followLines(proc.stdout, () => undefined, options.onStdoutLine);
  followLines(proc.stderr, (text) => (stderr += text), options.onStderrLine);
  return child;
}

/** SIGKILL every child still running and wait until each one is reaped (for afterEach / afterAll). */
export async function reapChildren(): Promise<void> {
  const all = [...live];
  for (const c of all) c.kill('SIGKILL');
  await Promise.all(all.map((c) => c.exited.then(() => undefined, () => undefined)));
}
