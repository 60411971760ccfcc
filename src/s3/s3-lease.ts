/**
 * @module s3/s3-lease
 *
 * The writer lock of an `S3Store`: a lease object `<prefix>.ckpt-lock`
 * holding JSON `{ v, token, hostname, pid, acquiredAt, expiresAt, leaseMs }`.
 *
 * - **Acquire**: PutObject with `If-None-Match: *` — exactly one creator wins.
 * - **Renew**: every `leaseMs / 3`, PutObject with `If-Match: <our ETag>`
 *   and a new `expiresAt` (compare-and-swap: it fails once anyone else wrote
 *   the lease).
 * - **Take over**: a lease whose `expiresAt` (the holder's clock) plus
 *   `clockSkewMs` has passed is stale; it is replaced with `If-Match: <its
 *   ETag>`, so of several takers exactly one wins.
 * - **Release**: DeleteObject with `If-Match: <our ETag>` (a conditional
 *   delete: a lease someone else took over is never removed).
 * - **Fencing**: `assertHeld()` — run before every commit — fails when the
 *   lease was released, lost to a takeover, not renewed in time, or no
 *   longer holds our token in the bucket.
 *
 * A holder counts its lease as valid until `leaseMs` after it *sent* its last
 * successful renewal; a taker waits until `clockSkewMs` after `expiresAt`.
 * So a holder never believes it holds a lease another writer took over, as
 * long as the two clocks differ by less than `clockSkewMs`.
 *
 * With `conditional: false` (single-writer mode, for servers that ignore
 * conditional headers) the same steps run without conditions: the lease then
 * only keeps honest writers apart and cannot settle races; the user promises
 * one writer per prefix.
 */
import { randomBytes } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CkptError, ErrorCodes } from '../errors.js';
import type { WriterLock } from '../store/store.js';
import type { S3Context } from './s3-context.js';
import { readBodyText } from './s3-context.js';
import { conditionalWritesError, hadNoEffect, isConflict, isNotFound, isNotImplemented, isPreconditionFailed, s3IoError } from './s3-errors.js';
import { LEASE_NAME } from './s3-keys.js';

/** What the lease object holds. */
export interface LeaseRecord {
  /** Record version (1). */
  readonly v: 1;
  /** Random token of this acquisition. */
  readonly token: string;
  /** `os.hostname()` of the holder. */
  readonly hostname: string;
  /** Process id of the holder. */
  readonly pid: number;
  /** When the lease was acquired (ISO 8601, holder's clock). */
  readonly acquiredAt: string;
  /** Until when the holder may write (ms since the epoch, holder's clock). */
  readonly expiresAt: number;
  /** The holder's lease length in ms. */
  readonly leaseMs: number;
}

/** Lease timing and mode. */
export interface LeaseSettings {
  /** Lease length in ms. */
  readonly leaseMs: number;
  /** Allowed clock difference between writers, in ms. */
  readonly clockSkewMs: number;
  /** Interval between attempts while waiting for a busy lease, in ms. */
  readonly pollMs: number;
  /** Use conditional writes (false: single-writer mode). */
  readonly conditional: boolean;
}

/** A lease as read from the bucket. */
interface SeenLease {
  readonly etag: string | undefined;
  readonly record: LeaseRecord | undefined;
  readonly lastModified: number | undefined;
}

const MAX_LEASE_BYTES = 4096;
/** Attempts in a row that found the lease changing under them before waiting one poll interval. */
const MAX_QUICK_RETRIES = 10;
/** Renewal attempts in a row that met 409 ConditionalRequestConflict before waiting for the next tick. */
const RENEW_ATTEMPTS = 3;

function parseRecord(text: string): LeaseRecord | undefined {
  try {
    const v = JSON.parse(text) as Partial<LeaseRecord> | null;
    if (v === null || typeof v !== 'object' || v.v !== 1 || typeof v.token !== 'string' || typeof v.expiresAt !== 'number') return undefined;
    return {
      v: 1,
      token: v.token,
      hostname: typeof v.hostname === 'string' ? v.hostname : '?',
      pid: typeof v.pid === 'number' ? v.pid : 0,
      acquiredAt: typeof v.acquiredAt === 'string' ? v.acquiredAt : '?',
      expiresAt: v.expiresAt,
      leaseMs: typeof v.leaseMs === 'number' ? v.leaseMs : 0,
    };
  } catch {
    return undefined;
  }
}

