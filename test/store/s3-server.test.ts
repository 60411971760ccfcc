/**
 * S3Store against a real S3-protocol server on loopback (s3rver behind the
 * test front with conditional writes and faults, started and stopped by this
 * file): the store conformance suite from ckpt/testing, and what only real
 * HTTP shows — writers racing through the server's conditional writes, a
 * commit whose answer is lost on the wire, a part upload reset mid-body and
 * throttling retried by the SDK's own backoff, abandoned uploads aborted by
 * cleanup, a listing of 2,000+ images through real ListObjectsV2 pages.
 */
import { describe, expect, it } from 'vitest';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { runStoreConformance } from '../../src/testing/index.js';
import { S3Store } from '../../src/s3/index.js';
import type { S3StoreOptions } from '../../src/s3/index.js';
import { isCkptError } from '../../src/errors.js';
import type { WriterLock } from '../../src/store/store.js';
import { bytes } from '../../src/testing/conformance-bytes.js';
import { useS3Server } from '../helpers/s3-server.js';
import { until } from '../helpers/async.js';

const MiB = 1024 * 1024;
const server = useS3Server();

async function freshStore(options: Partial<S3StoreOptions> = {}): Promise<{ bucket: string; open: (more?: Partial<S3StoreOptions>) => S3Store }> {
  const bucket = await server().createBucket();
  return { bucket, open: (more = {}) => new S3Store({ bucket, prefix: 'sim-42/', client: server().client(), lockPollMs: 50, ...options, ...more }) };
}

async function commit(store: S3Store, lock: WriterLock, data: Uint8Array): Promise<string> {
  const sink = await store.create(lock);
  await sink.write(data);
  await sink.commit();
  return sink.id;
}

runStoreConformance(
  async () => {
    const { open } = await freshStore();
    return { store: open(), reopen: () => Promise.resolve(open()), dispose: () => Promise.resolve() };
  },
  { describe, it },
  { name: 'S3Store conformance (local S3 server)' },
);

describe('S3Store on a local S3 server', () => {
  it('of 6 writers racing for the lease through the server, exactly one wins; the others see CKPT_ERR_LOCKED', async () => {
    const { open } = await freshStore();
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => open().acquireWriter()));
    const won = results.filter((r): r is PromiseFulfilledResult<WriterLock> => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(isCkptError(r.reason) && r.reason.code).toBe('CKPT_ERR_LOCKED');
    await won[0]!.value.release();
  });

  it('a commit whose answer the server dropped after completing it is settled by the image token: the image exists', async () => {
    const { open } = await freshStore({ partSize: 5 * MiB, clientConfig: {} });
    const store = open({ client: server().client({ maxAttempts: 1 }) });
    const lock = await store.acquireWriter();
    await server().faults.add({ op: 'CompleteMultipartUpload', action: { type: 'drop-response' } });
    const data = bytes(6 * MiB, 3);
    const id = await commit(store, lock, data);
    expect(await store.list()).toEqual([{ id, size: data.length }]);
    const src = await store.open(id);
    expect(Buffer.from(await src.read(0, data.length)).equals(Buffer.from(data))).toBe(true);
    await src.close();
    await lock.release();
    await server().faults.clear();
  });

  it('a part reset mid-body and a throttled PUT are retried (the SDK backs off); the image is exact', async () => {
    const { open } = await freshStore({ partSize: 5 * MiB });
    const store = open();
    const lock = await store.acquireWriter();
    const reset = await server().faults.add({ op: 'UploadPart', action: { type: 'reset' } });
    const throttle = await server().faults.add({ op: 'UploadPart', skip: 1, action: { type: 'throttle' } });
    const data = bytes(11 * MiB, 5);
    const id = await commit(store, lock, data);
    expect(await server().faults.hits(reset)).toBe(1);
    expect(await server().faults.hits(throttle)).toBe(1);
    const src = await store.open(id);
    expect(Buffer.from(await src.read(0, data.length)).equals(Buffer.from(data))).toBe(true);
    await src.close();
    await lock.release();
    await server().faults.clear();
  });

  it('cleanup aborts the upload a killed writer left behind', async () => {
    const { open } = await freshStore({ partSize: 5 * MiB });
    const dead = open();
    const lock = await dead.acquireWriter();
    const sink = await dead.create(lock);
    await server().clearRequests();
    await sink.write(bytes(6 * MiB)); // a part is uploaded; the writer then "dies": no commit, no abort
    // write() returns once the part is handed to the upload queue: wait until the server answered it.
    await until(async () => (await server().requests()).some((r) => r.op === 'UploadPart' && r.status === 200), 'the part upload');
    await lock.release();
    const next = open();
    const lock2 = await next.acquireWriter();
    const removed = await next.cleanup(lock2);
    expect(removed, `requests: ${JSON.stringify(await server().requests())}`).toHaveLength(1);
    expect(removed[0]).toMatch(new RegExp(`^${sink.id}\\.ckpt \\(upload `));
    expect(await next.cleanup(lock2)).toEqual([]);
    expect(await next.list()).toEqual([]);
    await lock2.release();
  });

  it('lists 2,100 images through real ListObjectsV2 pages, newest first', async () => {
    const { bucket, open } = await freshStore();
    const client = server().client();
    const ids = Array.from({ length: 2100 }, (_, i) => String(i + 1).padStart(12, '0'));
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((id) => client.send(new PutObjectCommand({ Bucket: bucket, Key: `sim-42/${id}.ckpt`, Body: Buffer.from('x') }))));
    }
    const list = await open().list();
    expect(list).toHaveLength(2100);
    expect(list[0]!.id).toBe('000000002100');
    expect(list.at(-1)!.id).toBe('000000000001');
    client.destroy();
  }, 120_000);
});
