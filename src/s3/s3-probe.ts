/**
 * @module s3/s3-probe
 *
 * The capability probe run before a store's first write: does the server
 * honour conditional writes? S3Store's guarantees — a commit never replaces
 * an image, exactly one writer takes the lease — rest on `If-None-Match: *`
 * and `If-Match`. Servers that ignore them (s3rver, old MinIO and Ceph
 * releases, some gateways) would silently turn them into plain overwrites.
 *
 * The probe: PutObject a fresh key with `If-None-Match: *` (must succeed),
 * again (must fail with 412), and with `If-Match` on a wrong ETag (must fail
 * with 412); then delete the key. Four requests, once per client, bucket and
 * prefix in a process.
 */
import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { CkptError, ErrorCodes } from '../errors.js';
import type { S3Context } from './s3-context.js';
import { conditionalWritesError, isPreconditionFailed, s3IoError } from './s3-errors.js';
import { PROBE_PREFIX } from './s3-keys.js';

/** Probe results per client, by `bucket/prefix`. */
const probed = new WeakMap<S3Client, Map<string, Promise<void>>>();

/**
 * Check once per client and place that conditional writes work, or fail.
 *
 * @throws CkptError `CKPT_ERR_STORE_IO` when the server ignores or rejects conditional writes (the hint names `conditionalWrites: 'off'`)
 */
export function ensureConditionalWrites(ctx: S3Context): Promise<void> {
  let byPlace = probed.get(ctx.client);
  if (byPlace === undefined) {
    byPlace = new Map();
    probed.set(ctx.client, byPlace);
  }
  const place = `${ctx.bucket}/${ctx.prefix}`;
  let result = byPlace.get(place);
  if (result === undefined) {
    result = probe(ctx);
    byPlace.set(place, result);
    // A failure (network, permissions) is not remembered: the next writer probes again.
    result.catch(() => byPlace.delete(place));
  }
  return result;
}

async function probe(ctx: S3Context): Promise<void> {
  const key = `${ctx.prefix}${PROBE_PREFIX}${randomBytes(8).toString('hex')}`;
  const put = (condition: { IfNoneMatch?: string; IfMatch?: string }): Promise<unknown> =>
    ctx.client.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: key, Body: Buffer.alloc(0), ContentLength: 0, ...condition }));
  const refused = async (condition: { IfNoneMatch?: string; IfMatch?: string }): Promise<boolean> => {
    try {
      await put(condition);
      return false;
    } catch (err) {
      if (isPreconditionFailed(err)) return true;
      const header = condition.IfNoneMatch !== undefined ? 'If-None-Match: *' : 'If-Match';
      throw conditionalWritesError(ctx, 'PutObject', key, err, header) ?? s3IoError(ctx, 'checking that the server honours conditional writes', key, err, 's3:PutObject');
    }
  };
  try {
    await put({ IfNoneMatch: '*' });
  } catch (err) {
    throw conditionalWritesError(ctx, 'PutObject', key, err, 'If-None-Match: *') ??
      s3IoError(ctx, 'checking that the server honours conditional writes (a create-only PutObject)', key, err, 's3:PutObject');
  }
  try {
    const createOnly = await refused({ IfNoneMatch: '*' });
    const compareAndSwap = createOnly && (await refused({ IfMatch: '"0123456789abcdef0123456789abcdef"' }));
    if (!createOnly || !compareAndSwap) {
      const header = createOnly ? 'If-Match' : 'If-None-Match: *';
      throw new CkptError(
        ErrorCodes.STORE_IO,
        `The server behind ${ctx.description} ignores conditional writes (${header} on PutObject overwrote an object). ` +
          `S3Store needs them so that a commit never replaces an image and only one writer holds the lease; it refuses to write there.`,
        {
          hint:
            "use a server that supports conditional writes (AWS S3, recent MinIO, R2, GCS), or promise a single writer per prefix with new S3Store({ …, conditionalWrites: 'off' }) (docs/s3.md)",
        },
      );
    }
  } finally {
    await ctx.client.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: key })).catch(() => undefined);
  }
}
