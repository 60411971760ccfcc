/**
 * @module s3/s3-source
 *
 * Reading one committed image from S3 with ranged GETs, in bounded memory.
 *
 * Reads go through aligned blocks of `blockSize` bytes, each fetched with one
 * ranged GET (pinned with `If-Match` to the ETag seen at open, so a replaced
 * object is never mixed in). Reads that move forward — a restore reading
 * segment after segment — start GETs of the next `readAhead` blocks while
 * the current ones are used, so several ranged GETs run in parallel and many
 * small segment reads coalesce into a few large requests. A read of a whole
 * block or more that is not cached goes straight into the caller's buffer
 * (`readInto`), split into parallel GETs of one block each. At most
 * `readAhead + 2` blocks are kept (block buffers are reused, not
 * reallocated), and at most `concurrency` GETs run at once.
 *
 * A body cut mid-stream (connection reset) is fetched again, twice at most;
 * throttling and 5xx answers were already retried by the SDK. An answer that
 * is not the range asked for — no Content-Range (a server ignoring `Range`),
 * another range, another object size — fails the read at once with
 * `CKPT_ERR_STORE_IO`: bytes are never taken from the wrong place.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { CkptError, ErrorCodes } from '../errors.js';
import type { ImageSource } from '../store/store.js';
import { readRangeError } from '../store/read-range.js';
import type { S3Context } from './s3-context.js';
import { destroy, readBodyInto } from './s3-context.js';
import { isNotFound, isPreconditionFailed, s3IoError } from './s3-errors.js';

/** How a source reads. */
export interface SourceSettings {
  /** Bytes per block (one ranged GET). */
  readonly blockSize: number;
  /** Blocks fetched ahead of a forward-moving reader. */
  readonly readAhead: number;
  /** Most GETs in flight at once. */
  readonly concurrency: number;
}

/** Bytes already read at open (the tail of the image: trailer and index). */
export interface CachedRange {
  /** Offset of `bytes` in the image. */
  readonly offset: number;
  /** The bytes. */
  readonly bytes: Uint8Array;
}

interface Block {
  readonly index: number;
  readonly ready: Promise<Uint8Array>;
  /** Readers waiting for or copying from this block (it is not evicted while > 0). */
  users: number;
  /** Last use, for eviction order. */
  used: number;
}

const FETCH_ATTEMPTS = 3;

/** Reader over one image object. */
export class S3ImageSource implements ImageSource {
  #closed = false;
  readonly #blocks = new Map<number, Block>();
  readonly #spare: Uint8Array[] = [];
  #lastBlock = -1;
  #clock = 0;
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  /** GETs sent, for tests and cost reports. */
  #requests = 0;

  /**
   * @param id - image id
   * @param size - object size in bytes
   * @param etag - the object's ETag at open (reads are pinned to it)
   * @param cached - bytes read at open
   */
  constructor(
    readonly id: string,
    readonly size: number,
    private readonly key: string,
    private readonly etag: string | undefined,
    private readonly ctx: S3Context,
    private readonly settings: SourceSettings,
    private readonly cached: CachedRange | undefined,
  ) {}

  /** Ranged GETs this source sent. */
  get requests(): number {
    return this.#requests;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const err = readRangeError(this.id, this.size, this.#closed, offset, length);
    if (err !== undefined) throw err;
    const into = new Uint8Array(length);
    await this.#readInto(offset, into);
    return into;
  }

