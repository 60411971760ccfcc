/**
 * Helpers of the CLI tests: build the CLI once if `dist/cli/main.js` is
 * missing, run it as a child process (killed after a timeout, always reaped),
 * make stores with a real Checkpointer, and damage images on purpose.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Checkpointer, type CheckpointerOptions } from '../../src/index.js';
import { openImageFile } from '../../src/format/index.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = join(ROOT, 'dist/cli/main.js');

/** Path of a golden image. */
export function golden(version: 1 | 2, name: string): string {
  return join(ROOT, `test/fixtures/images/v${version}/${name}.image`);
}

/**
 * Build with tsc when the CLI has not been built (npm test builds first).
 * A lock directory keeps parallel test files from building at once.
 */
export async function ensureBuilt(): Promise<void> {
  if (existsSync(MAIN)) return;
  const lock = join(tmpdir(), `ckpt-cli-build-${Buffer.from(ROOT).toString('hex').slice(-24)}`);
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (existsSync(MAIN)) return;
      await sleep(200);
    }
  }
  try {
    if (existsSync(MAIN)) return;
    // tsc emits even with type errors elsewhere in src; what matters here is that the CLI exists.
    const output = await new Promise<string>((resolve) => {
      execFile(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, timeout: 120_000, killSignal: 'SIGKILL' }, (_err, stdout) => resolve(stdout));
    });
    if (!existsSync(MAIN)) throw new Error(`building the CLI failed (npm run build):\n${output}`);
  } finally {
    await rmdir(lock).catch(() => undefined);
  }
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: Record<string, string | undefined>;
  readonly timeoutMs?: number;
}

/** A clean environment: no colour forcing or debug from the caller's shell. */
function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['NO_COLOR', 'FORCE_COLOR', 'CKPT_DEBUG', 'NODE_OPTIONS']) delete env[k];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Run `node dist/cli/main.js …args`; resolves with the exit code and both streams. */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      { cwd: options.cwd ?? ROOT, env: childEnv(options.env), timeout: options.timeoutMs ?? 20_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err === null) return resolve({ code: 0, stdout, stderr });
        if (err.killed || (err.signal ?? null) !== null) return reject(new Error(`ckpt ${args.join(' ')} was killed (${String(err.signal)}; timeout?)\nstderr: ${stderr}`));
        if (typeof err.code === 'number') return resolve({ code: err.code, stdout, stderr });
        reject(new Error(`ckpt ${args.join(' ')} could not run: ${err.message}`, { cause: err }));
      },
    );
  });
}

/** Run and return stdout as raw bytes (msgpack export). */
export function runCliBuffer(args: readonly string[]): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [MAIN, ...args], { cwd: ROOT, env: childEnv(), timeout: 20_000, killSignal: 'SIGKILL', encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err === null) return resolve({ code: 0, stdout, stderr: stderr.toString() });
      if (typeof err.code === 'number' && !err.killed) return resolve({ code: err.code, stdout, stderr: stderr.toString() });
      reject(new Error(`ckpt ${args.join(' ')} could not run: ${err.message}`, { cause: err }));
    });
  });
}

/** Assert-friendly view: no stack trace lines. */
export function hasStack(text: string): boolean {
  return /^\s+at .+\(.+:\d+:\d+\)$/m.test(text) || /^\s+at .+:\d+:\d+$/m.test(text);
}

const dirs: string[] = [];

/** A fresh temp directory, removed by {@link cleanupDirs}. */
export async function tempDir(prefix = 'ckpt-cli-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Remove every temp directory made so far. */
export async function cleanupDirs(): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
}

/** The state the test app checkpoints. */
export interface SimState {
  grid: Float64Array;
  step: number;
}

/**
 * Make a store with `count` images (steps 100, 200, …) of two providers:
 * `grid` (a Float64Array that changes every step, in blob segments) and
 * `config` (plain state that changes at step 300). Image 3 is labelled.
 */
export async function makeStore(dir: string, count = 4, options: Partial<CheckpointerOptions> = {}): Promise<string[]> {
  const ckpt = new Checkpointer({ store: dir, app: 'cli-test', signals: false, segmentSize: 64 * 1024, ...options });
  const sim: SimState = { grid: new Float64Array(20_000), step: 0 };
  let config: Record<string, unknown> = { rate: 0.5, name: 'heat', tags: ['a', 'b'] };
  ckpt.register({ id: 'grid', version: 1, snapshot: () => sim, restore: () => undefined });
  ckpt.register({ id: 'config', version: 2, snapshot: () => config, restore: () => undefined });
  const ids: string[] = [];
  for (let i = 1; i <= count; i++) {
    sim.step = i * 100;
    for (let j = 0; j < sim.grid.length; j++) sim.grid[j] = Math.sin(j / 50 + i);
    if (i === 3) config = { ...config, rate: 0.75 };
    const info = await ckpt.checkpoint({ step: sim.step, ...(i === 3 ? { label: 'nightly' } : {}) });
    ids.push(info.id);
  }
  await ckpt.close();
  return ids;
}

/** A Checkpointer over `dir` with the providers {@link makeStore} uses; `restored` collects what restore() delivered. */
export function appCheckpointer(dir: string): { ckpt: Checkpointer; restored: Map<string, unknown> } {
  const restored = new Map<string, unknown>();
  const ckpt = new Checkpointer({ store: dir, signals: false });
  ckpt.register({ id: 'grid', version: 1, snapshot: () => 0, restore: (s) => void restored.set('grid', s) });
  ckpt.register({ id: 'config', version: 2, snapshot: () => 0, restore: (s) => void restored.set('config', s) });
  return { ckpt, restored };
}

/** Flip bytes in the middle of segment `n` of an image file (its CRC then fails). */
export async function damageSegment(path: string, n: number): Promise<void> {
  const img = await openImageFile(path);
  const seg = img.index.segments[n];
  await img.close();
  if (seg === undefined) throw new Error(`${path} has no segment ${n}`);
  const fh = await open(path, 'r+');
  try {
    const at = seg.offset + Math.floor(seg.storedLength / 2);
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

/** Cut an image file to `bytes`. */
export async function truncateFile(path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.truncate(bytes);
  } finally {
    await fh.close();
  }
}

/** Path of image `id` in store `dir`. */
export function imagePath(dir: string, id: string): string {
  return join(dir, `${id}.ckpt`);
}

/** Parse stdout as JSON (with a useful failure message). */
export function json<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${String(r.code)}):\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}
