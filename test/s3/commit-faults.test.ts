/**
 * Committing S3 images against the local S3 server when the commit meets
 * trouble: 409 ConditionalRequestConflict (retryable, never "another writer
 * committed"), 412 (an existing image: that is what it means), a lease taken
 * over while a commit is being retried (fenced before every attempt), and a
 * server without conditional writes (501 NotImplemented: a clear error
 * naming what the server lacks and what to do).
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { S3Store } from '../../src/s3/index.js';
import type { S3StoreOptions } from '../../src/s3/index.js';
import { isCkptError } from '../../src/errors.js';
import { bytes } from '../../src/testing/conformance-bytes.js';
import { useS3Server } from '../helpers/s3-server.js';

const MiB = 1024 * 1024;
const server = useS3Server();
const LEASE_KEY = 'sim-42/.ckpt-lock';

afterEach(async () => {
  await server().faults.clear();
});

async function freshStore(options: Partial<S3StoreOptions> = {}): Promise<{ bucket: string; store: S3Store }> {
  const bucket = await server().createBucket();
  return { bucket, store: new S3Store({ bucket, prefix: 'sim-42/', client: server().client({ maxAttempts: 1 }), partSize: 5 * MiB, ...options }) };
}

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string; hint: string }> {
  try {
    await p;
  } catch (err) {
    if (!isCkptError(err)) throw err;
    return { code: err.code, message: err.message, hint: err.hint ?? '' };
  }
  throw new Error('expected a failure');
}

/** Calls `onFailure` once, the first time a `command` sent through `client` fails (before the error reaches the store). */
function onFirstFailure(client: S3Client, command: string, onFailure: () => Promise<void>): void {
  let done = false;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (!done && context.commandName === command) {
          done = true;
          await onFailure();
        }
        throw err;
      }
    },
    { step: 'initialize', name: 'onFirstFailure' },
  );
}

/** Another writer's lease replaces ours in the bucket (as a takeover would). */
async function stealLease(bucket: string): Promise<void> {
  const other = { v: 1, token: 'another-writer', hostname: 'elsewhere', pid: 1, acquiredAt: new Date().toISOString(), expiresAt: Date.now() + 60_000, leaseMs: 60_000 };
  await server().client().send(new PutObjectCommand({ Bucket: bucket, Key: LEASE_KEY, Body: JSON.stringify(other) }));
}

const sizes = [
  ['a multipart image (CompleteMultipartUpload)', 'CompleteMultipartUpload', 6 * MiB],
  ['a one-part image (PutObject)', 'PutObject', 1000],
] as const;

describe('S3 commit: 409 ConditionalRequestConflict', () => {
  it.each(sizes)('%s answered 409 once is retried and committed', async (_, op, size) => {
    const { store } = await freshStore();
    const lock = await store.acquireWriter();
    const fault = await server().faults.add({ op, keySuffix: '.ckpt', action: { type: 'status', status: 409 } });
    const sink = await store.create(lock);
    const data = bytes(size, 7);
    await sink.write(data);
    await sink.commit();
    expect(await server().faults.hits(fault)).toBe(1);
    const src = await store.open(sink.id);
    expect(Buffer.from(await src.read(0, size)).equals(Buffer.from(data))).toBe(true);
    await src.close();
    await lock.release();
  });

  it.each(sizes)('%s answered 409 every time fails as an I/O error naming the conflict, not as another writer', async (_, op, size) => {
    const { store } = await freshStore();
    const lock = await store.acquireWriter();
    await server().faults.add({ op, keySuffix: '.ckpt', times: 'always', action: { type: 'status', status: 409 } });
    const sink = await store.create(lock);
    await sink.write(bytes(size, 8));
    const err = await failure(sink.commit());
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.message).toMatch(/409|conflict/i);
    expect(err.message).not.toMatch(/another writer/);
    await server().faults.clear();
    expect(await store.list()).toEqual([]);
    await lock.release();
  });

  it('a multipart commit answered 412 with no object of ours means another writer: CKPT_ERR_LOCKED', async () => {
    const { store } = await freshStore();
    const lock = await store.acquireWriter();
    await server().faults.add({ op: 'CompleteMultipartUpload', action: { type: 'status', status: 412 } });
    const sink = await store.create(lock);
    await sink.write(bytes(6 * MiB, 9));
    const err = await failure(sink.commit());
    expect(err.code).toBe('CKPT_ERR_LOCKED');
    expect(err.message).toMatch(/another writer committed/);
    await lock.release();
  });
});

