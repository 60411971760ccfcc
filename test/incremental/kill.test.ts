// A kill at any point of an incremental checkpoint leaves every listed image
// restorable: a child program taking incremental checkpoints (references and
// XOR deltas, sync and async persist) is SIGKILLed at fault points inside
// checkpoint(), started again (it restores and continues the chain from the
// restored image), and then every image in the store must restore to exactly
// the state of its step.
import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { FsStore } from '../../src/index.js';
import { removeTempDirs, tempDir } from '../checkpointer/helpers.js';
import { reapChildren, startNodeChild, tsxArgs } from '../helpers/child-process.js';
import { deepDiff } from '../helpers/deep-equal.js';
import { indexOf, restoreCopy } from './helpers.js';
import { KILL_KEYS, stateAt } from './kill-sim.js';
import { SegmentFlag } from '../../src/image/index-model.js';

afterEach(async () => {
  await reapChildren();
  await removeTempDirs();
});

const CHILD = fileURLToPath(new URL('./kill-child.ts', import.meta.url));
const STEPS = 7;

interface Run {
  readonly signal: NodeJS.Signals | null;
  readonly code: number | null;
  readonly events: Record<string, unknown>[];
  readonly stderr: string;
}

async function run(dir: string, env: Record<string, string>): Promise<Run> {
  const events: Record<string, unknown>[] = [];
  const child = startNodeChild({
    args: tsxArgs(CHILD),
    env: { CKPT_DIR: dir, CKPT_STEPS: String(STEPS), ...env },
    onStdoutLine: (l) => void events.push(JSON.parse(l) as Record<string, unknown>),
  });
  child.killAfter(120_000);
  const exit = await child.exited;
  return { ...exit, events, stderr: child.stderr };
}

// Two of the cases encrypted (format 5: references sealed under their holder's key).
const CASES: { point: string; delta: 'segments' | 'xor'; persist: 'sync' | 'async'; encrypted: boolean }[] = [
  { point: 'segment-write:9', delta: 'segments', persist: 'sync', encrypted: false },
  { point: 'after-write:3', delta: 'xor', persist: 'sync', encrypted: true },
  { point: 'after-fsync:3', delta: 'segments', persist: 'async', encrypted: false },
  { point: 'after-rename:4', delta: 'xor', persist: 'async', encrypted: true },
  { point: 'after-commit:3', delta: 'xor', persist: 'sync', encrypted: false },
];

describe('kill during an incremental checkpoint', () => {
  it.each(CASES)('SIGKILL at $point ($delta, $persist, encrypted $encrypted): every listed image restores to the state of its step', async ({ point, delta, persist, encrypted }) => {
    const dir = await tempDir('ckpt-incr-kill-');
    const env = { CKPT_DELTA: delta, CKPT_PERSIST: persist, CKPT_ENCRYPT: encrypted ? '1' : '0' };
    const keys = encrypted ? KILL_KEYS : undefined;
    const killed = await run(dir, { ...env, CKPT_TEST_KILL_AT: point });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const committedBefore = killed.events.filter((e) => e['e'] === 'committed');
    // At least one incremental image was committed before the kill (or the kill hit the first ones).
    const again = await run(dir, env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.events.at(-1)).toEqual({ e: 'done' });
    const start = again.events[0]!;
    const lastBefore = committedBefore.at(-1);
    // The restart restored the newest image committed before the kill (or a newer one whose commit the kill cut short of reporting).
    if (lastBefore !== undefined) expect(String(start['id']) >= String(lastBefore['id'])).toBe(true);
    const after = again.events.filter((e) => e['e'] === 'committed');
    const store = new FsStore(dir);
    // The first image after the restart is written against the restored one (when not full).
    if (start['id'] !== null && after.length > 0 && after[0]!['kind'] === 'incremental') {
      expect((await indexOf(store, String(after[0]!['id']), keys)).manifest.parent).toBe(start['id']);
    }
    const listed = await store.list();
    expect(listed.length).toBeGreaterThanOrEqual(STEPS - 1);
    let incremental = 0;
    for (const { id } of listed) {
      const index = await indexOf(store, id, keys);
      if ((index.refs?.length ?? 0) > 0) incremental++;
      expect(index.segments.every((s) => ((s.flags & SegmentFlag.ENCRYPTED) !== 0) === encrypted), `image ${id}`).toBe(true);
      const step = index.manifest.step!;
      expect(deepDiff(await restoreCopy(dir, id, keys), stateAt(step), false), `image ${id} (step ${step})`).toBeUndefined();
    }
    expect(incremental).toBeGreaterThan(0);
  }, 240_000);
});
