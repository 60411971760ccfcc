/**
 * The local S3 server's workarounds for s3rver 3.7 under Node 20+: paginated
 * ListObjectsV2 (continuation tokens use DES, which needs OpenSSL's legacy
 * provider — the server process runs with it), stream bodies stored intact
 * when clients send checksums only when required, and `stop()` killing and
 * reaping the server process.
 */
import { ListObjectsV2Command, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startS3Server } from '../helpers/s3-server.js';
import { useS3Server } from '../helpers/s3-server.js';

const server = useS3Server();

describe('s3rver workarounds', () => {
  it('pages through ListObjectsV2 with continuation tokens (every key once, in order)', async () => {
    const bucket = await server().createBucket();
    const c = server().client();
    const want = Array.from({ length: 23 }, (_, i) => `pre/images/${String(i).padStart(12, '0')}.ckpt`);
    await Promise.all(want.map((Key) => c.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Buffer.from(Key) }))));
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'elsewhere', Body: Buffer.from('x') }));
    const got: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'pre/images/', MaxKeys: 5, ContinuationToken: token }));
      pages++;
      for (const o of r.Contents ?? []) got.push(o.Key!);
      token = r.IsTruncated === true ? r.NextContinuationToken : undefined;
    } while (token !== undefined);
    expect(got).toEqual(want);
    expect(pages).toBe(5);
  });

  it('stores a stream body byte for byte (no aws-chunked framing) with checksums only when required', async () => {
    const bucket = await server().createBucket();
    const c = server().client();
    const body = Buffer.alloc(1000, 65);
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 's', Body: Readable.from([body]), ContentLength: body.length }));
    const r = await c.send(new GetObjectCommand({ Bucket: bucket, Key: 's' }));
    expect(Buffer.from(await r.Body!.transformToByteArray()).equals(body)).toBe(true);
  });

  it('stop() kills and reaps the server process (and is idempotent)', async () => {
    const s = await startS3Server();
    const alive = (): boolean => {
      try {
        process.kill(s.pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive()).toBe(true);
    await s.stop();
    expect(alive()).toBe(false);
    await s.stop();
    const c = s.client({ maxAttempts: 1 });
    await expect(c.send(new ListObjectsV2Command({ Bucket: 'gone' }))).rejects.toThrow();
  });
});