describe('S3 commit: fencing before every attempt', () => {
  it.each(sizes)('%s: a lease taken over while a 409 is retried stops the retry (CKPT_ERR_LOCKED, no image)', async (_, op, size) => {
    const { bucket, store } = await freshStore();
    const lock = await store.acquireWriter();
    onFirstFailure(store.client, `${op}Command`, () => stealLease(bucket));
    const fault = await server().faults.add({ op, keySuffix: '.ckpt', action: { type: 'status', status: 409 } });
    const sink = await store.create(lock);
    await sink.write(bytes(size, 10));
    const err = await failure(sink.commit());
    expect(await server().faults.hits(fault)).toBe(1);
    expect(err.code).toBe('CKPT_ERR_LOCKED');
    expect(err.message).toMatch(/taken over/);
    expect(await store.list()).toEqual([]);
    await lock.release();
    // The other writer's lease is left alone.
    const out = await server().client().send(new GetObjectCommand({ Bucket: bucket, Key: LEASE_KEY }));
    expect(await out.Body!.transformToString()).toMatch(/another-writer/);
  });

  it('a one-part commit whose answer was lost, then the lease taken over: the image our first attempt wrote counts as committed', async () => {
    const { bucket, store } = await freshStore();
    const lock = await store.acquireWriter();
    onFirstFailure(store.client, 'PutObjectCommand', () => stealLease(bucket));
    await server().faults.add({ op: 'PutObject', keySuffix: '.ckpt', action: { type: 'drop-response' } });
    const sink = await store.create(lock);
    await sink.write(bytes(1000, 11));
    await sink.commit();
    expect(await store.list()).toEqual([{ id: sink.id, size: 1000 }]);
    await lock.release();
  });
});

describe('S3 store on a server without conditional writes (501 NotImplemented)', () => {
  function expectConditionalWritesError(err: { code: string; message: string; hint: string }): void {
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.message).toMatch(/does not support conditional writes/);
    expect(err.message).toMatch(/MinIO and Ceph/);
    expect(err.hint).toMatch(/conditionalWrites: 'off'/);
  }

  it('the probe (first writer) fails with an error naming what the server lacks', async () => {
    const { store } = await freshStore();
    await server().faults.add({ op: 'PutObject', keyPrefix: 'sim-42/.ckpt-probe-', action: { type: 'status', status: 501 } });
    const err = await failure(store.acquireWriter());
    expectConditionalWritesError(err);
    expect(err.message).toMatch(/If-None-Match/);
  });

  it("with conditionalWrites: 'trust', the lease write fails the same way", async () => {
    const { store } = await freshStore({ conditionalWrites: 'trust' });
    await server().faults.add({ op: 'PutObject', key: LEASE_KEY, action: { type: 'status', status: 501 } });
    expectConditionalWritesError(await failure(store.acquireWriter()));
  });

  it.each(sizes)("with conditionalWrites: 'trust', %s fails the same way and leaves no image", async (_, op, size) => {
    const { store } = await freshStore({ conditionalWrites: 'trust' });
    const lock = await store.acquireWriter();
    await server().faults.add({ op, keySuffix: '.ckpt', action: { type: 'status', status: 501 } });
    const sink = await store.create(lock);
    await sink.write(bytes(size, 12));
    expectConditionalWritesError(await failure(sink.commit()));
    expect(await store.list()).toEqual([]);
    await lock.release();
  });

  it('a 501 about checksum headers keeps its own hint', async () => {
    const { store } = await freshStore();
    await server().faults.add({
      op: 'PutObject',
      keyPrefix: 'sim-42/.ckpt-probe-',
      action: { type: 'status', status: 501, message: 'Header x-amz-checksum-crc32 is not implemented' },
    });
    const err = await failure(store.acquireWriter());
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.hint).toMatch(/requestChecksumCalculation: 'WHEN_REQUIRED'/);
  });
});