/** Read the lease object: undefined when there is none. */
async function readLease(ctx: S3Context, key: string): Promise<SeenLease | undefined> {
  try {
    const out = await ctx.client.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: key }));
    const text = await readBodyText(out.Body, MAX_LEASE_BYTES, `the writer lease s3://${ctx.bucket}/${key}`);
    return { etag: out.ETag, record: parseRecord(text), lastModified: out.LastModified?.getTime() };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw s3IoError(ctx, 'reading the writer lease', key, err, 's3:GetObject');
  }
}

/** Does the lease in the bucket hold `record`'s token (our own acquisition)? */
function isOurs(seen: SeenLease | undefined, record: LeaseRecord): seen is SeenLease & { record: LeaseRecord } {
  return seen?.record !== undefined && seen.record.token === record.token;
}

/** Who holds a lease, for messages. */
function holderText(seen: SeenLease): string {
  const r = seen.record;
  if (r === undefined) return 'an unreadable lease (not written by this ckpt)';
  return `pid ${r.pid} on ${r.hostname} (since ${r.acquiredAt}, lease valid until ${new Date(r.expiresAt).toISOString()})`;
}

/** The time (local clock) from which a lease counts as stale. */
function staleAt(seen: SeenLease, settings: LeaseSettings): number {
  if (seen.record !== undefined) return seen.record.expiresAt + settings.clockSkewMs;
  // Unreadable: judge by the server's LastModified and our lease length.
  return (seen.lastModified ?? Date.now()) + settings.leaseMs + settings.clockSkewMs;
}

/** The writer lease of one S3 store prefix. */
export class S3Lease implements WriterLock {
  #etag: string | undefined;
  #record: LeaseRecord;
  /** Local time until which this holder may rely on the lease. */
  #validUntil: number;
  #released = false;
  /** Why the lease is lost, once it is. */
  #lost: string | undefined;
  #lastRenewError: unknown;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;

  private constructor(
    private readonly ctx: S3Context,
    /** The lease object's key. */
    readonly key: string,
    private readonly settings: LeaseSettings,
    record: LeaseRecord,
    etag: string | undefined,
    sentAt: number,
  ) {
    this.#record = record;
    this.#etag = etag;
    this.#validUntil = sentAt + settings.leaseMs;
    this.#timer = setInterval(() => void this.renew(), Math.max(10, Math.floor(settings.leaseMs / 3)));
    this.#timer.unref();
  }

  /** The bucket of the store this lease guards. */
  get bucket(): string {
    return this.ctx.bucket;
  }

  /** The random token of this acquisition (as written in the lease object). */
  get token(): string {
    return this.#record.token;
  }

  /**
   * Take the lease of `ctx`'s prefix, waiting up to `waitMs` for a live
   * holder to release it (or for its lease to expire).
   *
   * @throws CkptError `CKPT_ERR_LOCKED` when it stays held; `CKPT_ERR_STORE_IO` when the bucket fails
   */
  static async acquire(ctx: S3Context, settings: LeaseSettings, waitMs: number): Promise<S3Lease> {
    const key = `${ctx.prefix}${LEASE_NAME}`;
    const started = Date.now();
    const deadline = started + waitMs;
    let quick = 0;
    for (;;) {
      const sentAt = Date.now();
      const record: LeaseRecord = {
        v: 1,
        token: randomBytes(16).toString('hex'),
        hostname: osHostname(),
        pid: process.pid,
        acquiredAt: new Date(sentAt).toISOString(),
        expiresAt: sentAt + settings.leaseMs,
        leaseMs: settings.leaseMs,
      };
      let seen: SeenLease | undefined;
      if (settings.conditional) {
        const created = await S3Lease.#put(ctx, key, record, { IfNoneMatch: '*' });
        if (created.ok) return new S3Lease(ctx, key, settings, record, created.etag, sentAt);
        seen = await readLease(ctx, key);
        // Our own create, applied although its answer was lost (or the SDK's retry of it met it: 412).
        if (isOurs(seen, record)) return new S3Lease(ctx, key, settings, record, seen.etag, sentAt);
        if (seen === undefined && created.error !== undefined) throw created.error;
      } else {
        seen = await readLease(ctx, key);
        if (seen === undefined || staleAt(seen, settings) < Date.now()) {
          const put = await S3Lease.#put(ctx, key, record, {});
          if (put.ok) return new S3Lease(ctx, key, settings, record, put.etag, sentAt);
          seen = await readLease(ctx, key);
          if (isOurs(seen, record)) return new S3Lease(ctx, key, settings, record, seen.etag, sentAt);
          if (put.error !== undefined) throw put.error;
        }
      }
      if (seen === undefined) {
        // Released between our attempt and our look: try again at once (a few times).
        if (++quick <= MAX_QUICK_RETRIES) continue;
      } else if (staleAt(seen, settings) < Date.now()) {
        const taken = await S3Lease.#put(ctx, key, record, settings.conditional && seen.etag !== undefined ? { IfMatch: seen.etag } : {});
        if (taken.ok) return new S3Lease(ctx, key, settings, record, taken.etag, sentAt);
        const after = await readLease(ctx, key);
        if (isOurs(after, record)) return new S3Lease(ctx, key, settings, record, after.etag, sentAt);
        if (taken.error !== undefined && after?.etag === seen.etag) throw taken.error; // unchanged: our request failed
        if (++quick <= MAX_QUICK_RETRIES) continue; // another taker won, or the holder renewed: look again
      }
      quick = 0;
      const now = Date.now();
      const remaining = deadline - now;
      if (remaining <= 0) {
        const waited = waitMs > 0 ? ` (waited ${now - started} ms)` : '';
        const who = seen === undefined ? 'another writer' : holderText(seen);
        throw new CkptError(
          ErrorCodes.LOCKED,
          `Store ${ctx.description} is locked by ${who}${waited}. Stop that writer, wait for its lease to expire, or pass a longer waitMs (lockWaitMs).`,
          { hint: `a crashed writer's lease expires by itself after its leaseMs plus clockSkewMs; the lease object is s3://${ctx.bucket}/${key}` },
        );
      }
      const untilStale = seen === undefined ? settings.pollMs : Math.max(1, staleAt(seen, settings) - now + 1);
      await sleep(Math.min(settings.pollMs, remaining, untilStale));
    }
  }

