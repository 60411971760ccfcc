/**
 * S3Store behaviour beyond the conformance suite, against the in-memory
 * bucket: the lease (racing writers, takeover after expiry, fencing), the
 * commit (create-only ids, lost answers settled by the image token),
 * cleanup of abandoned uploads, paged listings, the conditional-write probe,
 * the memory bound of writing and the request counts of a checkpoint and a
 * restore.
 */
import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { S3Store } from '../../src/s3/index.js';
import type { S3StoreOptions } from '../../src/s3/index.js';
import { isCkptError } from '../../src/errors.js';
import type { WriterLock } from '../../src/store/store.js';
import { bytes } from '../../src/testing/conformance-bytes.js';
import { FakeBucket, netError, s3Error } from './helpers/s3-fake-bucket.js';

const MiB = 1024 * 1024;

function storeOn(bucket: FakeBucket, tag = 'default', options: Partial<S3StoreOptions> = {}): S3Store {
  return new S3Store({ bucket: bucket.name, prefix: 'job/', client: bucket.client(tag), lockPollMs: 20, ...options });
}

async function commit(store: S3Store, lock: WriterLock, data: Uint8Array): Promise<string> {
  const sink = await store.create(lock);
  await sink.write(data);
  await sink.commit();
  return sink.id;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isCkptError(err)) return err.code;
    throw err;
  }
  return 'resolved';
}

function leaseRecord(bucket: FakeBucket): { token: string; expiresAt: number } {
  return JSON.parse(bucket.objects.get('job/.ckpt-lock')!.body.toString('utf8')) as { token: string; expiresAt: number };
}

