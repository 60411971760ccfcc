/**
 * @module test/group/barrier
 *
 * Group checkpoints with real worker threads: every part captures every
 * epoch exactly once and the image holds them all at that epoch; a stop
 * captures once more and ends every part's loop; the next run restores each
 * part's own state (class instances and typed arrays included) and a part
 * that already finished ends at once; a loop that never yields to its event
 * loop still sees each request at its next iteration.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import { startGroup, terminateAll, type Report } from './helpers.js';

afterEach(terminateAll);

const snapsOf = (reports: readonly Report[], part: number): Report[] => reports.filter((r) => r.type === 'snap' && r.part === part);

describe('a group of worker threads', () => {
  it('captures every part once per epoch, commits one image per epoch, and stops every loop', async () => {
    const store = new MemoryStore();
    const g = startGroup({ store }, [{ mode: 'counter' }, { mode: 'counter' }, { mode: 'counter' }]);
    await Promise.all([0, 1, 2].map((part) => g.next((r) => r.part === part && r.type === 'restored')));
    const infos = [];
    for (let k = 0; k < 3; k++) infos.push(await g.group.checkpoint());
    expect(infos.map((i) => i.epoch)).toEqual([1, 2, 3]);
    g.group.requestStop('test');
    const result = await g.run;
    expect(result.stopped).toBe(true);
    expect(result.reason).toBe('test');
    expect(result.last?.epoch).toBe(4);

    // Each part: one snapshot per epoch, epochs 1..4 in order; every loop ended by the stop.
    for (const part of [0, 1, 2]) {
      expect(snapsOf(g.reports, part).map((r) => r.epoch)).toEqual([1, 2, 3, 4]);
      const end = g.reports.find((r) => r.part === part && r.type === 'end');
      expect(end?.stopped).toBe(true);
      expect(end?.snapshots).toBe(4);
    }
    // One image per epoch, each holding every part at that epoch.
    const images = await store.list();
    expect(images).toHaveLength(4);
    for (const info of infos) {
      expect(info.image.meta).toMatchObject({ 'ckpt.group.parts': 3, 'ckpt.group.epoch': info.epoch });
      expect(info.image.providers.map((p) => p.id)).toEqual(['part-0', 'part-1', 'part-2']);
    }

    // The next run restores each part's own counter (as the stop captured it) and its class.
    const stopCount = [0, 1, 2].map((part) => snapsOf(g.reports, part).at(-1)!.n);
    const again = startGroup({ store }, [{ mode: 'counter', until: 0 }, { mode: 'counter', until: 0 }, { mode: 'counter', until: 0 }]);
    const r2 = await again.run;
    expect(r2.stopped).toBe(false);
    expect(r2.restoredFrom?.meta['ckpt.group.epoch']).toBe(4);
    for (const part of [0, 1, 2]) {
      const end = again.reports.find((r) => r.part === part && r.type === 'end');
      expect(end?.n).toBe(stopCount[part]);
    }
    // The last group checkpoint (all parts finished) continues the epochs.
    expect(r2.last?.epoch).toBe(5);
  });

  it('a stop requested while run() still restores is taken once every part has started', async () => {
    const store = new MemoryStore();
    const g = startGroup({ store }, [{ mode: 'counter' }, { mode: 'counter' }]);
    g.group.requestStop('early');
    const result = await g.run;
    expect(result).toMatchObject({ stopped: true, reason: 'early', last: { epoch: 1 } });
    for (const part of [0, 1]) expect(g.reports.find((r) => r.part === part && r.type === 'end')).toMatchObject({ stopped: true, snapshots: 1 });
    expect(await store.list()).toHaveLength(1);
  });

  it('a part that finished ends at once on the next run: nothing is redone', async () => {
    const store = new MemoryStore();
    const first = startGroup({ store }, [{ mode: 'counter', until: 300 }, { mode: 'counter', until: 500 }]);
    const r1 = await first.run;
    expect(r1.stopped).toBe(false);
    expect(first.reports.filter((r) => r.type === 'end').map((r) => r.n).sort()).toEqual([300, 500]);
    const second = startGroup({ store }, [{ mode: 'counter', until: 300 }, { mode: 'counter', until: 500 }]);
    await second.run;
    // Nothing was redone: no iteration ran (no 'restored' report comes from the first iteration), counts as saved.
    expect(second.reports.filter((r) => r.type === 'restored')).toEqual([]);
    expect(second.reports.filter((r) => r.type === 'end').map((r) => r.n).sort()).toEqual([300, 500]);
  });

  it('a loop that never yields to its event loop sees every request at its next iteration', async () => {
    const store = new MemoryStore();
    // spinLimit: far more iterations than a request takes to be seen; reaching it means the request was missed.
    const spin = { mode: 'spin', spinLimit: 2_000_000_000 } as const;
    const g = startGroup({ store }, [spin, spin]);
    await Promise.all([0, 1].map((part) => g.next((r) => r.part === part && r.type === 'restored')));
    for (let k = 0; k < 3; k++) await g.group.checkpoint();
    g.group.requestStop();
    const result = await g.run;
    expect(result.stopped).toBe(true);
    for (const part of [0, 1]) {
      const spins = g.reports.filter((r) => r.part === part && r.type === 'spins');
      // One synchronous stretch per epoch (3 checkpoints + the stop), each ended by seeing due.
      expect(spins).toHaveLength(4);
      expect(spins.every((r) => r.seen === true)).toBe(true);
      expect(snapsOf(g.reports, part).map((r) => r.epoch)).toEqual([1, 2, 3, 4]);
    }

    // The next run restores each part's class instance with its typed array, as the stop captured it.
    const again = startGroup({ store }, [spin, spin]);
    const restored = await Promise.all([0, 1].map((part) => again.next((r) => r.part === part && r.type === 'restored')));
    again.group.requestStop();
    await again.run;
    for (const part of [0, 1]) {
      expect(restored[part]).toMatchObject({ intact: true, n: snapsOf(g.reports, part).at(-1)!.n });
    }
  });
});
