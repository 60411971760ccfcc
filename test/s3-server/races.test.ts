/**
 * The local S3 server under racing requests that crash s3rver alone (its
 * write streams have no error handler): a PutObject into a folder that a
 * delete of the folder's last object is removing, and an abort that removes
 * an upload's files while one of its parts is being written. The front
 * orders them; the server answers every request and stays up.
 */
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { useS3Server } from '../helpers/s3-server.js';

const server = useS3Server();

describe('racing requests on the local S3 server', () => {
  it('a PutObject racing the delete of the last object in its folder is stored, every time', async () => {
    const bucket = await server().createBucket();
    const c = server().client({ maxAttempts: 1 });
    for (let round = 0; round < 60; round++) {
      await c.send(new PutObjectCommand({ Bucket: bucket, Key: `d/${round}/old`, Body: Buffer.from('old') }));
      await Promise.all([
        c.send(new DeleteObjectCommand({ Bucket: bucket, Key: `d/${round}/old` })),
        c.send(new PutObjectCommand({ Bucket: bucket, Key: `d/${round}/new`, Body: Buffer.alloc(64 * 1024, round) })),
      ]);
      expect((await c.send(new HeadObjectCommand({ Bucket: bucket, Key: `d/${round}/new` }))).ContentLength).toBe(64 * 1024);
    }
    await c.send(new HeadBucketCommand({ Bucket: bucket }));
    c.destroy();
  });

  // The front also holds an abort until the parts being written finish (s3rver's part stream has no error handler either);
  // that window is too short to hit on purpose here, so this checks the outcomes, not the wait.
  it('an abort racing a part upload: the part is stored or refused, the upload is gone, the server still answers', async () => {
    const bucket = await server().createBucket();
    const c = server().client({ maxAttempts: 1 });
    const outcomes = new Set<string>();
    for (let round = 0; round < 20; round++) {
      const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `img/${round}` }));
      const [part] = await Promise.allSettled([
        c.send(new UploadPartCommand({ Bucket: bucket, Key: `img/${round}`, UploadId, PartNumber: 1, Body: Buffer.alloc(2 * 1024 * 1024, round) })),
        c.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: `img/${round}`, UploadId })),
      ]);
      // The part lands before the abort (200) or is refused after it (NoSuchUpload); never a dropped connection.
      outcomes.add(part.status === 'fulfilled' ? 'stored' : String((part.reason as { name?: unknown }).name));
    }
    expect([...outcomes].filter((o) => o !== 'stored' && o !== 'NoSuchUpload')).toEqual([]);
    expect((await c.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).toEqual([]);
    await c.send(new HeadBucketCommand({ Bucket: bucket }));
    c.destroy();
  });
});