describe('S3Store lease', () => {
  it('of writers racing for the lease, exactly one gets it', async () => {
    const bucket = new FakeBucket();
    const stores = Array.from({ length: 8 }, (_, i) => storeOn(bucket, `w${i}`));
    const results = await Promise.allSettled(stores.map((s) => s.acquireWriter()));
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as { code: string }).code).toBe('CKPT_ERR_LOCKED');
    await (won[0] as PromiseFulfilledResult<WriterLock>).value.release();
    expect(bucket.objects.has('job/.ckpt-lock')).toBe(false);
  });

  it('is renewed with If-Match on its ETag', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'a', { leaseMs: 150, clockSkewMs: 0 });
    const lock = await store.acquireWriter();
    const first = leaseRecord(bucket).expiresAt;
    await sleep(400);
    const renewals = bucket.calls.filter((c) => c.command === 'PutObject' && c.input.Key === 'job/.ckpt-lock' && typeof c.input.IfMatch === 'string');
    expect(renewals.length).toBeGreaterThanOrEqual(2);
    expect(leaseRecord(bucket).expiresAt).toBeGreaterThan(first);
    await lock.assertHeld();
    await lock.release();
  });

  it('takes over a stale lease (its holder crashed) after expiresAt + clockSkewMs, and only then', async () => {
    const bucket = new FakeBucket();
    const crashed = storeOn(bucket, 'crashed', { leaseMs: 100, clockSkewMs: 100 });
    const lock = await crashed.acquireWriter();
    // The holder stops renewing (its process froze or died): every renewal fails before reaching the bucket.
    bucket.inject({ command: 'PutObject', client: 'crashed', when: 'before', error: () => netError('ECONNRESET'), times: 1000 });
    const expiresAt = leaseRecord(bucket).expiresAt;
    const next = storeOn(bucket, 'next', { leaseMs: 100, clockSkewMs: 100 });
    expect(await codeOf(next.acquireWriter())).toBe('CKPT_ERR_LOCKED'); // not yet
    const taken = await next.acquireWriter({ waitMs: 5_000 });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt + 100);
    expect(await codeOf(lock.assertHeld())).toBe('CKPT_ERR_LOCKED');
    await taken.assertHeld();
    await lock.release(); // never removes the new holder's lease
    expect(bucket.objects.has('job/.ckpt-lock')).toBe(true);
    await taken.release();
  });

  it('fences a writer whose lease was taken over: its commit fails and leaves no image', async () => {
    const bucket = new FakeBucket();
    const old = storeOn(bucket, 'old', { leaseMs: 100, clockSkewMs: 0 });
    const oldLock = await old.acquireWriter();
    const sink = await old.create(oldLock);
    await sink.write(bytes(6 * MiB, 1)); // one part uploaded
    await sink.write(bytes(100, 2));
    bucket.inject({ command: 'PutObject', client: 'old', when: 'before', error: () => netError('ETIMEDOUT'), times: 1000 });
    const next = storeOn(bucket, 'next', { leaseMs: 10_000, clockSkewMs: 0 });
    const newLock = await next.acquireWriter({ waitMs: 5_000 });
    // The old writer believes nothing yet (its timer may not have run): the commit's fencing check finds out.
    expect(await codeOf(sink.commit())).toBe('CKPT_ERR_LOCKED');
    expect(await next.list()).toEqual([]);
    expect(bucket.uploads.size).toBe(0); // the old writer's upload was aborted
    expect(bucket.count('CompleteMultipartUpload')).toBe(0);
    const id = await commit(next, newLock, bytes(10, 3));
    expect((await next.list()).map((e) => e.id)).toEqual([id]);
    await newLock.release();
    await oldLock.release();
  });

  it('a writer that stops hearing from the bucket stops committing once its lease ran out by its own clock', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'w', { leaseMs: 80, clockSkewMs: 0 });
    const lock = await store.acquireWriter();
    bucket.inject({ command: 'PutObject', client: 'w', when: 'before', match: (i) => i.Key === 'job/.ckpt-lock', error: () => netError('ECONNRESET'), times: 1000 });
    await sleep(200);
    expect(await codeOf(store.create(lock))).toBe('CKPT_ERR_LOCKED');
    await lock.release();
  });

  it('a lease that ran out only because the event loop was blocked is renewed by compare-and-swap at the next use', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'w', { leaseMs: 300, clockSkewMs: 0 });
    const lock = await store.acquireWriter();
    await store.list(); // the first create lists: done before, so only the renewal is timed against the lease
    const etagBefore = bucket.objects.get('job/.ckpt-lock')!.etag;
    const until = Date.now() + 450;
    while (Date.now() < until) {
      // a long synchronous step: no timer, no renewal
    }
    const id = await commit(store, lock, bytes(10));
    expect((await store.list()).map((e) => e.id)).toEqual([id]);
    const renewal = bucket.calls.find((c) => c.command === 'PutObject' && c.input.Key === 'job/.ckpt-lock' && c.input.IfMatch === etagBefore);
    expect(renewal).toBeDefined();
    await lock.release();
  });

  it('but one taken over meanwhile stays lost: the compare-and-swap fails', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'w', { leaseMs: 300, clockSkewMs: 0 });
    const lock = await store.acquireWriter();
    const until = Date.now() + 450;
    while (Date.now() < until) {
      // blocked past the lease
    }
    // Meanwhile another writer took the stale lease over (its PutObject with If-Match landed).
    const lease = bucket.objects.get('job/.ckpt-lock')!;
    const record = { ...(JSON.parse(lease.body.toString('utf8')) as object), token: 'taker', expiresAt: Date.now() + 60_000 };
    const body = Buffer.from(JSON.stringify(record));
    bucket.objects.set('job/.ckpt-lock', { ...lease, body, etag: '"taker"' });
    expect(await codeOf(store.create(lock))).toBe('CKPT_ERR_LOCKED');
    expect(JSON.parse(bucket.objects.get('job/.ckpt-lock')!.body.toString('utf8'))).toMatchObject({ token: 'taker' });
    await lock.release();
    expect(bucket.objects.has('job/.ckpt-lock')).toBe(true); // the taker's lease is never removed
  });

  it('waits for a live holder (lockWaitMs) and gets the lease when it is released', async () => {
    const bucket = new FakeBucket();
    const a = storeOn(bucket, 'a');
    const b = storeOn(bucket, 'b');
    const first = await a.acquireWriter();
    setTimeout(() => void first.release(), 100);
    const second = await b.acquireWriter({ waitMs: 5_000 });
    await second.assertHeld();
    const gets = bucket.calls.filter((c) => c.client === 'b' && c.command === 'GetObject').length;
    expect(gets).toBeGreaterThanOrEqual(1); // it looked at the busy lease, then retried
    await second.release();
  });
});