  /**
   * PutObject of a lease record. `ok: false` when it was not applied or may
   * have been: a failed condition (412), a conflicting request (409, which
   * S3 asks to retry), or an answer that never came (`error`: a network
   * error or a 5xx after the SDK's retries — the server may have applied
   * it). The caller reads the lease to tell its own write from another's.
   *
   * @throws CkptError `CKPT_ERR_STORE_IO` when the request certainly failed (403, 400…) or the server lacks conditional writes (501)
   */
  static async #put(
    ctx: S3Context,
    key: string,
    record: LeaseRecord,
    condition: { IfNoneMatch?: string; IfMatch?: string },
  ): Promise<{ ok: true; etag: string | undefined } | { ok: false; error: CkptError | undefined }> {
    try {
      const out = await ctx.client.send(
        new PutObjectCommand({ Bucket: ctx.bucket, Key: key, Body: Buffer.from(JSON.stringify(record)), ContentType: 'application/json', ...condition }),
      );
      return { ok: true, etag: out.ETag };
    } catch (err) {
      if (isPreconditionFailed(err) || isConflict(err)) return { ok: false, error: undefined };
      const header = condition.IfNoneMatch !== undefined ? 'If-None-Match: *' : condition.IfMatch !== undefined ? 'If-Match' : undefined;
      const unsupported = header === undefined ? undefined : conditionalWritesError(ctx, 'PutObject of the writer lease', key, err, header);
      if (unsupported !== undefined) throw unsupported;
      const error = s3IoError(ctx, 'writing the writer lease', key, err, 's3:PutObject');
      if (hadNoEffect(err)) throw error;
      return { ok: false, error };
    }
  }

  /**
   * Renew the lease now (the timer does this every `leaseMs / 3`). A failed
   * condition means another writer took the lease over: it is lost. Other
   * failures are retried at the next tick until the lease runs out.
   */
  renew(): Promise<void> {
    if (this.#released || this.#lost !== undefined) return Promise.resolve();
    this.#renewing ??= this.#renew().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  async #renew(): Promise<void> {
    try {
      for (let attempt = 1; ; attempt++) {
        const sentAt = Date.now();
        const record: LeaseRecord = { ...this.#record, expiresAt: sentAt + this.settings.leaseMs };
        if (!this.settings.conditional) {
          const seen = await readLease(this.ctx, this.key);
          if (seen?.record?.token !== this.#record.token) {
            this.#lose(seen === undefined ? 'the lease object was deleted' : `it was taken over by ${holderText(seen)}`);
            return;
          }
        }
        if (this.#released) return; // release() waits for this renewal: nothing may be written after it started
        const out = await S3Lease.#put(this.ctx, this.key, record, this.settings.conditional && this.#etag !== undefined ? { IfMatch: this.#etag } : {});
        if (out.ok) {
          this.#renewed(record, out.etag, sentAt);
          return;
        }
        // Refused (412), conflict (409) or no answer: the bucket tells whether the lease is still ours.
        const seen = await readLease(this.ctx, this.key);
        if (seen?.record?.token !== this.#record.token) {
          this.#lose(seen === undefined ? 'the lease object was deleted' : `it was taken over by ${holderText(seen)}`);
          return;
        }
        if (seen.record.expiresAt === record.expiresAt) {
          // Our renewal was applied; only its answer was lost (or the SDK's retry of it met our own new ETag).
          this.#renewed(record, seen.etag, sentAt);
          return;
        }
        // Still ours but not renewed (409, or a request that never arrived): go on from the ETag in the bucket.
        this.#etag = seen.etag;
        if (out.error !== undefined) throw out.error;
        if (attempt >= RENEW_ATTEMPTS) throw new Error('the server kept answering 409 ConditionalRequestConflict to the renewal');
        await sleep(20 * 4 ** (attempt - 1));
      }
    } catch (err) {
      this.#lastRenewError = err;
      if (Date.now() >= this.#validUntil) this.#lose('it ran out: renewals failed');
    }
  }

  /** A renewal took effect: `record` is in the bucket with ETag `etag`. */
  #renewed(record: LeaseRecord, etag: string | undefined, sentAt: number): void {
    this.#etag = etag;
    this.#record = record;
    this.#validUntil = sentAt + this.settings.leaseMs;
    this.#lastRenewError = undefined;
  }

  #lose(why: string): void {
    this.#lost ??= why;
    this.#stop();
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Without a request: fails when released, lost, or run out by this holder's clock. */
  assertHeldLocally(): void {
    if (this.#released) {
      throw new CkptError(ErrorCodes.LOCKED, `The writer lock of ${this.ctx.description} is not held (it was released); acquire it again.`);
    }
    if (this.#lost === undefined && Date.now() >= this.#validUntil) {
      throw new CkptError(ErrorCodes.LOCKED, `The writer lease of ${this.ctx.description} ran out (it was not renewed for ${this.settings.leaseMs} ms); acquire it again.`, {
        ...(this.#lastRenewError === undefined ? {} : { cause: this.#lastRenewError }),
        hint: 'renewals must reach the bucket every leaseMs / 3, and need the event loop to turn; raise leaseMs for slow networks or long synchronous work',
      });
    }
    if (this.#lost !== undefined) {
      throw new CkptError(ErrorCodes.LOCKED, `The writer lease of ${this.ctx.description} was lost: ${this.#lost}. Nothing more is committed under it; acquire it again.`, {
        ...(this.#lastRenewError === undefined ? {} : { cause: this.#lastRenewError }),
        hint: 'renewals must reach the bucket every leaseMs / 3; raise leaseMs for slow or unreliable networks',
      });
    }
  }

  /**
   * Fails like {@link S3Lease.assertHeldLocally}, but a lease that ran out
   * by our clock without being lost (the event loop was blocked past the
   * renewals, the process was suspended) is renewed first: the
   * compare-and-swap on our ETag succeeds only if nobody wrote the lease in
   * between, so the lease is then ours again; otherwise it is lost.
   */
  async refresh(): Promise<void> {
    if (!this.#released && this.#lost === undefined && Date.now() >= this.#validUntil) await this.renew();
    this.assertHeldLocally();
  }

  /**
   * The fencing check: the lease is ours in the bucket right now (one GET)
   * and still valid by our clock.
   */
  async assertHeld(): Promise<void> {
    await this.refresh();
    const seen = await readLease(this.ctx, this.key);
    if (seen?.record?.token !== this.#record.token) {
      this.#lose(seen === undefined ? 'the lease object was deleted' : `it was taken over by ${holderText(seen)}`);
    }
    await this.refresh(); // ran out during the GET: renewed only if nobody wrote the lease meanwhile
  }

  /** Release the lease (a conditional delete). Idempotent; never throws: a lease left behind expires by itself. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#stop();
    await this.#renewing?.catch(() => undefined);
    if (this.#lost !== undefined) return;
    const del = async (condition: { IfMatch?: string }): Promise<void> => {
      await this.ctx.client.send(new DeleteObjectCommand({ Bucket: this.ctx.bucket, Key: this.key, ...condition }));
    };
    try {
      // Look first: a server that ignores If-Match on DELETE must not let us remove a lease another writer took over.
      const seen = await readLease(this.ctx, this.key);
      if (seen?.record?.token !== this.#record.token) return;
      // The ETag of the object holding our token (it is ours even if the answer to our last renewal was lost).
      const etag = seen.etag ?? this.#etag;
      if (!this.settings.conditional || etag === undefined) return await del({});
      try {
        await del({ IfMatch: etag });
      } catch (err) {
        if (isNotImplemented(err)) await del({});
        else if (!isPreconditionFailed(err) && !isNotFound(err)) throw err;
      }
    } catch {
      // The lease expires by itself after leaseMs + clockSkewMs.
    }
  }
}
