/**
 * A Checkpointer on an S3Store, end to end against the local S3 server:
 * typed state large enough for multipart uploads and the pool's parallel
 * restore, retention deleting old images, and a second Checkpointer — "the
 * next machine" — restoring the newest image after the first one's lease
 * was released.
 */
import { describe, expect, it } from 'vitest';
import { Checkpointer } from '../../src/index.js';
import { S3Store } from '../../src/s3/index.js';
import { useS3Server } from '../helpers/s3-server.js';

const server = useS3Server();

describe('Checkpointer on S3Store', () => {
  it('checkpoints typed state through multipart uploads, prunes by retention, and restores it on another Checkpointer', async () => {
    const bucket = await server().createBucket();
    const open = (): S3Store => new S3Store({ bucket, prefix: 'sim-42/', client: server().client(), partSize: 5 * 1024 * 1024, readBlockSize: 2 * 1024 * 1024 });
    const state = { step: 0, field: new Float64Array(3 * 1024 * 1024) }; // 24 MiB, little compressible
    for (let i = 0; i < state.field.length; i++) state.field[i] = Math.sin(i) * 1e6 + i;
    const first = new Checkpointer({ store: open(), retention: { keepLast: 2 }, compression: { threads: 2 } });
    first.register({ id: 'sim', snapshot: () => state, restore: () => undefined });
    for (let step = 1; step <= 3; step++) {
      state.step = step;
      state.field[0] = step;
      await first.checkpoint({ step });
    }
    await first.close();
    const listed = await open().list();
    expect(listed.map((e) => e.id)).toEqual(['000000000003', '000000000002']); // keepLast: 2

    let restored: { step: number; field: Float64Array } | undefined;
    const next = new Checkpointer({ store: open(), compression: { threads: 2 } });
    next.register({
      id: 'sim',
      snapshot: () => restored,
      restore: (s) => {
        restored = s;
      },
    });
    const result = await next.restore();
    expect(result?.image.id).toBe('000000000003');
    expect(restored!.step).toBe(3);
    expect(restored!.field.length).toBe(state.field.length);
    expect(Buffer.from(restored!.field.buffer, restored!.field.byteOffset, restored!.field.byteLength).equals(Buffer.from(state.field.buffer))).toBe(true);
    // The next machine writes on: its first id follows the newest.
    const info = await next.checkpoint({ step: 4 });
    expect(info.id).toBe('000000000004');
    await next.close();
  }, 120_000);
});
