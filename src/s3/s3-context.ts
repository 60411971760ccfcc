/**
 * @module s3/s3-context
 *
 * What every part of an `S3Store` shares: the client, the bucket and prefix,
 * how the store names itself in messages, and the one way a response body
 * is read (into memory the caller owns, checked for its length).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { CkptError, ErrorCodes } from '../errors.js';
import type { S3Place } from './s3-errors.js';

/** The client and the place in the bucket one store works on. */
export interface S3Context extends S3Place {
  /** The SDK client every request goes through. */
  readonly client: S3Client;
  /** `s3://bucket/prefix`, for messages. */
  readonly description: string;
}

/** A GetObject body as the SDK returns it in Node (an `IncomingMessage` with the SDK's stream mixin) or in tests. */
type Body = unknown;

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** Stop a body stream we do not read to its end (so its socket is freed). */
export function destroy(body: Body): void {
  const d = (body as { destroy?: unknown } | null)?.destroy;
  if (typeof d === 'function') (d as (this: unknown) => void).call(body);
}

/**
 * Read a response body into `into` (exactly `into.length` bytes). When the
 * body holds more (a server that ignored the end of the range), the rest is
 * dropped; when it holds fewer, the read fails with `CKPT_ERR_STORE_IO` (a
 * connection cut mid-body).
 */
export async function readBodyInto(body: Body, into: Uint8Array, what: string): Promise<void> {
  let at = 0;
  if (isAsyncIterable(body)) {
    try {
      for await (const piece of body) {
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : (piece as Uint8Array);
        const n = Math.min(chunk.byteLength, into.length - at);
        into.set(n === chunk.byteLength ? chunk : chunk.subarray(0, n), at);
        at += n;
        if (at >= into.length) break;
      }
    } finally {
      if (at >= into.length) destroy(body);
    }
  } else if (typeof (body as { transformToByteArray?: unknown } | null)?.transformToByteArray === 'function') {
    const all = await (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    at = Math.min(all.byteLength, into.length);
    into.set(all.subarray(0, at));
  } else if (body instanceof Uint8Array) {
    at = Math.min(body.byteLength, into.length);
    into.set(body.subarray(0, at));
  } else {
    throw new CkptError(ErrorCodes.STORE_IO, `${what}: the response has no body the store can read.`);
  }
  if (at < into.length) {
    throw new CkptError(ErrorCodes.STORE_IO, `${what}: the response ended after ${at} of ${into.length} bytes (the connection was cut); retry.`);
  }
}

/** Read a whole small body (a lease record) as text. */
export async function readBodyText(body: Body, limit: number, what: string): Promise<string> {
  const parts: Uint8Array[] = [];
  let total = 0;
  if (isAsyncIterable(body)) {
    for await (const piece of body) {
      const chunk = typeof piece === 'string' ? Buffer.from(piece) : (piece as Uint8Array);
      total += chunk.byteLength;
      if (total > limit) {
        destroy(body);
        throw new CkptError(ErrorCodes.STORE_IO, `${what}: larger than ${limit} bytes; it is not what ckpt wrote.`);
      }
      parts.push(chunk);
    }
    return Buffer.concat(parts).toString('utf8');
  }
  if (typeof (body as { transformToString?: unknown } | null)?.transformToString === 'function') {
    return (body as { transformToString(): Promise<string> }).transformToString();
  }
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  throw new CkptError(ErrorCodes.STORE_IO, `${what}: the response has no body the store can read.`);
}
