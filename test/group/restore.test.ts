/**
 * @module test/group/restore
 *
 * A part restores as a Checkpointer does: a provider saved at version 1 is
 * migrated to the part's version 2 before its restore() runs, and a
 * provider set that does not match the image fails closed in the part —
 * which ends the group's run with an error naming the part and the provider;
 * large typed arrays survive the way through threads and an image on disk.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, MemoryStore } from '../../src/index.js';
import { assertCkptError, rejection } from '../helpers/errors.js';
import { startGroup, terminateAll } from './helpers.js';
import { imageText } from '../secret/helpers.js';
import { FsStore } from '../../src/index.js';
import { openStoreImage } from '../../src/format/index.js';

afterEach(terminateAll);

describe('restoring the parts of a group', () => {
  it('migrates a part provider saved at an older version, then continues from its step', async () => {
    const store = new MemoryStore();
    // Stopped part-way (not finished), so the next run iterates and reports what it restored.
    const first = startGroup({ store }, [{ mode: 'counter' }, { mode: 'counter' }]);
    await Promise.all([0, 1].map((part) => first.next((r) => r.part === part && r.type === 'restored')));
    first.group.requestStop();
    await first.run;
    const saved = [0, 1].map((part) => first.reports.filter((r) => r.part === part && r.type === 'snap').at(-1)!.n as number);

    const second = startGroup({ store }, [
      { mode: 'counter', version: 2, until: saved[0]! + 10 },
      { mode: 'counter', version: 2, until: saved[1]! + 10 },
    ]);
    const result = await second.run;
    expect(result.stopped).toBe(false);
    for (const part of [0, 1]) {
      expect(second.reports.find((r) => r.part === part && r.type === 'restored')).toMatchObject({ migrated: true, intact: true, n: saved[part], step: saved[part] });
      expect(second.reports.find((r) => r.part === part && r.type === 'end')).toMatchObject({ n: saved[part]! + 10 });
    }
  });

  it('a part whose providers do not match the image fails closed, and the run ends naming it', async () => {
    const store = new MemoryStore();
    await startGroup({ store }, [{ mode: 'counter', until: 5 }, { mode: 'counter', until: 5 }]).run;
    const g = startGroup({ store }, [{ mode: 'counter', until: 5 }, { mode: 'counter', until: 5, extraProvider: 'extra' }]);
    const err = assertCkptError(
      await g.run.then(
        () => undefined,
        (e: unknown) => e,
      ),
      ErrorCodes.PART_FAILED,
    );
    expect(err.message).toMatch(/part 1 .*provider "extra" has no state in image/);
    expect(err.cause).toMatchObject({ code: ErrorCodes.MISSING_PROVIDER });
  });

  it('large typed arrays (segments and blobs, several MiB per part) round-trip through a group image in a directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-group-big-'));
    try {
      const big = { mode: 'counter', bigLength: 1_500_000 } as const; // 12 MB per part
      const first = startGroup({ store: dir }, [big, big]);
      await Promise.all([0, 1].map((part) => first.next((r) => r.part === part && r.type === 'restored')));
      first.group.requestStop();
      await first.run;
      const ends = [0, 1].map((part) => first.reports.find((r) => r.part === part && r.type === 'end')!);
      const again = startGroup({ store: dir }, [big, big]);
      const restored = await Promise.all([0, 1].map((part) => again.next((r) => r.part === part && r.type === 'restored')));
      again.group.requestStop();
      await again.run;
      for (const part of [0, 1]) {
        // Every step added 1 to the array: its sum is the restored step, and nothing was lost in transfer.
        expect(restored[part]).toMatchObject({ bigLength: 1_500_000, bigSum: ends[part]!.n, n: ends[part]!.n, intact: true });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a thread part captures into the memory of its last capture (given back after each image), and every image holds its own epoch', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-group-recycle-'));
    try {
      const big = { mode: 'counter', bigLength: 500_000 } as const; // 4 MB per part: a blob
      const first = startGroup({ store: dir }, [big, big]);
      await Promise.all([0, 1].map((part) => first.next((r) => r.part === part && r.type === 'restored')));
      for (let i = 0; i < 3; i++) await first.group.checkpoint();
      first.group.requestStop();
      await first.run;
      const ends = [0, 1].map((part) => first.reports.find((r) => r.part === part && r.type === 'end')!);
      // Three checkpoints and the stop: the last three captures copied into returned buffers (the stream and the blob).
      for (const e of ends) expect(e.reused).toBeGreaterThanOrEqual(3);
      const again = startGroup({ store: dir }, [big, big]);
      const restored = await Promise.all([0, 1].map((part) => again.next((r) => r.part === part && r.type === 'restored')));
      again.group.requestStop();
      await again.run;
      for (const part of [0, 1]) expect(restored[part]).toMatchObject({ bigSum: ends[part]!.n, n: ends[part]!.n, intact: true });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a part's secret paths are left out of the group image, and its restore gets undefined there", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-group-secret-'));
    try {
      const secrets = [0, 1].map((i) => ({ apiKey: `GROUP-SECRET-${String(i)}-7c1e9a3f5b2d4e6a`, note: `GROUP-NOTE-${String(i)}-0b8d6f4a2c1e3a5b` }));
      await startGroup({ store: dir }, [
        { mode: 'counter', until: 5, secret: secrets[0]! },
        { mode: 'counter', until: 5, secret: secrets[1]! },
      ]).run;
      const ids = (await new FsStore(dir).list()).map((e) => e.id);
      expect(ids.length).toBeGreaterThan(0);
      for (const id of ids) {
        const { file, raw } = await imageText(dir, id);
        for (const s of secrets) {
          expect(file.includes(Buffer.from(s.apiKey)), `secret in the file bytes of ${id}`).toBe(false);
          expect(raw.includes(Buffer.from(s.apiKey)), `secret in the segments of ${id}`).toBe(false);
          // The search finds what is saved: the note next to the secret.
          expect(raw.includes(Buffer.from(s.note)), `note in the segments of ${id}`).toBe(true);
        }
      }
      const again = startGroup({ store: dir }, [
        { mode: 'counter', until: 10, secret: secrets[0]! },
        { mode: 'counter', until: 10, secret: secrets[1]! },
      ]);
      const restored = await Promise.all([0, 1].map((part) => again.next((r) => r.part === part && r.type === 'restored')));
      await again.run;
      for (const part of [0, 1]) expect(restored[part]).toMatchObject({ creds: { apiKey: undefined, note: secrets[part]!.note } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a group with encryption writes encrypted group images and restores from them with the key', async () => {
    const store = new MemoryStore();
    const encryption = { keys: { g1: new Uint8Array(32).fill(0x6b) }, current: 'g1' };
    await startGroup({ store, encryption }, [{ mode: 'counter', until: 5 }, { mode: 'counter', until: 5 }]).run;
    const id = (await store.list())[0]!.id;
    // Without the key the image does not open; with it, it does and says which key.
    expect((await rejection(openStoreImage(store, id))).code).toBe(ErrorCodes.KEY);
    const again = startGroup({ store, encryption }, [{ mode: 'counter', until: 8 }, { mode: 'counter', until: 8 }]);
    const restored = await Promise.all([0, 1].map((part) => again.next((r) => r.part === part && r.type === 'restored')));
    await again.run;
    for (const part of [0, 1]) expect(restored[part]).toMatchObject({ step: 5, n: 5, intact: true });
  });
});