  async readInto(offset: number, into: Uint8Array): Promise<void> {
    const err = readRangeError(this.id, this.size, this.#closed, offset, into.length);
    if (err !== undefined) throw err;
    await this.#readInto(offset, into);
  }

  async #readInto(offset: number, into: Uint8Array): Promise<void> {
    const length = into.length;
    if (length === 0) return;
    const c = this.cached;
    if (c !== undefined && offset >= c.offset && offset + length <= c.offset + c.bytes.length) {
      into.set(c.bytes.subarray(offset - c.offset, offset - c.offset + length));
      return;
    }
    const bs = this.settings.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    const forward = this.#lastBlock >= 0 && first >= this.#lastBlock - 1 && first <= this.#lastBlock + this.settings.readAhead + 1;
    this.#lastBlock = Math.max(this.#lastBlock, last);
    let uncached = true;
    for (let b = first; b <= last && uncached; b++) if (this.#blocks.has(b)) uncached = false;
    if (length >= bs && uncached) {
      if (forward || first === 0) this.#prefetch(last + 1);
      await this.#direct(offset, into);
      return;
    }
    const blocks: Block[] = [];
    for (let b = first; b <= last; b++) blocks.push(this.#block(b));
    if (forward || first === 0) this.#prefetch(last + 1);
    let done = 0;
    try {
      for (const block of blocks) {
        const bytes = await block.ready;
        this.#check();
        const start = block.index * bs;
        const from = Math.max(offset, start);
        const to = Math.min(offset + length, start + bytes.length);
        into.set(bytes.subarray(from - start, to - start), from - offset);
        block.used = ++this.#clock;
        block.users--;
        done++;
      }
    } finally {
      for (let i = done; i < blocks.length; i++) blocks[i]!.users--;
    }
  }

  /** The block `index`, fetched when not present, marked as used by one reader. */
  #block(index: number): Block {
    let block = this.#blocks.get(index);
    if (block === undefined) {
      this.#evict(1);
      const start = index * this.settings.blockSize;
      const length = Math.min(this.settings.blockSize, this.size - start);
      const buffer = this.#spare.pop()?.subarray(0, length) ?? new Uint8Array(length);
      block = { index, ready: this.#fetch(start, buffer).then(() => buffer), users: 0, used: ++this.#clock };
      const made = block;
      // A failed block is fetched again by the next reader.
      made.ready.catch(() => {
        if (this.#blocks.get(index) === made) this.#blocks.delete(index);
      });
      this.#blocks.set(index, made);
    }
    block.users++;
    return block;
  }

  /** Start fetching the blocks from `from` on, up to readAhead of them, when there is room. */
  #prefetch(from: number): void {
    const nBlocks = Math.ceil(this.size / this.settings.blockSize);
    for (let b = from; b < Math.min(nBlocks, from + this.settings.readAhead); b++) {
      if (this.#blocks.has(b)) continue;
      if (!this.#evict(1, true)) return;
      const block = this.#block(b);
      block.users--;
    }
  }

  /**
   * Make room for `n` more blocks: drop unused blocks, those behind the
   * reader first, then the least recently used. With `onlyIfRoom`, returns
   * false instead of going over the limit.
   */
  #evict(n: number, onlyIfRoom = false): boolean {
    const max = this.settings.readAhead + 2;
    while (this.#blocks.size + n > max) {
      let victim: Block | undefined;
      for (const b of this.#blocks.values()) {
        if (b.users > 0) continue;
        const behind = b.index < this.#lastBlock;
        const vBehind = victim !== undefined && victim.index < this.#lastBlock;
        if (victim === undefined || (behind && !vBehind) || (behind === vBehind && b.used < victim.used)) victim = b;
      }
      if (victim === undefined || (onlyIfRoom && victim.index >= this.#lastBlock)) return !onlyIfRoom;
      this.#blocks.delete(victim.index);
      const v = victim;
      void v.ready.then(
        (bytes) => {
          // Only whole-block buffers are reused (the last block of an image may be shorter).
          if (v.users === 0 && this.#spare.length < 2 && bytes.buffer.byteLength >= this.settings.blockSize) {
            this.#spare.push(new Uint8Array(bytes.buffer, 0, this.settings.blockSize));
          }
        },
        () => undefined,
      );
    }
    return true;
  }

  /** A large read straight into the caller's buffer, as parallel GETs of one block each. */
  async #direct(offset: number, into: Uint8Array): Promise<void> {
    const bs = this.settings.blockSize;
    const tasks: Promise<void>[] = [];
    for (let at = 0; at < into.length; at += bs) {
      const n = Math.min(bs, into.length - at);
      tasks.push(this.#fetch(offset + at, into.subarray(at, at + n)));
    }
    const results = await Promise.allSettled(tasks);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    this.#check();
  }

  /** One ranged GET of `into.length` bytes at `offset`, within the concurrency limit, re-sent when the body was cut. */
  async #fetch(offset: number, into: Uint8Array): Promise<void> {
    await this.#slot();
    try {
      for (let attempt = 1; ; attempt++) {
        this.#check();
        let wrongAnswer: CkptError | undefined;
        try {
          this.#requests++;
          const out = await this.ctx.client.send(
            new GetObjectCommand({
              Bucket: this.ctx.bucket,
              Key: this.key,
              Range: `bytes=${offset}-${offset + into.length - 1}`,
              ...(this.etag === undefined ? {} : { IfMatch: this.etag }),
            }),
          );
          wrongAnswer = this.#checkRange(offset, into.length, out.ContentRange, out.ContentLength);
          if (wrongAnswer !== undefined) {
            destroy(out.Body);
            throw wrongAnswer;
          }
          await readBodyInto(out.Body, into, `reading image ${this.id} at ${offset}`);
          return;
        } catch (err) {
          if (err === wrongAnswer) throw err; // the server's answer, not the connection: asking again would not help
          if (isPreconditionFailed(err) || isNotFound(err)) {
            throw new CkptError(
              ErrorCodes.STORE_IO,
              `Image ${this.id} in ${this.ctx.description} was deleted or replaced while it was read; open it again.`,
              { cause: err, image: this.id },
            );
          }
          const cut = err instanceof CkptError || isNetworkError(err);
          if (!cut || attempt >= FETCH_ATTEMPTS || this.#closed) {
            throw s3IoError(this.ctx, `reading image ${this.id} (bytes ${offset}+${into.length})`, this.key, err, 's3:GetObject', this.id);
          }
          await sleep(50 * 4 ** (attempt - 1));
        }
      }
    } finally {
      this.#release();
    }
  }

  /**
   * The error for an answer that is not the range asked for (`length` bytes
   * at `offset` of this object), or undefined when it is. Without
   * Content-Range the answer is accepted only as the whole object read from
   * its start; anything else would put bytes from the wrong place, or too
   * few, into the image.
   */
  #checkRange(offset: number, length: number, contentRange: string | undefined, contentLength: number | undefined): CkptError | undefined {
    const asked = `bytes ${offset}-${offset + length - 1}`;
    const what = `Reading image ${this.id} in ${this.ctx.description}: the server answered the request for ${asked}`;
    const hint = 'the server does not answer ranged GETs (Range: bytes=a-b) as S3 does; docs/s3.md lists what S3Store needs from an S3-compatible server';
    if (contentRange === undefined || contentRange === '') {
      if (offset === 0 && contentLength === this.size) return undefined; // the whole object, from its first byte
      return new CkptError(
        ErrorCodes.STORE_IO,
        `${what} without a Content-Range header (${contentLength === undefined ? 'of unknown length' : `${contentLength} bytes`}): it ignored the Range header, or the answer is not the range asked for.`,
        { image: this.id, hint },
      );
    }
    const range = parseContentRange(contentRange);
    if (range === undefined) {
      return new CkptError(ErrorCodes.STORE_IO, `${what} with an unreadable Content-Range header "${contentRange}".`, { image: this.id, hint });
    }
    if (range.size !== this.size) {
      return new CkptError(
        ErrorCodes.STORE_IO,
        `${what} with Content-Range "${contentRange}": the object holds ${range.size} bytes, not the ${this.size} it held when the image was opened; open it again.`,
        { image: this.id, hint },
      );
    }
    if (range.start !== offset || range.end !== offset + length - 1) {
      return new CkptError(ErrorCodes.STORE_IO, `${what}: it answered bytes ${range.start}-${range.end} (Content-Range "${contentRange}").`, { image: this.id, hint });
    }
    return undefined;
  }

  async #slot(): Promise<void> {
    while (this.#active >= this.settings.concurrency) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
  }

  #release(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }

  #check(): void {
    if (this.#closed) throw new CkptError(ErrorCodes.CLOSED, `Image ${this.id} was closed; open it again to read it.`, { image: this.id });
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#spare.length = 0;
    return Promise.resolve();
  }
}

/** True for errors of the connection (reset, timeout), which a new request may not meet. */
function isNetworkError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, name } = err as { code?: unknown; name?: unknown };
  return (
    (typeof code === 'string' && ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE'].includes(code)) ||
    name === 'TimeoutError' ||
    name === 'AbortError'
  );
}

/** `[start, end, size]` of a `Content-Range` header, or undefined. */
export function parseContentRange(contentRange: string | undefined): { start: number; end: number; size: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange ?? '');
  return m === null ? undefined : { start: Number(m[1]), end: Number(m[2]), size: Number(m[3]) };
}
