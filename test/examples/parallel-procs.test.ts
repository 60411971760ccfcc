/**
 * @module test/examples/parallel-procs
 *
 * The child-processes example (examples/parallel-procs.ts): SIGTERM sent to
 * one of its children (not to the coordinator) makes the group take one
 * checkpoint and stop every part, exit 143; running the same command again
 * resumes from it and prints exactly what an uninterrupted run prints. The
 * example imports 'ckpt' (dist/): `npm test` builds it first; when dist/ is
 * missing, it is built once here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { reapChildren, startNodeChild, tsxArgs } from '../helpers/child-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'parallel-procs.ts');
const ARGS = ['--parts', '3', '--limit', '10000000'];

interface Line {
  readonly event: string;
  readonly index?: number;
  readonly pid?: number;
  readonly epoch?: number;
  readonly primes?: number;
  readonly reason?: string;
}

/** Pids of the example's children, SIGKILLed after a test if still running. */
const pids = new Set<number>();
afterEach(async () => {
  await reapChildren();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  pids.clear();
});

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
}, 120_000);

async function run(dir: string, extra: string[], onLine?: (line: Line) => void): Promise<{ lines: Line[]; code: number | null; stderr: string }> {
  const lines: Line[] = [];
  const child = startNodeChild({
    args: tsxArgs(EXAMPLE, '--dir', dir, ...ARGS, ...extra),
    cwd: ROOT,
    onStdoutLine: (text) => {
      const line = JSON.parse(text) as Line;
      lines.push(line);
      if (line.event === 'part') pids.add(line.pid!);
      onLine?.(line);
    },
  });
  const exit = await child.exited;
  return { lines, code: exit.code, stderr: child.stderr };
}

describe('examples/parallel-procs', () => {
  it('SIGTERM to one child: one group checkpoint, exit 143; the rerun resumes and prints what an uninterrupted run prints', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ckpt-parallel-procs-'));
    try {
      const ref = await run(join(root, 'ref'), ['--seconds', '1000']);
      expect(ref.code, ref.stderr).toBe(0);
      const refDone = ref.lines.find((l) => l.event === 'done');
      expect(refDone).toEqual({ event: 'done', parts: 3, primes: 664_579 });

      const dir = join(root, 'stopped');
      const children: Line[] = [];
      const stopped = await run(dir, ['--seconds', '0.05'], (line) => {
        if (line.event === 'checkpoint' && line.epoch === 3) {
          const child = children.find((l) => l.index === 1)!;
          process.kill(child.pid!, 'SIGTERM');
        }
        if (line.event === 'part') children.push(line);
      });
      expect(stopped.code, stopped.stderr).toBe(143);
      expect(stopped.lines.find((l) => l.event === 'stopped')?.reason).toBe('SIGTERM in part 1');
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
