/**
 * @module s3/s3-store
 *
 * {@link S3Store}: checkpoints in an S3 bucket (AWS S3 or a compatible
 * server), so a job can restart on another machine. Images are objects
 * `<prefix><id>.ckpt` — the layout of an `FsStore` directory — committed
 * with a conditional CompleteMultipartUpload (or PutObject) that cannot
 * replace an image; the writer lock is a lease object renewed with
 * compare-and-swap. Details: `docs/s3.md`.
 */
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { CkptError, ErrorCodes } from '../errors.js';
import type { AcquireOptions, ImageSink, ImageSource, Store, StoreEntry, WriterLock } from '../store/store.js';
import { nextImageId, parseImageId } from '../store/image-ids.js';
import type { S3Context } from './s3-context.js';
import { destroy, readBodyInto } from './s3-context.js';
import { isNotFound, isNotImplemented, s3IoError } from './s3-errors.js';
import { checkBucket, idOfKey, imageKey, LEASE_NAME, normalizePrefix, PROBE_PREFIX } from './s3-keys.js';
import { S3Lease } from './s3-lease.js';
import type { LeaseSettings } from './s3-lease.js';
import { ensureConditionalWrites } from './s3-probe.js';
import { S3ImageSink } from './s3-sink.js';
import type { SinkSettings } from './s3-sink.js';
import { parseContentRange, S3ImageSource } from './s3-source.js';
import type { CachedRange, SourceSettings } from './s3-source.js';

const MiB = 1024 * 1024;

/** S3's smallest part (every part but the last). */
const MIN_PART_SIZE = 5 * MiB;
/** S3's largest part. */
const MAX_PART_SIZE = 5 * 1024 * MiB;
/** Bytes read from the end of an image at open (trailer and, usually, the index: one GET instead of two). */
const TAIL_BYTES = 64 * 1024;

/**
 * How S3Store treats conditional writes (`If-None-Match`, `If-Match`):
 * - `'probe'` (default): check before the first write that the server
 *   honours them, and refuse to write when it does not;
 * - `'trust'`: use them without checking (saves the probe's four requests;
 *   for servers known to support them, such as AWS S3);
 * - `'off'`: single-writer mode, for servers that ignore or reject them:
 *   no conditional headers; the lease and the existence check before each
 *   commit keep honest writers apart but cannot settle races — run one
 *   writer per prefix.
 */
export type ConditionalWrites = 'probe' | 'trust' | 'off';

/** Options for {@link S3Store}. */
export interface S3StoreOptions {
  /** The bucket. */
  readonly bucket: string;
  /** Key prefix of the store (`'jobs/sim-42/'`; a missing final `/` is added). Default: the bucket root. */
  readonly prefix?: string;
  /**
   * The SDK client (credentials, region, endpoint, retries, checksum
   * settings). Default: `new S3Client(clientConfig)`, configured from the
   * SDK's usual environment variables and files.
   */
  readonly client?: S3Client;
  /** Configuration of the client S3Store makes when `client` is not given. */
  readonly clientConfig?: S3ClientConfig;
  /** Bytes per uploaded part, 5 MiB to 5 GiB. Default 8 MiB. Images up to 10,000 parts (78 GiB at the default). */
  readonly partSize?: number;
  /** Most part buffers per image being written (uploads in flight). Default 4: at most `partSize × queueSize` = 32 MiB buffered. */
  readonly queueSize?: number;
  /** Length of the writer lease in ms (renewed every third of it). Default 60,000. */
  readonly leaseMs?: number;
  /** Largest clock difference between writers' machines, in ms: a lease is taken over this long after it expired. Default 5,000. */
  readonly clockSkewMs?: number;
  /** Interval between looks at a busy lease while waiting for it (`waitMs`), in ms. Default 500. */
  readonly lockPollMs?: number;
  /** Conditional writes: `'probe'` (default), `'trust'` or `'off'` (single writer); see {@link ConditionalWrites}. */
  readonly conditionalWrites?: ConditionalWrites;
  /** Bytes per ranged GET when reading. Default 8 MiB. */
  readonly readBlockSize?: number;
  /** Blocks read ahead of a reader moving forward. Default 3 (with the default block size at most 40 MiB cached per open image). */
  readonly readAhead?: number;
  /** Most ranged GETs in flight per open image. Default 8. */
  readonly readConcurrency?: number;
}

function intOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `S3Store ${name} must be an integer from ${min} to ${max}; got ${String(value)}.`);
  }
  return value;
}

