// A 1 GiB Float64Array checkpoints with only a few segments of extra memory
// on the write side, and restores exactly. Runs in a child process so its
// peak-RSS figures are its own. Size: CKPT_LARGE_MB (default 1024).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MB = Number(process.env['CKPT_LARGE_MB'] ?? 1024);
const CHILD = new URL('./child-large.ts', import.meta.url).pathname;
const MiB = 1024 * 1024;

describe(`large typed-array state (${MB} MiB)`, () => {
  it('writes with bounded extra memory and restores exactly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-large-'));
    try {
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(MB)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('exit', (code, signal) => {
          clearTimeout(timer);
          if (code === 0) resolve(stdout);
          else reject(new Error(`child exited ${code ?? signal}: ${stderr}`));
        });
      });
      const r = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number | boolean>;
      console.log(`large state: ${JSON.stringify(r)}`);
      expect(r['same']).toBe(true);
      expect(r['stateBytes']).toBe(MB * MiB);
      // 4 MiB segments: the writer holds one raw view and one compressed copy at a time.
      expect(r['writeExtra'] as number).toBeLessThan(128 * MiB);
      // The restored array itself, plus a segment or two.
      expect(r['readExtra'] as number).toBeLessThan(MB * MiB + 128 * MiB);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
