/**
 * @module s3/s3-sink
 *
 * One new image on S3, written as its final object and invisible until the
 * commit. Bytes are gathered into part buffers of `partSize`; a full buffer
 * becomes an UploadPart of a multipart upload (created on the first full
 * part), at most `queueSize` buffers exist at once, so memory stays at
 * `partSize × queueSize` whatever the image size, and `write()` waits while
 * every buffer is being uploaded. An image that fits in one part is sent as
 * a single PutObject at commit.
 *
 * The commit: the fencing check (`assertHeld()`: the lease is still ours),
 * then CompleteMultipartUpload — or the PutObject — with `If-None-Match: *`,
 * so it can never replace an image. A retry (after 409
 * ConditionalRequestConflict, which S3 asks to retry, or a lost answer) is
 * fenced again first; only 412 means that the key exists. The object carries a random token in its
 * metadata (`x-amz-meta-ckpt-token`). When the outcome is unknown (timeout
 * or reset after the request was sent, or a 412 that may be our own retried
 * request), a HEAD decides: the object exists with our token → committed;
 * otherwise the multipart upload is aborted first (so a late Complete can no
 * longer succeed) and the HEAD repeated. "Commit rejected" means "no image".
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { CkptError, ErrorCodes } from '../errors.js';
import type { ImageSink } from '../store/store.js';
import type { S3Context } from './s3-context.js';
import { conditionalWritesError, hadNoEffect, isConflict, isNotFound, isPreconditionFailed, s3IoError } from './s3-errors.js';
import type { S3Lease } from './s3-lease.js';

/** Metadata key of the per-image token (sent as `x-amz-meta-ckpt-token`). */
export const TOKEN_METADATA = 'ckpt-token';

/** S3's limit on parts per multipart upload. */
export const MAX_PARTS = 10_000;

/** How a sink writes. */
export interface SinkSettings {
  /** Bytes per part (≥ 5 MiB, S3's minimum for every part but the last). */
  readonly partSize: number;
  /** Most part buffers at once (uploads in flight plus the one filling). */
  readonly queueSize: number;
  /** Send `If-None-Match: *` (false: single-writer mode, a HEAD checks first). */
  readonly conditional: boolean;
}

/** What a sink tells the store that created it. */
export interface SinkOwner {
  /** A multipart upload was started for the sink (cleanup() must leave it alone while the sink is open). */
  uploadStarted(uploadId: string): void;
  /** The sink committed, aborted or failed. */
  settled(seq: number, uploadId: string | undefined, committed: boolean): void;
}

/** Attempts of a request whose outcome is unknown, or that met a 409 conflict, before giving up. */
const ATTEMPTS = 3;

type State = 'open' | 'committing' | 'committed' | 'aborted' | 'failed';

/** Writer of one image object. */
export class S3ImageSink implements ImageSink {
  #state: State = 'open';
  #chain: Promise<void> = Promise.resolve();
  #failure: CkptError | undefined;
  #commit: Promise<void> | undefined;
  /** The buffer being filled (smaller than partSize only while no part was sent: small images stay small). */
  #buffer: Uint8Array | undefined;
  #fill = 0;
  /** Part buffers not in use. */
  readonly #free: Uint8Array[] = [];
  /** Part buffers allocated (≤ queueSize). */
  #allocated = 0;
  readonly #inFlight = new Set<Promise<void>>();
  #uploadId: string | undefined;
  readonly #parts: { PartNumber: number; ETag: string | undefined }[] = [];
  #nextPart = 1;
  /** Requests sent, for tests and cost reports. */
  #requests = 0;
  /** The random token stored in the image object's metadata. */
  readonly token = randomBytes(16).toString('hex');

  /**
   * @param id - the image id
   * @param key - the image object's key
   */
  constructor(
    readonly id: string,
    readonly key: string,
    private readonly seq: number,
    private readonly ctx: S3Context,
    private readonly lease: S3Lease,
    private readonly settings: SinkSettings,
    private readonly owner: SinkOwner,
  ) {}

