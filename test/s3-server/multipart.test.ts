/**
 * Multipart uploads on the local S3 server as S3 handles them, where s3rver
 * alone does not: ListMultipartUploads (paged, by prefix),
 * AbortMultipartUpload, and NoSuchUpload for parts or completes of an upload
 * that was aborted, completed, or started under another key.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  S3ServiceException,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { useS3Server } from '../helpers/s3-server.js';

const server = useS3Server();

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof S3ServiceException) return err.name;
    throw err;
  }
}

async function listAll(c: S3Client, bucket: string, prefix: string, pageSize: number): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let pages = 0;
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const r = await c.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, MaxUploads: pageSize, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
    pages++;
    for (const u of r.Uploads ?? []) keys.push(`${u.Key}`);
    if (r.IsTruncated !== true) return { keys, pages };
    keyMarker = r.NextKeyMarker;
    uploadIdMarker = r.NextUploadIdMarker;
  }
}

describe('multipart uploads', () => {
  it('lists uploads in progress under a prefix, page by page, with their start time', async () => {
    const bucket = await server().createBucket();
    const c = server().client();
    const before = Date.now();
    for (const key of ['p/images/3', 'p/images/1', 'p/images/1', 'p/images/2', 'p/images/5', 'other/x']) {
      await c.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    }
    const all = await listAll(c, bucket, 'p/', 2);
    expect(all.keys).toEqual(['p/images/1', 'p/images/1', 'p/images/2', 'p/images/3', 'p/images/5']);
    expect(all.pages).toBe(3);
    const one = await c.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'other/' }));
    expect(one.Uploads?.map((u) => u.Key)).toEqual(['other/x']);
    expect(one.Uploads?.[0]?.Initiated?.getTime()).toBeGreaterThanOrEqual(before - 1000);
    await server().backdateUploads(2 * 3600_000);
    const aged = await c.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'other/' }));
    expect(aged.Uploads?.[0]?.Initiated?.getTime()).toBeLessThan(before - 3600_000);
  });

  it('an aborted upload is no longer listed, and its parts and complete are NoSuchUpload', async () => {
    const bucket = await server().createBucket();
    const c = server().client();
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'img' }));
    const part = await c.send(new UploadPartCommand({ Bucket: bucket, Key: 'img', UploadId, PartNumber: 1, Body: Buffer.from('abc') }));
    await c.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'img', UploadId }));
    expect((await c.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).toEqual([]);
    expect(await errorName(c.send(new UploadPartCommand({ Bucket: bucket, Key: 'img', UploadId, PartNumber: 2, Body: Buffer.from('d') })))).toBe('NoSuchUpload');
    expect(
      await errorName(c.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'img', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }))),
    ).toBe('NoSuchUpload');
    expect(await errorName(c.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'img', UploadId })))).toBe('NoSuchUpload');
    expect(await errorName(c.send(new HeadObjectCommand({ Bucket: bucket, Key: 'img' })))).toBe('NotFound');
  });

  it('completes into the URL key only: another key is NoSuchUpload; a completed upload is gone from the list', async () => {
    const bucket = await server().createBucket();
    const c = server().client();
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'a' }));
    const part = await c.send(new UploadPartCommand({ Bucket: bucket, Key: 'a', UploadId, PartNumber: 1, Body: Buffer.from('abc') }));
    const parts = { Parts: [{ PartNumber: 1, ETag: part.ETag }] };
    expect(await errorName(c.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'b', UploadId, MultipartUpload: parts })))).toBe('NoSuchUpload');
    expect(await errorName(c.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'a', UploadId, MultipartUpload: parts })))).toBe('ok');
    expect((await c.send(new HeadObjectCommand({ Bucket: bucket, Key: 'a' }))).ContentLength).toBe(3);
    expect(await errorName(c.send(new HeadObjectCommand({ Bucket: bucket, Key: 'b' })))).toBe('NotFound');
    expect((await c.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).toEqual([]);
  });
});
