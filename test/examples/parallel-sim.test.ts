/**
 * @module test/examples/parallel-sim
 *
 * The worker-threads example (examples/parallel-sim.ts): a run stopped by
 * SIGTERM mid-way exits 143 after one group checkpoint, and running the same
 * command again resumes from it and prints exactly what an uninterrupted run
 * prints. The example starts itself as its worker threads, which on Node 20
 * cannot load a .ts entry through tsx, so it is bundled to one .mjs file
 * (esbuild, with `ckpt` left to resolve to dist/) under examples/.state/.
 * The example imports 'ckpt' (dist/): `npm test` builds it first; when dist/
 * is missing, it is built once here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { reapChildren, startNodeChild } from '../helpers/child-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUNDLE = join(ROOT, 'examples', '.state', `parallel-sim-${String(process.pid)}.mjs`);
const ARGS = ['--parts', '3', '--samples', '20000000', '--batch', '5000'];

interface Line {
  readonly event: string;
  readonly epoch?: number;
  readonly samples?: number;
  readonly pi?: number;
  readonly reason?: string;
}

afterEach(reapChildren);
afterAll(async () => {
  await reapChildren();
  await rm(BUNDLE, { force: true });
});

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  await mkdir(join(ROOT, 'examples', '.state'), { recursive: true });
  await build({ entryPoints: [join(ROOT, 'examples', 'parallel-sim.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: BUNDLE, logLevel: 'error' });
}, 120_000);

async function run(dir: string, extra: string[], onLine?: (line: Line, kill: (s: NodeJS.Signals) => void) => void): Promise<{ lines: Line[]; code: number | null; stderr: string }> {
  const lines: Line[] = [];
  const child = startNodeChild({
    args: [BUNDLE, '--dir', dir, ...ARGS, ...extra],
    cwd: ROOT,
    onStdoutLine: (text) => {
      const line = JSON.parse(text) as Line;
      lines.push(line);
      onLine?.(line, (s) => child.kill(s));
    },
  });
  const exit = await child.exited;
  return { lines, code: exit.code, stderr: child.stderr };
}

describe('examples/parallel-sim', () => {
  it('SIGTERM: one group checkpoint, exit 143; the rerun resumes and prints what an uninterrupted run prints', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ckpt-parallel-sim-'));
    try {
      const ref = await run(join(root, 'ref'), ['--seconds', '1000']);
      expect(ref.code, ref.stderr).toBe(0);
      const refDone = ref.lines.find((l) => l.event === 'done');
      expect(refDone?.samples).toBe(60_000_000);

      const dir = join(root, 'stopped');
      const stopped = await run(dir, ['--seconds', '0.05'], (line, kill) => {
        if (line.event === 'checkpoint' && line.epoch === 1) kill('SIGTERM');
      });
      expect(stopped.code, stopped.stderr).toBe(143);
      const stop = stopped.lines.find((l) => l.event === 'stopped');
      expect(stop?.reason).toBe('SIGTERM');
      expect(stopped.lines.find((l) => l.event === 'done')).toBeUndefined();

      const resumed = await run(dir, ['--seconds', '0.05']);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.lines.find((l) => l.event === 'resumed-from')).toBeDefined();
      expect(resumed.lines.find((l) => l.event === 'done')).toEqual(refDone);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }, 120_000);
});