describe('S3Store commit', () => {
  it('two writers that both bypass the lease and race for one id: exactly one image, never replaced', async () => {
    const bucket = new FakeBucket();
    const a = storeOn(bucket, 'a');
    const lock = await a.acquireWriter();
    const s1 = await a.create(lock);
    // A second sink for the same id, as a zombie writer with a stale view would make.
    const s2 = await a.create(lock);
    expect(s2.id).not.toBe(s1.id);
    await s1.write(bytes(100, 1));
    await s1.commit();
    // Force a collision: a foreign object appears under s2's id before it commits.
    bucket.objects.set(`job/${s2.id}.ckpt`, { body: Buffer.from('other'), etag: '"x"', metadata: { 'ckpt-token': 'someone-else' }, lastModified: new Date() });
    await s2.write(bytes(100, 2));
    expect(await codeOf(s2.commit())).toBe('CKPT_ERR_LOCKED');
    expect(bucket.objects.get(`job/${s2.id}.ckpt`)!.body.toString()).toBe('other');
    await lock.release();
  });

  it('sends If-None-Match: * on the commit (PutObject for one part, CompleteMultipartUpload for more)', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'a', { partSize: 5 * MiB });
    const lock = await store.acquireWriter();
    await commit(store, lock, bytes(1000));
    await commit(store, lock, bytes(11 * MiB));
    const puts = bucket.calls.filter((c) => c.command === 'PutObject' && String(c.input.Key).endsWith('.ckpt'));
    expect(puts.map((c) => c.input.IfNoneMatch)).toEqual(['*']);
    const completes = bucket.calls.filter((c) => c.command === 'CompleteMultipartUpload');
    expect(completes.map((c) => c.input.IfNoneMatch)).toEqual(['*']);
    expect(bucket.count('UploadPart')).toBe(3);
    await lock.release();
  });

  it('a lost CompleteMultipartUpload answer (reset after the server completed) is settled by the image token: committed', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'a', { partSize: 5 * MiB });
    const lock = await store.acquireWriter();
    bucket.inject({ command: 'CompleteMultipartUpload', when: 'after', error: () => netError('ECONNRESET') });
    const data = bytes(7 * MiB, 5);
    const id = await commit(store, lock, data);
    expect(await store.list()).toEqual([{ id, size: data.length }]);
    expect(bucket.count('HeadObject')).toBeGreaterThanOrEqual(1);
    expect(bucket.count('CompleteMultipartUpload')).toBe(1); // never sent twice: the HEAD decided
    await lock.release();
  });

  it('a retried commit that meets its own image (412 after a lost answer) counts as committed', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket);
    const lock = await store.acquireWriter();
    bucket.inject({ command: 'PutObject', when: 'after', match: (i) => String(i.Key).endsWith('.ckpt'), error: () => s3Error('PreconditionFailed', 412) });
    const id = await commit(store, lock, bytes(500, 9));
    expect((await store.list()).map((e) => e.id)).toEqual([id]);
    await lock.release();
  });

  it('a lost PutObject answer (timeout after send) is settled by sending the same create-only PUT again', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket);
    const lock = await store.acquireWriter();
    bucket.inject({ command: 'PutObject', when: 'after', match: (i) => String(i.Key).endsWith('.ckpt'), error: () => Object.assign(new Error('timed out'), { name: 'TimeoutError' }) });
    const id = await commit(store, lock, bytes(500, 9));
    expect((await store.list()).map((e) => e.id)).toEqual([id]);
    await lock.release();
  });

  it('a Complete that never reached the server (timeout) is aborted and the commit rejects: no image, no upload', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'a', { partSize: 5 * MiB });
    const lock = await store.acquireWriter();
    bucket.inject({ command: 'CompleteMultipartUpload', when: 'before', error: () => netError('ETIMEDOUT'), times: 10 });
    const sink = await store.create(lock);
    await sink.write(bytes(6 * MiB));
    expect(await codeOf(sink.commit())).toBe('CKPT_ERR_STORE_IO');
    expect(await store.list()).toEqual([]);
    expect(bucket.uploads.size).toBe(0);
    expect(bucket.count('AbortMultipartUpload')).toBeGreaterThanOrEqual(1);
    // The next image gets the next id and commits normally.
    const id = await commit(store, lock, bytes(10));
    expect((await store.list()).map((e) => e.id)).toEqual([id]);
    await lock.release();
  });

  it('409 ConditionalRequestConflict on the commit is retried', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'a', { partSize: 5 * MiB });
    const lock = await store.acquireWriter();
    bucket.inject({ command: 'CompleteMultipartUpload', when: 'before', error: () => s3Error('ConditionalRequestConflict', 409) });
    const id = await commit(store, lock, bytes(6 * MiB));
    expect((await store.list()).map((e) => e.id)).toEqual([id]);
    expect(bucket.count('CompleteMultipartUpload')).toBe(2);
    await lock.release();
  });

  it('a part whose upload was reset mid-way (or got a 500/503 the SDK gave up on) is sent again; the image is exact', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'a', { partSize: 5 * MiB });
    const lock = await store.acquireWriter();
    bucket.inject({ command: 'UploadPart', when: 'before', error: () => netError('ECONNRESET') });
    bucket.inject({ command: 'UploadPart', when: 'before', error: () => s3Error('InternalError', 500) });
    bucket.inject({ command: 'UploadPart', when: 'after', error: () => s3Error('SlowDown', 503) });
    const data = bytes(16 * MiB, 4);
    const id = await commit(store, lock, data);
    const src = await store.open(id);
    expect(Buffer.from(await src.read(0, data.length)).equals(Buffer.from(data))).toBe(true);
    expect(bucket.count('UploadPart')).toBe(4 + 3);
    await lock.release();
  });

  it('a part that keeps failing fails the image: the commit rejects, the upload is aborted', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'a', { partSize: 5 * MiB });
    const lock = await store.acquireWriter();
    bucket.inject({ command: 'UploadPart', when: 'before', error: () => s3Error('AccessDenied', 403) });
    const sink = await store.create(lock);
    const wrote = await codeOf((async () => {
      await sink.write(bytes(12 * MiB));
    })());
    const committed = await codeOf(sink.commit());
    expect([wrote, committed]).toContain('CKPT_ERR_STORE_IO');
    expect(committed).not.toBe('resolved');
    expect(await store.list()).toEqual([]);
    expect(bucket.uploads.size).toBe(0);
    await lock.release();
  });

  it('buffers at most partSize × queueSize: never more than queueSize parts in flight, write() waits', async () => {
    const bucket = new FakeBucket();
    bucket.delays.set('UploadPart', 20);
    const store = storeOn(bucket, 'a', { partSize: 5 * MiB, queueSize: 2 });
    const lock = await store.acquireWriter();
    const sink = await store.create(lock);
    const chunk = bytes(MiB, 7);
    for (let i = 0; i < 60; i++) await sink.write(chunk);
    await sink.commit();
    expect(bucket.maxActive.get('UploadPart')).toBeLessThanOrEqual(2);
    expect(bucket.maxActive.get('UploadPart')).toBe(2); // and it does use both
    expect(bucket.count('UploadPart')).toBe(12);
    await lock.release();
  });

  it('costs ⌈size / partSize⌉ + 3 requests per multipart image and 2 for a small one (after the first listing)', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'a', { partSize: 5 * MiB, conditionalWrites: 'trust' });
    const lock = await store.acquireWriter();
    await commit(store, lock, bytes(10)); // the first create lists the bucket
    const before = bucket.calls.length;
    await commit(store, lock, bytes(10));
    expect(bucket.calls.length - before).toBe(2); // lease GET (fencing) + PutObject
    const mid = bucket.calls.length;
    await commit(store, lock, bytes(23 * MiB));
    expect(bucket.calls.length - mid).toBe(Math.ceil(23 / 5) + 3); // Create + parts + lease GET + Complete
    await lock.release();
  });
});

