// Crash consistency, short version (the long one is `npm run soak`, see
// docs/reliability.md): a child program checkpointing in a loop is SIGKILLed
// at every fault point inside checkpoint() once — after the temp file, during
// segment writes, after the rename before the directory fsync, during
// retention… — and at random moments, then restarted. Every restart must
// restore the newest committed image (or start fresh), and every finished run
// must equal an uninterrupted one. Kills: CKPT_CRASH_KILLS (default 30).
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULT_POINTS } from '../../src/lifecycle/fault-points.js';
import { crashSummary, reapCrashChildren, runCrashSuite } from './crash-harness.js';

const KILLS = Number(process.env['CKPT_CRASH_KILLS'] ?? 30);

afterEach(reapCrashChildren);

describe('crash consistency: SIGKILL inside checkpoint() and at random moments', () => {
  it(`restores the newest committed image after every kill and ends with the uninterrupted result (${KILLS} kills, every fault point)`, async () => {
    const root = await mkdtemp(join(tmpdir(), 'ckpt-crash-'));
    try {
      // lock-created leaves an unreadable lock: the restart waits 5 s for it to turn stale.
      const report = await runCrashSuite({ root, kills: KILLS, lanes: 2, seed: 7, cover: FAULT_POINTS, lockCreatedWeight: 0 });
      console.log(crashSummary(report, 'crash (short)'));
      expect(report.failures).toEqual([]);
      expect(report.kills).toBeGreaterThanOrEqual(Math.max(KILLS, FAULT_POINTS.length));
      for (const p of FAULT_POINTS) expect(report.pointKills[p], `no kill at ${p}`).toBeGreaterThan(0);
      expect(report.restoresVerified).toBeGreaterThan(0);
    } finally {
      await reapCrashChildren();
      await rm(root, { recursive: true, force: true });
    }
  }, 180_000);
});