/** Per writer lease (shared by every handle on the store): ids handed to open sinks, their uploads, and the newest committed id known. */
interface WriterState {
  readonly reserved: Set<number>;
  /** Multipart uploads of open sinks (cleanup leaves them alone). */
  readonly uploads: Set<string>;
  /** The newest id in the bucket as of the last listing plus our own commits; undefined: list before the next id. */
  newest: number | undefined;
}

/**
 * A store in an S3 bucket (AWS S3, MinIO, Ceph RGW, Cloudflare R2, GCS's
 * XML API…), for jobs that restart on another machine.
 *
 * - Images are objects `<prefix><id>.ckpt`; one is invisible until its
 *   commit, a CompleteMultipartUpload (or PutObject for an image of one part)
 *   with `If-None-Match: *` — no temporary names, never a replaced image.
 * - The writer lock is the lease object `<prefix>.ckpt-lock`, renewed with
 *   `If-Match`; a writer whose lease was taken over cannot commit.
 * - Reads are ranged GETs, several in parallel, read ahead for restores.
 * - Writing buffers at most `partSize × queueSize` bytes (32 MiB by default).
 *
 * Imported from `ckpt/s3`; needs the peer dependency `@aws-sdk/client-s3`.
 * Setup, IAM policy and server notes: `docs/s3.md`.
 *
 * @example
 * import { S3Client } from '@aws-sdk/client-s3';
 * import { S3Store } from 'ckpt/s3';
 * const store = new S3Store({ bucket: 'jobs', prefix: 'sim-42/', client: new S3Client({ region: 'eu-west-1' }) });
 */
export class S3Store implements Store {
  /** `s3://<bucket>/<prefix>`. */
  readonly description: string;
  /** The bucket. */
  readonly bucket: string;
  /** The key prefix (`''` or ending in `/`). */
  readonly prefix: string;
  /** The SDK client every request goes through. */
  readonly client: S3Client;
  readonly #ctx: S3Context;
  readonly #conditionalWrites: ConditionalWrites;
  readonly #lease: LeaseSettings;
  readonly #sink: SinkSettings;
  readonly #source: SourceSettings;