describe('S3Store reads', () => {
  it('coalesces a restore’s many small forward reads into few block-sized ranged GETs', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'a', { readBlockSize: MiB, readAhead: 3 });
    const lock = await store.acquireWriter();
    const data = bytes(10 * MiB + 123, 8);
    const id = await commit(store, lock, data);
    const src = await store.open(id);
    const gets0 = bucket.count('GetObject');
    const out = new Uint8Array(data.length);
    for (let at = 0; at < data.length; at += 100_000) {
      const n = Math.min(100_000, data.length - at);
      await src.readInto!(at, out.subarray(at, at + n));
    }
    expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
    const gets = bucket.count('GetObject') - gets0;
    expect(gets).toBeLessThanOrEqual(11); // ⌈10 MiB / 1 MiB⌉ blocks, not 105 reads
    expect(bucket.maxActive.get('GetObject')).toBeGreaterThan(1); // read ahead in parallel
    await src.close();
    await lock.release();
  });

  it('a body cut mid-stream is fetched again; the bytes are exact', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'a', { readBlockSize: MiB });
    const lock = await store.acquireWriter();
    const data = bytes(3 * MiB, 2);
    const id = await commit(store, lock, data);
    const { Readable } = await import('node:stream');
    let cuts = 0;
    bucket.bodyFilter = (_key, slice) => {
      if (slice.length < MiB || cuts >= 2) return undefined;
      cuts++;
      return new Readable({
        read() {
          this.push(slice.subarray(0, 1000));
          this.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
        },
      });
    };
    const src = await store.open(id);
    expect(Buffer.from(await src.read(0, data.length)).equals(Buffer.from(data))).toBe(true);
    expect(cuts).toBe(2);
    await src.close();
    await lock.release();
  });

  it('throttling the SDK gave up on surfaces as CKPT_ERR_STORE_IO with a hint, never as wrong bytes', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'a', { readBlockSize: MiB });
    const lock = await store.acquireWriter();
    const id = await commit(store, lock, bytes(2 * MiB, 2));
    const src = await store.open(id);
    bucket.inject({ command: 'GetObject', when: 'before', error: () => s3Error('SlowDown', 503), times: 100 });
    let error: unknown;
    await src.read(0, 2 * MiB).catch((err: unknown) => (error = err));
    expect(isCkptError(error) && error.code === 'CKPT_ERR_STORE_IO').toBe(true);
    expect((error as { hint?: string }).hint).toMatch(/retries|maxAttempts/);
    await src.close();
    await lock.release();
  });

  it('an image deleted while it is read fails the read (CKPT_ERR_STORE_IO), it does not mix objects', async () => {
    const bucket = new FakeBucket();
    const store = storeOn(bucket, 'a', { readBlockSize: MiB });
    const lock = await store.acquireWriter();
    const id = await commit(store, lock, bytes(3 * MiB, 2));
    const src = await store.open(id);
    bucket.objects.get(`job/${id}.ckpt`)!.etag = '"replaced"';
    expect(await codeOf(src.read(0, 2 * MiB))).toBe('CKPT_ERR_STORE_IO');
    await src.close();
    await lock.release();
  });
});

