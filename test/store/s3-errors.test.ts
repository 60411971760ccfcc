/**
 * What S3Store says when the bucket refuses: access denied, a missing
 * bucket, the wrong region, bad credentials, an unreachable endpoint — each
 * a CKPT_ERR_STORE_IO whose hint names the permission or setting to fix,
 * with the SDK error as its cause. Also: an unknown image is
 * CKPT_ERR_NOT_FOUND, and a failed checkpoint never touches earlier images.
 */
import { describe, expect, it } from 'vitest';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { S3Store } from '../../src/s3/index.js';
import type { CkptError} from '../../src/errors.js';
import { isCkptError } from '../../src/errors.js';
import { bytes } from '../../src/testing/conformance-bytes.js';
import { FakeBucket, netError, s3Error } from './helpers/s3-fake-bucket.js';

async function failure(p: Promise<unknown>): Promise<CkptError> {
  try {
    await p;
  } catch (err) {
    if (isCkptError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('S3Store errors', () => {
  it('access denied on listing names s3:ListBucket on the bucket', async () => {
    const bucket = new FakeBucket('jobs');
    bucket.inject({ command: 'ListObjectsV2', when: 'before', error: () => s3Error('AccessDenied', 403, 'Access Denied') });
    const err = await failure(new S3Store({ bucket: 'jobs', prefix: 'a/', client: bucket.client() }).list());
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.message).toMatch(/listing images of s3:\/\/jobs\/a\/ failed: Access Denied \(HTTP 403\)/);
    expect(err.hint).toBe('allow s3:ListBucket on arn:aws:s3:::jobs for these credentials (docs/s3.md lists the minimal IAM policy)');
    expect(err.cause).toBeInstanceOf(S3ServiceException);
  });

  it('access denied on reading names s3:GetObject on the prefix', async () => {
    const bucket = new FakeBucket('jobs');
    const store = new S3Store({ bucket: 'jobs', prefix: 'a/', client: bucket.client() });
    const lock = await store.acquireWriter();
    const sink = await store.create(lock);
    await sink.write(bytes(10));
    await sink.commit();
    bucket.inject({ command: 'GetObject', when: 'before', error: () => s3Error('AccessDenied', 403) });
    const err = await failure(store.open(sink.id));
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.hint).toMatch(/^allow s3:GetObject on arn:aws:s3:::jobs\/a\/\*/);
    expect(err.image).toBe(sink.id);
    await lock.release();
  });

  it('access denied on writing names s3:PutObject (at the probe, before anything is written)', async () => {
    const bucket = new FakeBucket('jobs');
    bucket.inject({ command: 'PutObject', when: 'before', error: () => s3Error('AccessDenied', 403) });
    const err = await failure(new S3Store({ bucket: 'jobs', prefix: 'a/', client: bucket.client() }).acquireWriter());
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.hint).toMatch(/^allow s3:PutObject on arn:aws:s3:::jobs\/a\/\*/);
    expect(bucket.objects.size).toBe(0);
  });

  it('a missing bucket says so', async () => {
    const bucket = new FakeBucket('jobs');
    const err = await failure(new S3Store({ bucket: 'jbos', client: bucket.client() }).list());
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.hint).toMatch(/bucket "jbos" does not exist/);
  });

  it('the wrong region names the bucket’s region when the server tells it', async () => {
    const bucket = new FakeBucket('jobs');
    bucket.inject({
      command: 'ListObjectsV2',
      when: 'before',
      error: () =>
        Object.assign(s3Error('PermanentRedirect', 301, 'The bucket you are attempting to access must be addressed using the specified endpoint.'), {
          $response: { statusCode: 301, headers: { 'x-amz-bucket-region': 'eu-central-1' } },
        }),
    });
    const err = await failure(new S3Store({ bucket: 'jobs', client: bucket.client() }).list());
    expect(err.hint).toBe("bucket \"jobs\" is in region eu-central-1: set AWS_REGION=eu-central-1 or pass new S3Client({ region: 'eu-central-1' })");
  });

  it('bad credentials, a skewed clock and an unreachable endpoint get their own hints', async () => {
    const bucket = new FakeBucket('jobs');
    const store = new S3Store({ bucket: 'jobs', client: bucket.client() });
    bucket.inject({ command: 'ListObjectsV2', when: 'before', error: () => s3Error('InvalidAccessKeyId', 403) });
    expect((await failure(store.list())).hint).toMatch(/check the credentials/);
    bucket.inject({ command: 'ListObjectsV2', when: 'before', error: () => s3Error('RequestTimeTooSkewed', 403) });
    expect((await failure(store.list())).hint).toMatch(/clock/);
    bucket.inject({ command: 'ListObjectsV2', when: 'before', error: () => netError('ECONNREFUSED') });
    expect((await failure(store.list())).hint).toMatch(/AWS_ENDPOINT_URL_S3/);
  });

  it('an unknown image is CKPT_ERR_NOT_FOUND; a malformed id CKPT_ERR_INVALID_ARGUMENT', async () => {
    const bucket = new FakeBucket('jobs');
    const store = new S3Store({ bucket: 'jobs', client: bucket.client() });
    expect((await failure(store.open('000000000042'))).code).toBe('CKPT_ERR_NOT_FOUND');
    expect((await failure(store.open('../etc'))).code).toBe('CKPT_ERR_INVALID_ARGUMENT');
  });

  it('a checkpoint that fails part-way never touches the images before it', async () => {
    const bucket = new FakeBucket('jobs');
    const store = new S3Store({ bucket: 'jobs', client: bucket.client(), partSize: 5 * 1024 * 1024 });
    const lock = await store.acquireWriter();
    const first = await store.create(lock);
    await first.write(bytes(100, 1));
    await first.commit();
    const before = Buffer.from(bucket.objects.get(`${first.id}.ckpt`)!.body);
    bucket.inject({ command: 'UploadPart', when: 'before', error: () => s3Error('AccessDenied', 403), times: 10 });
    const second = await store.create(lock);
    await second.write(bytes(11 * 1024 * 1024, 2)).catch(() => undefined);
    expect((await failure(second.commit())).code).toMatch(/CKPT_ERR_STORE_IO|CKPT_ERR_CLOSED/);
    expect(await store.list()).toEqual([{ id: first.id, size: 100 }]);
    expect(bucket.objects.get(`${first.id}.ckpt`)!.body.equals(before)).toBe(true);
    expect(bucket.uploads.size).toBe(0);
    await lock.release();
  });
});
