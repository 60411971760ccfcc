/**
 * The S3 writer lease against the local S3 server when answers go wrong: a
 * create or renewal the server applied but whose answer was lost (dropped
 * connection, with and without the SDK's own retry), a 409 conflict on a
 * renewal, and a release racing a renewal whose answer is late. In each
 * case the writer must recognise its own lease by its token — never lock
 * itself out — and a release must leave no lease behind.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { S3Store } from '../../src/s3/index.js';
import type { S3StoreOptions } from '../../src/s3/index.js';
import { S3Lease } from '../../src/s3/s3-lease.js';
import { isCkptError } from '../../src/errors.js';
import { useS3Server } from '../helpers/s3-server.js';

const server = useS3Server();
const LEASE_KEY = 'sim-42/.ckpt-lock';

afterEach(async () => {
  await server().faults.clear();
});

async function freshStore(options: Partial<S3StoreOptions> = {}): Promise<{ bucket: string; store: S3Store }> {
  const bucket = await server().createBucket();
  return { bucket, store: new S3Store({ bucket, prefix: 'sim-42/', client: server().client(), lockPollMs: 20, conditionalWrites: 'trust', ...options }) };
}

/** The token in the lease object, or undefined when there is none. */
async function storedToken(bucket: string): Promise<string | undefined> {
  try {
    const out = await server().client().send(new GetObjectCommand({ Bucket: bucket, Key: LEASE_KEY }));
    return (JSON.parse(await out.Body!.transformToString()) as { token: string }).token;
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

async function acquire(store: S3Store): Promise<S3Lease> {
  const lock = await store.acquireWriter();
  expect(lock).toBeInstanceOf(S3Lease);
  return lock as S3Lease;
}

describe('S3 lease: uncertain outcomes', () => {
  it.each([
    ['the SDK retries the create and meets its own lease (412)', 3],
    ['the create fails with a network error', 1],
  ])('an acquire whose answer was dropped after the server created the lease holds it: %s', async (_, maxAttempts) => {
    const { bucket, store } = await freshStore({ client: server().client({ maxAttempts }) });
    const fault = await server().faults.add({ op: 'PutObject', key: LEASE_KEY, action: { type: 'drop-response' } });
    const lock = await acquire(store);
    expect(await server().faults.hits(fault)).toBe(1);
    expect(await storedToken(bucket)).toBe(lock.token);
    await lock.assertHeld();
    await lock.release();
    expect(await storedToken(bucket)).toBeUndefined();
  });

  it.each([
    ['the SDK retries the renewal and meets its own new ETag (412)', 3],
    ['the renewal fails with a network error', 1],
  ])('a renewal whose answer was dropped after the server applied it keeps the lease: %s', async (_, maxAttempts) => {
    const { bucket, store } = await freshStore({ client: server().client({ maxAttempts }) });
    const lock = await acquire(store);
    const fault = await server().faults.add({ op: 'PutObject', key: LEASE_KEY, action: { type: 'drop-response' } });
    await lock.renew();
    expect(await server().faults.hits(fault)).toBe(1);
    await lock.assertHeld();
    // The next renewal's compare-and-swap works: the lease's new ETag was learnt from the bucket.
    await lock.renew();
    await lock.assertHeld();
    await lock.release();
    expect(await storedToken(bucket)).toBeUndefined();
  });

  it('a renewal answered 409 ConditionalRequestConflict keeps the lease (the conflict is retried, not taken for a takeover)', async () => {
    const { bucket, store } = await freshStore({ client: server().client({ maxAttempts: 1 }) });
    const lock = await acquire(store);
    const fault = await server().faults.add({ op: 'PutObject', key: LEASE_KEY, action: { type: 'status', status: 409 } });
    await lock.renew();
    expect(await server().faults.hits(fault)).toBe(1);
    await lock.assertHeld();
    await lock.renew();
    await lock.assertHeld();
    await lock.release();
    expect(await storedToken(bucket)).toBeUndefined();
  });

  it('an acquire answered 409 on an existing live lease still reports the holder (CKPT_ERR_LOCKED)', async () => {
    const { store } = await freshStore();
    const first = await acquire(store);
    await server().faults.add({ op: 'PutObject', key: LEASE_KEY, action: { type: 'status', status: 409 } });
    const second = new S3Store({ bucket: store.bucket, prefix: 'sim-42/', client: server().client({ maxAttempts: 1 }), conditionalWrites: 'trust' });
    const err: unknown = await second.acquireWriter().catch((e: unknown) => e);
    expect(isCkptError(err) && err.code).toBe('CKPT_ERR_LOCKED');
    await first.assertHeld();
    await first.release();
  });

  it('a lease another writer took over is still lost at the next renewal', async () => {
    const { bucket, store } = await freshStore();
    const lock = await acquire(store);
    // Another writer replaces the lease (as a takeover would).
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await server()
      .client()
      .send(new PutObjectCommand({ Bucket: bucket, Key: LEASE_KEY, Body: JSON.stringify({ v: 1, token: 'other', expiresAt: Date.now() + 60_000 }) }));
    await lock.renew();
    const err: unknown = await lock.assertHeld().catch((e: unknown) => e);
    expect(isCkptError(err) && err.code).toBe('CKPT_ERR_LOCKED');
    await lock.release();
    expect(await storedToken(bucket)).toBe('other');
  });
});

describe('S3 lease: release racing a renewal', () => {
  it('a release while a renewal is in flight (its answer late) waits for it and removes the lease', async () => {
    const { bucket, store } = await freshStore();
    const lock = await acquire(store);
    const fault = await server().faults.add({ op: 'PutObject', key: LEASE_KEY, action: { type: 'delay-response', ms: 300 } });
    const renewal = lock.renew();
    // Let the renewal reach the server before releasing.
    for (let i = 0; i < 200 && (await server().faults.hits(fault)) === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(await server().faults.hits(fault)).toBe(1);
    await lock.release();
    await renewal;
    expect(await storedToken(bucket)).toBeUndefined();
    // The next writer gets the lease at once.
    const next = await acquire(store);
    await next.release();
  });

  it('a renewal asked for after release sends nothing', async () => {
    const { bucket, store } = await freshStore();
    const lock = await acquire(store);
    await lock.release();
    await server().clearRequests();
    await lock.renew();
    const writes = (await server().requests()).filter((r) => r.bucket === bucket && r.op === 'PutObject');
    expect(writes).toEqual([]);
    expect(await storedToken(bucket)).toBeUndefined();
  });
});