  /** Requests this sink sent so far (parts, create, complete, checks). */
  get requests(): number {
    return this.#requests;
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(this.#closedError('write to'));
    if (!(chunk instanceof Uint8Array)) {
      return Promise.reject(new CkptError(ErrorCodes.INVALID_ARGUMENT, `ImageSink.write() takes a Uint8Array.`));
    }
    const done = this.#chain.then(() => this.#append(chunk));
    this.#chain = done.catch(() => undefined);
    return done;
  }

  async #append(chunk: Uint8Array): Promise<void> {
    const { partSize } = this.settings;
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.#failure !== undefined) throw this.#failure;
      const want = chunk.byteLength - at;
      await this.#room(want);
      const buffer = this.#buffer!;
      const n = Math.min(buffer.byteLength - this.#fill, want);
      buffer.set(chunk.subarray(at, at + n), this.#fill);
      this.#fill += n;
      at += n;
      if (this.#fill === partSize) await this.#sendPart();
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Make room in the current buffer for (up to) `want` more bytes. */
  async #room(want: number): Promise<void> {
    const { partSize } = this.settings;
    if (this.#buffer === undefined) {
      if (this.#uploadId === undefined && this.#allocated === 0) {
        // First buffer: as small as the data so far allows; grows by doubling up to partSize.
        this.#buffer = new Uint8Array(Math.min(partSize, Math.max(64 * 1024, want)));
        this.#allocated = 1;
      } else {
        this.#buffer = await this.#takeBuffer();
      }
      return;
    }
    if (this.#fill < this.#buffer.byteLength) return;
    // Full but smaller than a part: grow it.
    const grown = new Uint8Array(Math.min(partSize, Math.max(this.#buffer.byteLength * 2, this.#fill + want)));
    grown.set(this.#buffer.subarray(0, this.#fill));
    this.#buffer = grown;
  }

  /** A free part buffer, waiting for an upload to finish when all `queueSize` are in use. */
  async #takeBuffer(): Promise<Uint8Array> {
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure;
      const free = this.#free.pop();
      if (free !== undefined) return free;
      if (this.#allocated < this.settings.queueSize) {
        this.#allocated++;
        return new Uint8Array(this.settings.partSize);
      }
      await Promise.race(this.#inFlight);
    }
  }

  /** Send the current buffer as the next part (in the background; the buffer returns to the free list when done). */
  async #sendPart(): Promise<void> {
    const buffer = this.#buffer!;
    const length = this.#fill;
    this.#buffer = undefined;
    this.#fill = 0;
    if (this.#uploadId === undefined) await this.#createUpload();
    const partNumber = this.#nextPart++;
    if (partNumber > MAX_PARTS) {
      this.#failure = new CkptError(
        ErrorCodes.LIMIT,
        `Image ${this.id} needs more than ${MAX_PARTS} parts of ${this.settings.partSize} bytes (S3's limit). Raise S3Store's partSize.`,
        { image: this.id },
      );
      throw this.#failure;
    }
    const task: Promise<void> = this.#uploadPart(partNumber, buffer.subarray(0, length))
      .then(
        (etag) => {
          this.#parts.push({ PartNumber: partNumber, ETag: etag });
        },
        (err: unknown) => {
          this.#failure ??= s3IoError(this.ctx, `uploading part ${partNumber} of image ${this.id}`, this.key, err, 's3:PutObject', this.id);
        },
      )
      .finally(() => {
        if (buffer.byteLength === this.settings.partSize) this.#free.push(buffer);
        else this.#allocated--;
        this.#inFlight.delete(task);
      });
    this.#inFlight.add(task);
  }

  async #createUpload(): Promise<void> {
    try {
      this.#requests++;
      const out = await this.ctx.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.ctx.bucket,
          Key: this.key,
          ContentType: 'application/octet-stream',
          Metadata: { [TOKEN_METADATA]: this.token },
        }),
      );
      if (out.UploadId === undefined || out.UploadId === '') throw new Error('the server returned no UploadId');
      this.#uploadId = out.UploadId;
      this.owner.uploadStarted(out.UploadId);
    } catch (err) {
      this.#failure ??= s3IoError(this.ctx, `starting the upload of image ${this.id}`, this.key, err, 's3:PutObject', this.id);
      throw this.#failure;
    }
  }

  /** One part; re-sent (same number: idempotent) when the outcome was unknown. */
  async #uploadPart(partNumber: number, body: Uint8Array): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.#requests++;
        const out = await this.ctx.client.send(
          new UploadPartCommand({
            Bucket: this.ctx.bucket,
            Key: this.key,
            UploadId: this.#uploadId,
            PartNumber: partNumber,
            Body: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
            ContentLength: body.byteLength,
          }),
        );
        return out.ETag;
      } catch (err) {
        if (attempt >= ATTEMPTS || hadNoEffect(err) || this.#state === 'aborted') throw err;
        await sleep(100 * 4 ** (attempt - 1));
      }
    }
  }

  commit(): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(this.#closedError('commit'));
    this.#state = 'committing';
    this.#commit = this.#doCommit();
    return this.#commit;
  }

  async #doCommit(): Promise<void> {
    await this.#chain;
    let committed = false;
    try {
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#uploadId === undefined) {
        await this.#fence();
        await this.#putWhole();
      } else {
        if (this.#fill > 0) await this.#sendPart();
        while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
        this.#throwIfFailed();
        await this.#fence();
        await this.#complete();
      }
      committed = true;
      this.#state = 'committed';
    } catch (err) {
      this.#state = 'failed';
      await this.#discard();
      throw err;
    } finally {
      this.#buffer = undefined;
      this.#free.length = 0;
      this.owner.settled(this.seq, this.#uploadId, committed);
    }
  }

