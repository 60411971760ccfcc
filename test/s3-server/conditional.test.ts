/**
 * The local S3 server's conditional writes, which s3rver alone ignores:
 * create-only PutObject and CompleteMultipartUpload (`If-None-Match: *`),
 * compare-and-swap (`If-Match: <etag>`) on PutObject and DeleteObject, and
 * exactly one winner among racing creators.
 */
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { describe, expect, it } from 'vitest';
import { useS3Server } from '../helpers/s3-server.js';

const server = useS3Server();

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode ?? -1;
    throw err;
  }
}

async function text(bucket: string, key: string): Promise<string> {
  const c = server().client();
  const r = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await r.Body?.transformToString()) ?? '';
}

describe('conditional writes', () => {
  it('If-None-Match: * on PutObject creates once, then answers 412 and keeps the first body', async () => {
    const bucket = await server().createBucket();
    const c = server().client();
    expect(await status(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: Buffer.from('first'), IfNoneMatch: '*' })))).toBe(200);
    expect(await status(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: Buffer.from('second'), IfNoneMatch: '*' })))).toBe(412);
    expect(await text(bucket, 'k')).toBe('first');
    // without the header the same write replaces it, as S3 does
    expect(await status(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: Buffer.from('third') })))).toBe(200);
    expect(await text(bucket, 'k')).toBe('third');
  });

  it('If-Match on PutObject swaps only from the current ETag; a missing key is 404', async () => {
    const bucket = await server().createBucket();
    const c = server().client();
    const put = await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'lease', Body: Buffer.from('v1') }));
    expect(await status(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'lease', Body: Buffer.from('x'), IfMatch: '"0123456789abcdef0123456789abcdef"' })))).toBe(412);
    expect(await text(bucket, 'lease')).toBe('v1');
    const swapped = await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'lease', Body: Buffer.from('v2'), IfMatch: put.ETag! }));
    expect(swapped.ETag).not.toBe(put.ETag);
    // the old ETag no longer matches: a second swapper from v1 loses
    expect(await status(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'lease', Body: Buffer.from('v3'), IfMatch: put.ETag! })))).toBe(412);
    expect(await text(bucket, 'lease')).toBe('v2');
    expect(await status(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'nothing', Body: Buffer.from('x'), IfMatch: put.ETag! })))).toBe(404);
  });

  it('If-Match on DeleteObject deletes only the version it names', async () => {
    const bucket = await server().createBucket();
    const c = server().client();
    const put = await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'lease', Body: Buffer.from('mine') }));
    expect(await status(c.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'lease', IfMatch: '"ffffffffffffffffffffffffffffffff"' })))).toBe(412);
    expect(await status(c.send(new HeadObjectCommand({ Bucket: bucket, Key: 'lease' })))).toBe(200);
    expect(await status(c.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'lease', IfMatch: put.ETag! })))).toBe(200);
    expect(await status(c.send(new HeadObjectCommand({ Bucket: bucket, Key: 'lease' })))).toBe(404);
  });

  it('If-None-Match: * on CompleteMultipartUpload (lib-storage Upload, 3 parts) refuses an existing key and leaves it intact', async () => {
    const bucket = await server().createBucket();
    const c = server().client();
    const body = Buffer.alloc(11 * 1024 * 1024, 7);
    const upload = (b: Buffer): Promise<unknown> =>
      new Upload({ client: c, params: { Bucket: bucket, Key: 'image', Body: b, IfNoneMatch: '*' }, partSize: 5 * 1024 * 1024, queueSize: 2 }).done();
    expect(await status(upload(body))).toBe(200);
    expect(await status(upload(Buffer.alloc(11 * 1024 * 1024, 9)))).toBe(412);
    const got = await c.send(new GetObjectCommand({ Bucket: bucket, Key: 'image', Range: 'bytes=0-3' }));
    expect([...(await got.Body!.transformToByteArray())]).toEqual([7, 7, 7, 7]);
    const head = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: 'image' }));
    expect(head.ContentLength).toBe(body.length);
    const ops = (await server().requests()).filter((r) => r.bucket === bucket).map((r) => `${r.op}:${r.status}`);
    expect(ops).toContain('CompleteMultipartUpload:412');
    // lib-storage aborts the refused upload: nothing is left in progress
    expect(ops).toContain('AbortMultipartUpload:204');
  });

  it('8 creators racing for one key: exactly one wins, 7 get 412', async () => {
    const bucket = await server().createBucket();
    const c = server().client({ maxAttempts: 1 });
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => status(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'id-000001', Body: Buffer.from(`writer ${i}`), IfNoneMatch: '*' })))),
    );
    expect(results.filter((s) => s === 200)).toHaveLength(1);
    expect(results.filter((s) => s === 412)).toHaveLength(7);
    expect(await text(bucket, 'id-000001')).toBe(`writer ${results.indexOf(200)}`);
  });
});
