/**
 * @module test/process/deep-restore
 *
 * Whatever `checkpoint()` commits, a fresh process with default settings
 * restores: a state nested exactly the default `maxDepth` deep, of every
 * container kind (array, plain object, null-prototype object, Map by value
 * and by key, Set, registered class instance, a mixed chain), in tree mode
 * and in identity mode (with a cycle from the bottom back to the root), is
 * checkpointed into a real FsStore and restored by a new `node` process
 * started without flags — that process's default stack must suffice.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { DEFAULT_MAX_DEPTH } from '../../src/image/constants.js';
import { reapChildren, startNodeChild, tsxArgs } from '../helpers/child-process.js';

const CHILD = new URL('./deep-restore-child.ts', import.meta.url).pathname;

afterEach(reapChildren);

/** Run the child for one phase and return its JSON report line. */
async function run(dir: string, phase: 'checkpoint' | 'restore', nodeFlags: readonly string[]): Promise<Record<string, unknown>> {
  const lines: string[] = [];
  const child = startNodeChild({ args: [...nodeFlags, ...tsxArgs(CHILD, dir, phase, String(DEFAULT_MAX_DEPTH))], onStdoutLine: (l) => lines.push(l) });
  child.killAfter(150_000);
  const exit = await child.exited;
  expect(exit, child.stderr).toEqual({ code: 0, signal: null });
  const last = lines.at(-1);
  expect(last, child.stderr).toBeDefined();
  return JSON.parse(last!) as Record<string, unknown>;
}

describe(`a state nested maxDepth (${String(DEFAULT_MAX_DEPTH)}) deep`, () => {
  it('is restored by a fresh process with the default stack, for every container kind, in both modes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-deep-'));
    try {
      // Both processes are started exactly as a user would start them: no
      // flags, the default stack.
      const written = await run(dir, 'checkpoint', []);
      expect(written).toEqual({ ok: true });
      const read = await run(dir, 'restore', []);
      const ids = ['array', 'object', 'nullproto', 'mapvalue', 'mapkey', 'set', 'class', 'mixed'].flatMap((k) => [`${k}-tree`, `${k}-identity`]);
      expect(read).toEqual({ ok: true, results: Object.fromEntries(ids.map((id) => [id, 'ok'])) });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 320_000);
});