  /** Throw the first failure of a part upload, if there was one. */
  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** The fencing check, as late as possible: a writer whose lease was taken over never publishes. */
  async #fence(): Promise<void> {
    this.#requests++;
    await this.lease.assertHeld();
    if (!this.settings.conditional && (await this.#head()) !== undefined) throw this.#taken(undefined);
  }

  /**
   * The fencing check again, before each retry of the commit (the lease may
   * have been taken over while the last attempt failed or the backoff ran).
   * True when the image turns out committed already: by an earlier attempt
   * of ours, sent while the lease was ours, whose answer was lost.
   */
  async #fenceAgain(): Promise<boolean> {
    try {
      this.#requests++;
      await this.lease.assertHeld();
    } catch (err) {
      if ((await this.#head()) === this.token) return true;
      throw err;
    }
    if (!this.settings.conditional) {
      const token = await this.#head();
      if (token === this.token) return true;
      if (token !== undefined) throw this.#taken(undefined);
    }
    return false;
  }

  /** The error for a 501 to a conditional commit (the server lacks conditional writes), or undefined. */
  #unsupported(operation: string, err: unknown): CkptError | undefined {
    if (!this.settings.conditional) return undefined;
    return conditionalWritesError(this.ctx, `committing image ${this.id} (${operation})`, this.key, err, 'If-None-Match: *', this.id);
  }

  /** Metadata token of the image object, `null` for an object without one, undefined when there is none. */
  async #head(): Promise<string | null | undefined> {
    try {
      this.#requests++;
      const out = await this.ctx.client.send(new HeadObjectCommand({ Bucket: this.ctx.bucket, Key: this.key }));
      return out.Metadata?.[TOKEN_METADATA] ?? null;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw s3IoError(this.ctx, `checking whether image ${this.id} was committed`, this.key, err, 's3:GetObject', this.id);
    }
  }

