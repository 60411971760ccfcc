/**
 * @module test/docs/check-snippets
 *
 * scripts/check-snippets.mjs fails on a snippet that does not type-check or
 * whose run fails, names the markdown line, and passes a good one. Runs the
 * script against the built dist/ (`npm run build` first).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '..', '..', 'scripts', 'check-snippets.mjs');
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function check(markdown: string): Promise<{ status: number | null; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-snippet-test-'));
  dirs.push(dir);
  const file = join(dir, 'doc.md');
  await writeFile(file, markdown);
  const r = spawnSync(process.execPath, [script, '--files', file], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const fence = '```';

// Each check runs tsc over the snippet: slow on a busy machine (two checks in one test).
describe('check-snippets', { timeout: 300_000 }, () => {
  it('passes a snippet that type-checks and runs', async () => {
    const r = await check(`# ok\n\n${fence}ts\nimport { MemoryStore } from 'ckpt';\nconsole.log(new MemoryStore().description);\n${fence}\n`);
    expect(r.output).toContain('1 of 1 snippets ok');
    expect(r.status).toBe(0);
  });

  it('fails a snippet that does not type-check and names its markdown line', async () => {
    const r = await check(`# broken\n\ntext\n\n${fence}ts\nimport { Checkpointer } from 'ckpt';\nconst n: number = new Checkpointer({ store: '.' });\n${fence}\n`);
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/doc\.md:7:\d+: error TS2322/);
  });

  it('fails a runnable snippet that throws, and skips the run with no-run', async () => {
    const throwing = `${fence}ts\nthrow new Error('boom');\n${fence}\n`;
    const run = await check(`# run\n\n${throwing}`);
    expect(run.status).toBe(1);
    expect(run.output).toContain('boom');
    const noRun = await check(`# no run\n\n<!-- snippet: no-run -->\n${throwing}`);
    expect(noRun.status).toBe(0);
  });

  it('rejects an unknown directive', async () => {
    const r = await check(`<!-- snippet: nope -->\n${fence}ts\nexport {};\n${fence}\n`);
    expect(r.status).toBe(1);
    expect(r.output).toContain('unknown snippet directive');
  });
});