describe('S3Store listing and cleanup', () => {
  it('lists 2,050 images through ListObjectsV2 pages (no 1,000-object cliff), newest first, and ignores other keys', async () => {
    const bucket = new FakeBucket();
    for (let i = 1; i <= 2050; i++) {
      const key = `job/${String(i).padStart(12, '0')}.ckpt`;
      bucket.objects.set(key, { body: Buffer.alloc(i % 7), etag: `"${i}"`, metadata: {}, lastModified: new Date() });
    }
    for (const key of ['job/notes.txt', 'job/sub/000000000009.ckpt', 'other/000000000001.ckpt', 'job/000000000000.ckpt', 'job/12.ckpt']) {
      bucket.objects.set(key, { body: Buffer.alloc(1), etag: '"f"', metadata: {}, lastModified: new Date() });
    }
    const store = storeOn(bucket);
    const list = await store.list();
    expect(list).toHaveLength(2050);
    expect(list[0]).toEqual({ id: '000000002050', size: 2050 % 7 });
    expect(list[2049]!.id).toBe('000000000001');
    expect(bucket.count('ListObjectsV2')).toBe(3);
    const lock = await store.acquireWriter();
    const sink = await store.create(lock);
    expect(sink.id).toBe('000000002051');
    await sink.abort();
    await lock.release();
  });

  it('cleanup aborts uploads a crashed writer left (never the holder’s open ones) and removes probe leftovers', async () => {
    const bucket = new FakeBucket();
    const crashed = storeOn(bucket, 'crashed', { partSize: 5 * MiB, leaseMs: 60, clockSkewMs: 0 });
    const lockA = await crashed.acquireWriter();
    const abandoned = await crashed.create(lockA);
    await abandoned.write(bytes(6 * MiB)); // one part uploaded; then the process "dies"
    bucket.inject({ command: 'PutObject', client: 'crashed', when: 'before', error: () => netError('ECONNRESET'), times: 1000 });
    bucket.objects.set('job/.ckpt-probe-0011223344556677', { body: Buffer.alloc(0), etag: '"p"', metadata: {}, lastModified: new Date() });
    expect(bucket.uploads.size).toBe(1);
    const next = storeOn(bucket, 'next', { partSize: 5 * MiB, clockSkewMs: 0 });
    const lockB = await next.acquireWriter({ waitMs: 5_000 });
    const open = await next.create(lockB);
    await open.write(bytes(6 * MiB, 3));
    expect(bucket.uploads.size).toBe(2);
    const removed = await next.cleanup(lockB);
    expect(removed).toHaveLength(2);
    expect(removed.some((r) => r.startsWith(`${abandoned.id}.ckpt (upload `))).toBe(true);
    expect(removed).toContain('.ckpt-probe-0011223344556677');
    expect(bucket.uploads.size).toBe(1); // the open sink's upload is kept
    await open.commit();
    expect((await next.list()).map((e) => e.id)).toEqual([open.id]);
    await lockB.release();
  });

  it('cleanup on a server that cannot list uploads (501) removes nothing and does not fail', async () => {
    const bucket = new FakeBucket();
    bucket.listUploadsNotImplemented = true;
    const store = storeOn(bucket);
    const lock = await store.acquireWriter();
    expect(await store.cleanup(lock)).toEqual([]);
    await lock.release();
  });
});

