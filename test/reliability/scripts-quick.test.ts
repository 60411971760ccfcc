// The long reliability scripts (`npm run corruption`, `npm run fuzz`) run in
// CI in a quick mode, so a change that breaks them — or makes them find a
// failure — shows in the normal suite, not only in a long run.
import { afterEach, describe, expect, it } from 'vitest';
import { reapChildren, startNodeChild, tsxArgs } from '../helpers/child-process.js';

afterEach(reapChildren);

async function runScript(entry: string, ...args: string[]): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  const lines: string[] = [];
  const child = startNodeChild({ args: tsxArgs(entry, ...args), onStdoutLine: (l) => lines.push(l) });
  const exit = await child.exited;
  return { code: exit.code, lines, stderr: child.stderr };
}

describe('long reliability scripts, quick mode', () => {
  it('scripts/corruption.ts --quick: mutations read, restores fell back, allocation guard on, 0 failures, exit 0', async () => {
    const r = await runScript('scripts/corruption.ts', '--quick');
    expect(r.code, r.stderr).toBe(0);
    const summary = r.lines.find((l) => l.startsWith('corruption:'));
    expect(summary).toMatch(/, 0 failures, largest allocation [1-9]\d* bytes, most for one image [1-9]\d* bytes/);
    expect(Number(/ (\d+) mutations read/.exec(summary!)?.[1])).toBeGreaterThan(1000);
    const [, restores, fellBack] = /(\d+) restores of a damaged newest image \((\d+) fell back correctly\)/.exec(summary!) ?? [];
    expect(Number(restores)).toBeGreaterThan(20);
    expect(fellBack).toBe(restores);
  }, 120_000);

  it('scripts/fuzz.ts with a few hundred inputs on one worker: 0 failures, exit 0', async () => {
    const r = await runScript('scripts/fuzz.ts', '--inputs', '300', '--workers', '1', '--seed', '7');
    expect(r.code, r.stderr).toBe(0);
    const summary = r.lines.find((l) => l.startsWith('fuzz:'));
    expect(summary).toMatch(/^fuzz: 300 inputs .* 0 failures/);
  }, 120_000);
});
