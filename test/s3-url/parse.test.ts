/**
 * `s3://` locations: what parses to which bucket, prefix and image, what is
 * refused (with a message saying how to write it), and the client settings
 * the environment adds.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/index.js';
import { isS3Url, parseS3Url } from '../../src/store/s3-url.js';
import { s3ClientConfigFromEnv, S3UrlStore } from '../../src/store/s3-url-store.js';
import { expectThrowCode } from '../helpers/errors.js';

function expectCkptError(fn: () => unknown, code: string, message: RegExp): void {
  expect(expectThrowCode(fn, code).message).toMatch(message);
}

describe('parseS3Url', () => {
  it.each([
    ['s3://jobs/sim-42/', 'jobs', 'sim-42/'],
    ['s3://jobs/sim-42', 'jobs', 'sim-42/'],
    ['S3://jobs/a/b/c/', 'jobs', 'a/b/c/'],
    ['s3://jobs', 'jobs', ''],
    ['s3://jobs/', 'jobs', ''],
    ['s3://my.bucket-1/with space/', 'my.bucket-1', 'with space/'],
  ])('%s → bucket %s, prefix %j', (url, bucket, prefix) => {
    expect(isS3Url(url)).toBe(true);
    const loc = parseS3Url(url);
    expect(loc).toEqual({ bucket, prefix, store: `s3://${bucket}/${prefix}` });
  });

  it('names one image only when asked to, and only with an image file name', () => {
    expect(parseS3Url('s3://jobs/sim/000000000042.ckpt', 'allow')).toEqual({ bucket: 'jobs', prefix: 'sim/', store: 's3://jobs/sim/', imageId: '000000000042' });
    expect(parseS3Url('s3://jobs/000000000007.ckpt', 'allow')).toMatchObject({ prefix: '', imageId: '000000000007' });
    // as a store location the same URL is a prefix
    expect(parseS3Url('s3://jobs/sim/000000000042.ckpt')).toMatchObject({ prefix: 'sim/000000000042.ckpt/' });
    expect(parseS3Url('s3://jobs/sim/42.ckpt', 'allow').imageId).toBeUndefined();
    expect(parseS3Url('s3://jobs/sim/000000000000.ckpt', 'allow').imageId).toBeUndefined();
  });

  it.each([
    ['s3://', /names no bucket/],
    ['s3:///prefix/', /names no bucket/],
    ['s3://jobs//x/', /empty element/],
    ['s3://jobs/a//b', /empty element/],
    ['s3://jobs/p/?region=eu-west-1', /query .*AWS_ENDPOINT_URL/],
    ['s3://jobs/p/#x', /fragment/],
    ['s3://key:secret@jobs/p/', /credentials/],
    ['s3://localhost:9000/jobs/', /ports/],
    ['/var/ckpt', /does not start with s3:\/\//],
  ])('refuses %s', (url, why) => {
    expectCkptError(() => parseS3Url(url), ErrorCodes.INVALID_ARGUMENT, why);
  });

  it('is not fooled by paths and other schemes', () => {
    expect(isS3Url('./s3://x')).toBe(false);
    expect(isS3Url('file:///tmp/x')).toBe(false);
    expect(isS3Url('s3:/jobs')).toBe(false);
  });
});

describe('S3UrlStore', () => {
  it('is described by its normalised URL and loads nothing until used', async () => {
    const store = new S3UrlStore('s3://jobs/sim-42');
    expect(store.description).toBe('s3://jobs/sim-42/');
    await store.dispose(); // nothing was loaded: nothing to close
  });
});

describe('client settings from the environment', () => {
  it('uses path-style addressing for a custom endpoint, unless told otherwise', () => {
    expect(s3ClientConfigFromEnv({})).toEqual({});
    expect(s3ClientConfigFromEnv({ AWS_ENDPOINT_URL: 'http://minio:9000' })).toEqual({ forcePathStyle: true });
    expect(s3ClientConfigFromEnv({ AWS_ENDPOINT_URL_S3: 'http://minio:9000' })).toEqual({ forcePathStyle: true });
    expect(s3ClientConfigFromEnv({ AWS_ENDPOINT_URL: 'https://x.r2.cloudflarestorage.com', CKPT_S3_FORCE_PATH_STYLE: '0' })).toEqual({ forcePathStyle: false });
    expect(s3ClientConfigFromEnv({ CKPT_S3_FORCE_PATH_STYLE: 'true' })).toEqual({ forcePathStyle: true });
    expectCkptError(() => s3ClientConfigFromEnv({ CKPT_S3_FORCE_PATH_STYLE: 'maybe' }), ErrorCodes.INVALID_ARGUMENT, /CKPT_S3_FORCE_PATH_STYLE must be 1 or 0/);
  });
});