  /** The error for an id another writer's image holds. */
  #taken(cause: unknown): CkptError {
    return new CkptError(
      ErrorCodes.LOCKED,
      `Cannot commit image ${this.id} to ${this.ctx.description}: another writer committed an image with this id (images are never replaced). ` +
        `Two writers are using the store; stop the other one, or check that every writer holds the lease.`,
      { image: this.id, ...(cause === undefined ? {} : { cause }) },
    );
  }

  /** The single PutObject of an image that fits in one part. */
  async #putWhole(): Promise<void> {
    const body = this.#buffer === undefined ? new Uint8Array(0) : this.#buffer.subarray(0, this.#fill);
    let lastError: unknown;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      if (attempt > 1 && (await this.#fenceAgain())) return;
      try {
        this.#requests++;
        await this.ctx.client.send(
          new PutObjectCommand({
            Bucket: this.ctx.bucket,
            Key: this.key,
            Body: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
            ContentLength: body.byteLength,
            ContentType: 'application/octet-stream',
            Metadata: { [TOKEN_METADATA]: this.token },
            ...(this.settings.conditional ? { IfNoneMatch: '*' } : {}),
          }),
        );
        return;
      } catch (err) {
        lastError = err;
        if (isPreconditionFailed(err)) {
          // The key exists: ours (an earlier attempt whose answer was lost) or another writer's.
          if ((await this.#head()) === this.token) return;
          throw this.#taken(err);
        }
        const unsupported = this.#unsupported('PutObject', err);
        if (unsupported !== undefined) throw unsupported;
        if (hadNoEffect(err)) throw s3IoError(this.ctx, `committing image ${this.id}`, this.key, err, 's3:PutObject', this.id);
        // 409, or unknown outcome: the same conditional PUT again settles it (200: ours; 412: see above).
        if (attempt < ATTEMPTS) await sleep(100 * 4 ** (attempt - 1));
      }
    }
    if ((await this.#head()) === this.token) return;
    if (isConflict(lastError)) {
      throw new CkptError(
        ErrorCodes.STORE_IO,
        `Committing image ${this.id} to ${this.ctx.description} failed: the server answered 409 ConditionalRequestConflict ${ATTEMPTS} times ` +
          `(a conflicting request on the same key kept running); the image does not exist. Retry the checkpoint.`,
        { cause: lastError, image: this.id },
      );
    }
    throw new CkptError(
      ErrorCodes.STORE_IO,
      `Committing image ${this.id} to ${this.ctx.description} failed ${ATTEMPTS} times with no answer from the server; the image was not found afterwards. ` +
        `A request still on its way could create it later: it is then an ordinary image that retention handles.`,
      { cause: lastError, image: this.id, hint: s3IoError(this.ctx, 'commit', this.key, lastError).hint ?? 'check the network' },
    );
  }

  /** CompleteMultipartUpload with If-None-Match: *, outcome settled by HEAD when unknown. */
  async #complete(): Promise<void> {
    const parts = [...this.#parts].sort((a, b) => a.PartNumber - b.PartNumber);
    let lastError: unknown;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      if (attempt > 1 && (await this.#fenceAgain())) return;
      try {
        this.#requests++;
        await this.ctx.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.ctx.bucket,
            Key: this.key,
            UploadId: this.#uploadId,
            MultipartUpload: { Parts: parts },
            ...(this.settings.conditional ? { IfNoneMatch: '*' } : {}),
          }),
        );
        return;
      } catch (err) {
        lastError = err;
        if (isPreconditionFailed(err)) {
          if ((await this.#head()) === this.token) return; // our own earlier attempt completed it
          throw this.#taken(err);
        }
        if (isNotFound(err)) {
          // NoSuchUpload: an earlier attempt whose answer was lost completed it, or it was aborted.
          if ((await this.#head()) === this.token) return;
          throw s3IoError(this.ctx, `committing image ${this.id}`, this.key, err, 's3:PutObject', this.id);
        }
        const unsupported = this.#unsupported('CompleteMultipartUpload', err);
        if (unsupported !== undefined) throw unsupported;
        if (hadNoEffect(err)) throw s3IoError(this.ctx, `committing image ${this.id}`, this.key, err, 's3:PutObject', this.id);
        if (isConflict(err)) {
          // 409 ConditionalRequestConflict: a concurrent request on the key; S3 asks to retry (only 412 means the key exists).
          if (attempt < ATTEMPTS) await sleep(100 * 4 ** (attempt - 1));
          continue;
        }
        // Unknown outcome: never guess.
        if (await this.#settleUnknown(err)) return;
        throw s3IoError(this.ctx, `committing image ${this.id} (the upload was aborted; the image does not exist)`, this.key, err, 's3:PutObject', this.id);
      }
    }
    // Every attempt met 409: settle (an attempt the SDK retried may have gone through) and report the conflict.
    if (await this.#settleUnknown(lastError)) return;
    throw s3IoError(
      this.ctx,
      `committing image ${this.id} (409 ConditionalRequestConflict ${ATTEMPTS} times; the upload was aborted, the image does not exist)`,
      this.key,
      lastError,
      's3:PutObject',
      this.id,
    );
  }

  /**
   * After a Complete whose outcome is unknown: true when it committed (the
   * object holds our token). Otherwise the upload is aborted — after that no
   * late Complete can succeed — and the object looked up once more.
   *
   * @throws CkptError `CKPT_ERR_STORE_IO` when neither the HEAD nor the abort gets an answer: the outcome stays unknown
   */
  async #settleUnknown(cause: unknown): Promise<boolean> {
    if ((await this.#head()) === this.token) return true;
    try {
      this.#requests++;
      await this.ctx.client.send(new AbortMultipartUploadCommand({ Bucket: this.ctx.bucket, Key: this.key, UploadId: this.#uploadId }));
    } catch (err) {
      if (!isNotFound(err)) {
        throw new CkptError(
          ErrorCodes.STORE_IO,
          `Committing image ${this.id} to ${this.ctx.description}: the server did not answer the commit, and the upload could not be aborted to settle it ` +
            `(${s3IoError(this.ctx, 'abort', this.key, err).message}). Image ${this.id} may appear later; do not rely on it.`,
          { cause, image: this.id, hint: 'the next cleanup() aborts the upload; the bucket lifecycle rule does too' },
        );
      }
    }
    return (await this.#head()) === this.token;
  }

  /** Stop the upload (failed commit or abort): wait for parts in flight, abort the multipart upload. */
  async #discard(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    if (this.#uploadId === undefined) return;
    try {
      this.#requests++;
      await this.ctx.client.send(new AbortMultipartUploadCommand({ Bucket: this.ctx.bucket, Key: this.key, UploadId: this.#uploadId }));
    } catch {
      // Left for cleanup() and the bucket's lifecycle rule: an incomplete upload is never listed.
    }
  }

  async abort(): Promise<void> {
    if (this.#state === 'committing') {
      await this.#commit?.catch(() => undefined);
      return;
    }
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    await this.#chain;
    await this.#discard();
    this.#buffer = undefined;
    this.#free.length = 0;
    this.owner.settled(this.seq, this.#uploadId, false);
  }

  #closedError(what: string): CkptError {
    const was = this.#state === 'open' || this.#state === 'committing' ? 'committing' : this.#state === 'failed' ? 'failed to commit' : `already ${this.#state}`;
    return new CkptError(ErrorCodes.CLOSED, `Cannot ${what} image ${this.id}: it was ${was}. Start a new image with store.create(lock).`, {
      image: this.id,
    });
  }
}
