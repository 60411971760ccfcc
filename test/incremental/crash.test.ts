// Crash consistency of incremental images (short version; the long one is
// `npm run soak -- --incremental xor`): the crash suite's child checkpoints
// incrementally (references and XOR deltas, retention keepLast 2, sync and
// async persist) over a sparsely changing field and is SIGKILLed at every
// fault point once — inside the write, the commit and the retention sweep —
// and at random moments, then restarted. Before every restart every listed
// image must verify with its references (holders present, uuids and
// checksums), the restart must restore the newest image without falling
// back, and a finished run must equal an uninterrupted one and hold exactly
// the newest two images and what they need. Kills: CKPT_INCR_CRASH_KILLS.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULT_POINTS } from '../../src/lifecycle/fault-points.js';
import { crashSummary, reapCrashChildren, runCrashSuite } from '../reliability/crash-harness.js';

const KILLS = Number(process.env['CKPT_INCR_CRASH_KILLS'] ?? 30);

afterEach(reapCrashChildren);

describe('crash consistency of incremental images: SIGKILL inside checkpoint() and retention, and at random moments', () => {
  it.each([
    { delta: 'xor' as const, fullEvery: 4, seed: 11 },
    { delta: 'segments' as const, fullEvery: 16, seed: 12 },
  ])(
    `delta $delta, fullEvery $fullEvery: every listed image verifies with its references, every restart restores the newest (${KILLS} kills, every fault point)`,
    async ({ delta, fullEvery, seed }) => {
      const root = await mkdtemp(join(tmpdir(), 'ckpt-incr-crash-'));
      try {
        const report = await runCrashSuite({ root, kills: KILLS, lanes: 2, seed, steps: 60, every: 3, cover: FAULT_POINTS, lockCreatedWeight: 0, incremental: { delta, fullEvery } });
        console.log(`${crashSummary(report, `incremental crash (${delta})`)}; ${report.incrementalImagesVerified} incremental images verified, ${report.pinnedWarnings} pinned warnings`);
        expect(report.failures).toEqual([]);
        expect(report.kills).toBeGreaterThanOrEqual(Math.max(KILLS, FAULT_POINTS.length));
        for (const p of FAULT_POINTS) expect(report.pointKills[p], `no kill at ${p}`).toBeGreaterThan(0);
        expect(report.restoresVerified).toBeGreaterThan(0);
        expect(report.incrementalImagesVerified).toBeGreaterThan(0);
      } finally {
        await reapCrashChildren();
        await rm(root, { recursive: true, force: true });
      }
    },
    300_000,
  );
});