describe('S3Store conditional-write probe', () => {
  it('refuses to write to a server that ignores If-None-Match, with a hint naming conditionalWrites: off', async () => {
    const bucket = new FakeBucket();
    bucket.honourConditions = false;
    const store = storeOn(bucket);
    let error: unknown;
    await store.acquireWriter().catch((err: unknown) => (error = err));
    expect(isCkptError(error) && error.code === 'CKPT_ERR_STORE_IO').toBe(true);
    expect((error as Error).message).toMatch(/ignores conditional writes/);
    expect((error as { hint?: string }).hint).toMatch(/conditionalWrites: 'off'/);
    expect([...bucket.objects.keys()]).toEqual([]); // the probe object is gone, no lease was written
  });

  it("in single-writer mode ('off') it writes without conditional headers and still keeps a second honest writer out", async () => {
    const bucket = new FakeBucket();
    bucket.honourConditions = false;
    const store = storeOn(bucket, 'a', { conditionalWrites: 'off' });
    const lock = await store.acquireWriter();
    expect(await codeOf(storeOn(bucket, 'b', { conditionalWrites: 'off' }).acquireWriter())).toBe('CKPT_ERR_LOCKED');
    const id = await commit(store, lock, bytes(100));
    expect((await store.list()).map((e) => e.id)).toEqual([id]);
    expect(bucket.calls.some((c) => c.input.IfNoneMatch !== undefined || c.input.IfMatch !== undefined)).toBe(false);
    await lock.release();
  });

  it('probes once per client and place', async () => {
    const bucket = new FakeBucket();
    const client = bucket.client('shared');
    const a = new S3Store({ bucket: bucket.name, prefix: 'job/', client });
    const lock = await a.acquireWriter();
    await lock.release();
    const probes = bucket.calls.filter((c) => String(c.input.Key).includes('.ckpt-probe-')).length;
    expect(probes).toBe(4); // create, create again (412), If-Match wrong (412), delete
    const b = new S3Store({ bucket: bucket.name, prefix: 'job/', client });
    await (await b.acquireWriter()).release();
    expect(bucket.calls.filter((c) => String(c.input.Key).includes('.ckpt-probe-')).length).toBe(4);
  });
});

describe('S3Store options', () => {
  it('rejects bad options with CKPT_ERR_INVALID_ARGUMENT', () => {
    const bucket = new FakeBucket();
    const client = bucket.client();
    const bad: unknown[] = [
      { bucket: '' },
      { bucket: 's3://x' },
      { bucket: 'b', prefix: '/abs' },
      { bucket: 'b', prefix: 'a//b' },
      { bucket: 'b', partSize: 1024 },
      { bucket: 'b', queueSize: 0 },
      { bucket: 'b', leaseMs: 1.5 },
      { bucket: 'b', conditionalWrites: 'maybe' },
    ];
    for (const options of bad) {
      let error: unknown;
      try {
        new S3Store({ client, ...(options as S3StoreOptions) });
      } catch (err) {
        error = err;
      }
      expect(isCkptError(error) && error.code === 'CKPT_ERR_INVALID_ARGUMENT', JSON.stringify(options)).toBe(true);
    }
    expect(new S3Store({ bucket: 'b', prefix: 'sim-42', client }).description).toBe('s3://b/sim-42/');
    expect(new S3Store({ bucket: 'b', client }).description).toBe('s3://b/');
  });
});