  /**
   * @param options - bucket, prefix, client and tuning
   * @throws CkptError `CKPT_ERR_INVALID_ARGUMENT` for a bad bucket, prefix or option
   */
  constructor(options: S3StoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `S3Store needs options: new S3Store({ bucket: 'my-bucket', prefix: 'jobs/sim-42/' }).`);
    }
    this.bucket = checkBucket(options.bucket);
    this.prefix = normalizePrefix(options.prefix);
    this.description = `s3://${this.bucket}/${this.prefix}`;
    this.client = options.client ?? new S3Client(options.clientConfig ?? {});
    const mode = options.conditionalWrites ?? 'probe';
    if (mode !== 'probe' && mode !== 'trust' && mode !== 'off') {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `S3Store conditionalWrites must be 'probe', 'trust' or 'off'; got ${JSON.stringify(mode)}.`);
    }
    this.#conditionalWrites = mode;
    const leaseMs = intOption('leaseMs', options.leaseMs, 60_000, 50, 24 * 3600_000);
    this.#lease = {
      leaseMs,
      clockSkewMs: intOption('clockSkewMs', options.clockSkewMs, 5_000, 0, 3600_000),
      pollMs: intOption('lockPollMs', options.lockPollMs, 500, 1, 60_000),
      conditional: mode !== 'off',
    };
    this.#sink = {
      partSize: intOption('partSize', options.partSize, 8 * MiB, MIN_PART_SIZE, MAX_PART_SIZE),
      queueSize: intOption('queueSize', options.queueSize, 4, 1, 64),
      conditional: mode !== 'off',
    };
    this.#source = {
      blockSize: intOption('readBlockSize', options.readBlockSize, 8 * MiB, 4096, 1024 * MiB),
      readAhead: intOption('readAhead', options.readAhead, 3, 0, 64),
      concurrency: intOption('readConcurrency', options.readConcurrency, 8, 1, 64),
    };
    this.#ctx = { client: this.client, bucket: this.bucket, prefix: this.prefix, description: this.description };
  }

  /**
   * Committed images, newest first: every `<prefix><id>.ckpt` key, through
   * as many ListObjectsV2 pages as there are. Needs `s3:ListBucket`.
   */
  async list(): Promise<StoreEntry[]> {
    const entries: StoreEntry[] = [];
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, Delimiter: '/', ...(token === undefined ? {} : { ContinuationToken: token }) }),
        );
      } catch (err) {
        throw s3IoError(this.#ctx, 'listing images', this.prefix, err, 's3:ListBucket');
      }
      for (const o of out.Contents ?? []) {
        const id = o.Key === undefined ? undefined : idOfKey(this.prefix, o.Key);
        if (id !== undefined) entries.push({ id, size: o.Size ?? 0 });
      }
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
      if (out.IsTruncated === true && (token === undefined || token === '')) {
        throw new CkptError(ErrorCodes.STORE_IO, `Listing ${this.description}: the server said the listing is truncated but gave no continuation token.`, {
          hint: 'the server does not implement ListObjectsV2 paging correctly',
        });
      }
    } while (token !== undefined);
    return entries.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  /**
   * Open a committed image: one ranged GET of its last 64 KiB, which gives
   * its size and usually its trailer and index. Needs `s3:GetObject`.
   */
  async open(id: string): Promise<ImageSource> {
    parseImageId(id);
    const key = imageKey(this.prefix, id);
    let out;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=-${TAIL_BYTES}` }));
    } catch (err) {
      if (isNotFound(err)) throw this.#notFound(id, err);
      if (!isRangeNotSatisfiable(err)) throw s3IoError(this.#ctx, `opening image ${id}`, key, err, 's3:GetObject', id);
      return this.#openByHead(id, key); // an empty object has no last bytes
    }
    const range = parseContentRange(out.ContentRange);
    let size: number;
    let cached: CachedRange | undefined;
    if (range !== undefined) {
      size = range.size;
      const bytes = new Uint8Array(range.end - range.start + 1);
      await readBodyInto(out.Body, bytes, `opening image ${id}`).catch((err: unknown) => {
        throw s3IoError(this.#ctx, `opening image ${id}`, key, err, 's3:GetObject', id);
      });
      cached = { offset: range.start, bytes };
    } else {
      // No Content-Range: the server sent the whole object (it is smaller than the range, or ranges are ignored).
      if (out.ContentLength === undefined) {
        // Neither a range nor a length: the size must come from a HEAD.
        destroy(out.Body);
        return this.#openByHead(id, key);
      }
      size = out.ContentLength;
      if (size > TAIL_BYTES) {
        destroy(out.Body);
        return this.#openByHead(id, key);
      }
      const bytes = new Uint8Array(size);
      await readBodyInto(out.Body, bytes, `opening image ${id}`);
      cached = { offset: 0, bytes };
    }
    return new S3ImageSource(id, size, key, out.ETag, this.#ctx, this.#source, cached);
  }

  async #openByHead(id: string, key: string): Promise<ImageSource> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      if (head.ContentLength === undefined) {
        throw new CkptError(ErrorCodes.STORE_IO, `Opening image ${id} in ${this.description}: the server gave no Content-Length for s3://${this.bucket}/${key}, so its size is unknown.`, {
          image: id,
          hint: 'the server does not answer HeadObject as S3 does; docs/s3.md lists what S3Store needs from an S3-compatible server',
        });
      }
      return new S3ImageSource(id, head.ContentLength, key, head.ETag, this.#ctx, this.#source, undefined);
    } catch (err) {
      if (isNotFound(err)) throw this.#notFound(id, err);
      throw s3IoError(this.#ctx, `opening image ${id}`, key, err, 's3:GetObject', id);
    }
  }

  /**
   * Take the writer lease, waiting up to `waitMs` (the Checkpointer's
   * `lockWaitMs`) for a live holder. The first call of a store with
   * `conditionalWrites: 'probe'` first checks that the server honours
   * conditional writes.
   */
  async acquireWriter(options: AcquireOptions = {}): Promise<WriterLock> {
    const waitMs = options.waitMs ?? 0;
    if (typeof waitMs !== 'number' || Number.isNaN(waitMs) || waitMs < 0) {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `Invalid waitMs ${String(waitMs)}: it must be a number ≥ 0 (ms).`);
    }
    if (this.#conditionalWrites === 'probe') await ensureConditionalWrites(this.#ctx);
    const lease = await S3Lease.acquire(this.#ctx, this.#lease, waitMs);
    writers.set(lease, { reserved: new Set(), uploads: new Set(), newest: undefined });
    return lease;
  }

  /** Start the next image (its id: one past the newest in the bucket and any open sink's). Requires the lease. */
  async create(lock: WriterLock): Promise<ImageSink> {
    const lease = this.#checkLock(lock, 'create');
    await lease.refresh();
    const state = writers.get(lease)!;
    if (state.newest === undefined) {
      const newest = (await this.list())[0];
      await lease.refresh();
      state.newest ??= newest === undefined ? 0 : parseImageId(newest.id);
    }
    const id = nextImageId([state.newest, ...state.reserved]);
    const seq = parseImageId(id);
    state.reserved.add(seq);
    return new S3ImageSink(id, imageKey(this.prefix, id), seq, this.#ctx, lease, this.#sink, {
      uploadStarted: (uploadId) => state.uploads.add(uploadId),
      settled: (s, uploadId, committed) => {
        state.reserved.delete(s);
        if (uploadId !== undefined) state.uploads.delete(uploadId);
        if (committed) state.newest = Math.max(state.newest ?? 0, s);
        else if (state.reserved.size === 0) state.newest = undefined; // list again: another writer may have taken ids
      },
    });
  }

  /** Delete a committed image (HEAD, then DeleteObject). Requires the lease; checks it in the bucket first. */
  async delete(lock: WriterLock, id: string): Promise<void> {
    parseImageId(id);
    const lease = this.#checkLock(lock, 'delete');
    await lease.assertHeld();
    const key = imageKey(this.prefix, id);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (isNotFound(err)) throw this.#notFound(id, err);
      throw s3IoError(this.#ctx, `deleting image ${id}`, key, err, 's3:GetObject', id);
    }
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw s3IoError(this.#ctx, `deleting image ${id}`, key, err, 's3:DeleteObject', id);
    }
  }

  /**
   * Abort the multipart uploads crashed writers left under the prefix (every
   * one but this handle's open sinks') and remove leftover probe objects.
   * Requires the lease. A server that cannot list multipart uploads
   * (501) leaves them to the bucket's lifecycle rule (`docs/s3.md`).
   * Returns what was removed (`000000000007.ckpt (upload …)`, probe keys).
   */
  async cleanup(lock: WriterLock): Promise<string[]> {
    const lease = this.#checkLock(lock, 'cleanup');
    await lease.assertHeld();
    const removed: string[] = [];
    let keyMarker: string | undefined;
    let uploadMarker: string | undefined;
    for (;;) {
      let out;
      try {
        out = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: this.prefix,
            ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
            ...(uploadMarker === undefined ? {} : { UploadIdMarker: uploadMarker }),
          }),
        );
      } catch (err) {
        if (isNotImplemented(err)) break;
        throw s3IoError(this.#ctx, 'cleanup: listing incomplete uploads', this.prefix, err, 's3:ListBucketMultipartUploads');
      }
      for (const u of out.Uploads ?? []) {
        if (u.Key === undefined || u.UploadId === undefined || writers.get(lease)?.uploads.has(u.UploadId) === true) continue;
        const id = idOfKey(this.prefix, u.Key);
        if (id === undefined) continue;
        try {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }));
          removed.push(`${u.Key.slice(this.prefix.length)} (upload ${u.UploadId})`);
        } catch (err) {
          if (!isNotFound(err)) throw s3IoError(this.#ctx, 'cleanup: aborting an incomplete upload', u.Key, err, 's3:AbortMultipartUpload', id);
        }
      }
      if (out.IsTruncated !== true) break;
      keyMarker = out.NextKeyMarker;
      uploadMarker = out.NextUploadIdMarker;
      if (keyMarker === undefined) break;
    }
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${this.prefix}${PROBE_PREFIX}`, ...(token === undefined ? {} : { ContinuationToken: token }) }),
        );
      } catch (err) {
        throw s3IoError(this.#ctx, 'cleanup: listing probe objects', this.prefix, err, 's3:ListBucket');
      }
      for (const o of out.Contents ?? []) {
        if (o.Key === undefined) continue;
        try {
          await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: o.Key }));
          removed.push(o.Key.slice(this.prefix.length));
        } catch (err) {
          throw s3IoError(this.#ctx, 'cleanup: removing a probe object', o.Key, err, 's3:DeleteObject');
        }
      }
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
    } while (token !== undefined && token !== '');
    return removed;
  }

  #checkLock(lock: WriterLock, what: string): S3Lease {
    if (!(lock instanceof S3Lease) || !writers.has(lock) || lock.bucket !== this.bucket || lock.key !== `${this.prefix}${LEASE_NAME}`) {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `${what}() needs the writer lock of ${this.description}, as returned by its acquireWriter().`);
    }
    return lock;
  }

  #notFound(id: string, cause: unknown): CkptError {
    return new CkptError(ErrorCodes.NOT_FOUND, `No image ${id} in ${this.description}.`, { cause, image: id });
  }
}

/** The state of every lease taken in this process, by lease (a lock of one handle is valid on every handle of the same store). */
const writers = new WeakMap<S3Lease, WriterState>();

function isRangeNotSatisfiable(err: unknown): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return status === 416 || (err as { name?: unknown } | null)?.name === 'InvalidRange';
}
