/**
 * The local S3 server's programmable faults: S3 error answers (409, 412,
 * 500, 503), throttling the SDK retries, a connection reset in the middle of
 * a part (nothing stored), a delay before serving, and the two ambiguous
 * outcomes — the work done but the answer lost, or too late for the client.
 * Rules hit only what they name and retire after `times`.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3ServiceException, UploadPartCommand, CreateMultipartUploadCommand, CompleteMultipartUploadCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { useS3Server } from '../helpers/s3-server.js';

const server = useS3Server();

afterEach(async () => {
  await server().faults.clear();
});

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof S3ServiceException) return `${err.$metadata.httpStatusCode} ${err.name}`;
    return `error ${(err as Error).name}`;
  }
}

async function exists(bucket: string, key: string): Promise<boolean> {
  return (await outcome(server().client().send(new HeadObjectCommand({ Bucket: bucket, Key: key })))) === 'ok';
}

describe('fault injection', () => {
  it.each([
    [409, 'ConditionalRequestConflict'],
    [412, 'PreconditionFailed'],
    [500, 'InternalError'],
    [503, 'ServiceUnavailable'],
  ])('answers %i %s without doing the write', async (status, name) => {
    const bucket = await server().createBucket();
    const id = await server().faults.add({ op: 'PutObject', key: 'k', action: { type: 'status', status } });
    const c = server().client({ maxAttempts: 1 });
    expect(await outcome(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: Buffer.from('x') })))).toBe(`${status} ${name}`);
    expect(await server().faults.hits(id)).toBe(1);
    expect(await exists(bucket, 'k')).toBe(false);
    // the rule retired after one hit (times defaults to 1)
    expect(await outcome(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: Buffer.from('x') })))).toBe('ok');
  });

  it('throttles with 503 SlowDown; the SDK backs off and retries until the rule retires', async () => {
    const bucket = await server().createBucket();
    const id = await server().faults.add({ op: 'PutObject', times: 2, action: { type: 'throttle' } });
    await server().clearRequests();
    const c = server().client({ maxAttempts: 3 });
    expect(await outcome(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: Buffer.from('x') })))).toBe('ok');
    expect(await server().faults.hits(id)).toBe(2);
    const puts = (await server().requests()).filter((r) => r.op === 'PutObject' && r.bucket === bucket).map((r) => r.status);
    expect(puts).toEqual([503, 503, 200]);
  });

  it('skip lets the first matches through, and only the named key is hit', async () => {
    const bucket = await server().createBucket();
    await server().faults.add({ op: 'PutObject', keyPrefix: 'img/', skip: 1, times: 'always', action: { type: 'status', status: 500 } });
    const c = server().client({ maxAttempts: 1 });
    const put = (Key: string): Promise<string> => outcome(c.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Buffer.from('x') })));
    expect(await put('img/1')).toBe('ok');
    expect(await put('lock')).toBe('ok');
    expect(await put('img/2')).toBe('500 InternalError');
    expect(await put('img/3')).toBe('500 InternalError');
  });

  it('resets the connection in the middle of a part: the client sees a network error and no part is stored', async () => {
    const bucket = await server().createBucket();
    const c = server().client({ maxAttempts: 1 });
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'img' }));
    const body = Buffer.alloc(6 * 1024 * 1024, 1);
    const id = await server().faults.add({ op: 'UploadPart', action: { type: 'reset', afterBytes: 1024 * 1024 } });
    const first = await outcome(c.send(new UploadPartCommand({ Bucket: bucket, Key: 'img', UploadId, PartNumber: 1, Body: body })));
    expect(first).toMatch(/^error /);
    expect(await server().faults.hits(id)).toBe(1);
    // the part was never stored: completing with it fails, uploading it again works
    const again = await c.send(new UploadPartCommand({ Bucket: bucket, Key: 'img', UploadId, PartNumber: 1, Body: body }));
    await c.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'img', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: again.ETag }] } }));
    const head = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: 'img' }));
    expect(head.ContentLength).toBe(body.length);
    const log = (await server().requests()).filter((r) => r.op === 'UploadPart' && r.bucket === bucket).map((r) => r.status);
    expect(log).toEqual([0, 200]);
  });

  it('a lost answer: the write happens but the client gets a network error (the ambiguous commit)', async () => {
    const bucket = await server().createBucket();
    await server().faults.add({ op: 'PutObject', key: 'k', action: { type: 'drop-response' } });
    const c = server().client({ maxAttempts: 1 });
    expect(await outcome(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: Buffer.from('done'), IfNoneMatch: '*' })))).toMatch(/^error /);
    expect(await exists(bucket, 'k')).toBe(true);
    const r = await c.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }));
    expect(await r.Body!.transformToString()).toBe('done');
  });

  it('a late answer: the write happens, the client times out first', async () => {
    const bucket = await server().createBucket();
    await server().faults.add({ op: 'PutObject', key: 'k', action: { type: 'delay-response', ms: 3000 } });
    const c = server().client({ maxAttempts: 1, requestHandler: { requestTimeout: 300, throwOnRequestTimeout: true } });
    expect(await outcome(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: Buffer.from('late') })))).toMatch(/^error /);
    expect(await exists(bucket, 'k')).toBe(true);
  });

  it('a delay before serving: the request succeeds once served (and after the delay rule, a timeout is a failure without effect)', async () => {
    const bucket = await server().createBucket();
    await server().faults.add({ op: 'PutObject', key: 'a', action: { type: 'delay', ms: 200 } });
    const c = server().client({ maxAttempts: 1 });
    expect(await outcome(c.send(new PutObjectCommand({ Bucket: bucket, Key: 'a', Body: Buffer.from('x') })))).toBe('ok');
    await server().faults.add({ op: 'PutObject', key: 'b', action: { type: 'delay', ms: 3000 } });
    const impatient = server().client({ maxAttempts: 1, requestHandler: { requestTimeout: 300, throwOnRequestTimeout: true } });
    expect(await outcome(impatient.send(new PutObjectCommand({ Bucket: bucket, Key: 'b', Body: Buffer.from('x') })))).toMatch(/^error /);
    // the server saw the client go away before it served the request
    await new Promise((r) => setTimeout(r, 3500));
    expect(await exists(bucket, 'b')).toBe(false);
  });
});
