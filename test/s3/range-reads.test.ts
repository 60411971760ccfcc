/**
 * Ranged reads of S3 images against the local S3 server when the answer is
 * not the range asked for: a server that ignores `Range` (the whole object,
 * no Content-Range), one that answers a shorter range, a 206 without
 * Content-Range, a Content-Range of another object size, and a body cut
 * short. Each must fail the read with a clear CKPT_ERR_STORE_IO — never
 * return bytes from the wrong place or fewer bytes than asked for.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3Store } from '../../src/s3/index.js';
import { isCkptError } from '../../src/errors.js';
import { bytes } from '../../src/testing/conformance-bytes.js';
import { useS3Server } from '../helpers/s3-server.js';

const server = useS3Server();
const SIZE = 200_000;
const BLOCK = 16 * 1024;
/** An offset past the bytes the open reads (and keeps) from the image. */
const FAR = 8 * BLOCK;

/** Ranged GETs of image blocks (not the open's `bytes=-N` tail read). */
function isBlockRead(context: { commandName?: string }, input: { Range?: unknown }): input is { Range: string } {
  return context.commandName === 'GetObjectCommand' && typeof input.Range === 'string' && !input.Range.startsWith('bytes=-');
}

type Tamper = (input: { Range: string }, output: { ContentRange?: string | undefined; ContentLength?: number | undefined; Body?: unknown }) => void | 'request';

/** A store whose client lets `tamper` change block reads: their request (before it is sent) and their answer. */
async function storeWithImage(tamper: {
  before?: (input: { Range: string }) => void;
  after?: Tamper;
  /** Changes the answer to any other request (the open's tail read, HEAD). */
  other?: (command: string, output: { ContentRange?: string | undefined; ContentLength?: number | undefined }) => void;
}): Promise<{ store: S3Store; id: string; data: Uint8Array }> {
  const bucket = await server().createBucket();
  const client: S3Client = server().client({ maxAttempts: 1 });
  const store = new S3Store({ bucket, prefix: 'sim-42/', client, readBlockSize: BLOCK, readAhead: 0 });
  const lock = await store.acquireWriter();
  const sink = await store.create(lock);
  const data = bytes(SIZE, 21);
  await sink.write(data);
  await sink.commit();
  await lock.release();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Range?: unknown };
      if (!isBlockRead(context, input)) {
        const result = await next(args);
        tamper.other?.(context.commandName ?? '', result.output as { ContentRange?: string; ContentLength?: number });
        return result;
      }
      tamper.before?.(input);
      const result = await next(args);
      tamper.after?.(input, result.output as Parameters<Tamper>[1]);
      return result;
    },
    { step: 'initialize', name: 'tamperRanges' },
  );
  return { store, id: sink.id, data };
}

async function readFailure(store: S3Store, id: string, offset: number, length: number): Promise<{ code: string; message: string }> {
  const src = await store.open(id);
  try {
    await src.read(offset, length);
  } catch (err) {
    if (!isCkptError(err)) throw err;
    return { code: err.code, message: err.message };
  } finally {
    await src.close();
  }
  throw new Error('the read succeeded');
}

describe('S3 ranged reads: answers that are not the range asked for', () => {
  it('a server that ignores Range (whole object, no Content-Range) fails the read; it never returns bytes from offset 0', async () => {
    const { store, id } = await storeWithImage({
      before: (input) => {
        delete (input as { Range?: string }).Range;
      },
    });
    const err = await readFailure(store, id, FAR + 5, 1000);
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.message).toMatch(/Range/);
  });

  it('a shorter range than asked for fails the read', async () => {
    const { store, id } = await storeWithImage({
      before: (input) => {
        const [a, b] = input.Range.slice('bytes='.length).split('-').map(Number);
        input.Range = `bytes=${a!}-${a! + Math.floor((b! - a!) / 2)}`;
      },
    });
    const err = await readFailure(store, id, FAR, 1000);
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.message).toMatch(/answered bytes \d+-\d+/);
  });

  it('a 206 without Content-Range fails the read', async () => {
    const { store, id } = await storeWithImage({
      after: (_, output) => {
        output.ContentRange = undefined;
      },
    });
    const err = await readFailure(store, id, FAR, 1000);
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.message).toMatch(/Content-Range/);
  });

  it('a Content-Range naming another object size fails the read', async () => {
    const { store, id } = await storeWithImage({
      after: (_, output) => {
        output.ContentRange = output.ContentRange?.replace(/\/\d+$/, `/${SIZE + 1}`);
      },
    });
    const err = await readFailure(store, id, FAR, 1000);
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.message).toMatch(new RegExp(`${SIZE + 1}`));
  });

  it('a body shorter than its range fails the read (after the retries), never returns short data', async () => {
    const { store, id } = await storeWithImage({
      after: (_, output) => {
        const body = output.Body as { transformToByteArray(): Promise<Uint8Array> };
        output.Body = (async function* () {
          const all = await body.transformToByteArray();
          yield all.subarray(0, all.length - 10);
        })();
      },
    });
    const err = await readFailure(store, id, FAR, 1000);
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.message).toMatch(/ended after/);
  });

  it('an open whose tail read has neither Content-Range nor Content-Length takes the size from a HEAD', async () => {
    const { store, id, data } = await storeWithImage({
      other: (command, output) => {
        if (command !== 'GetObjectCommand') return;
        output.ContentRange = undefined;
        output.ContentLength = undefined;
      },
    });
    const src = await store.open(id);
    expect(src.size).toBe(SIZE);
    expect(Buffer.from(await src.read(FAR, 1000)).equals(Buffer.from(data.subarray(FAR, FAR + 1000)))).toBe(true);
    await src.close();
  });

  it('an open with no size anywhere (no Content-Range, no Content-Length) fails; it never opens an empty image', async () => {
    const { store, id } = await storeWithImage({
      other: (command, output) => {
        if (command !== 'GetObjectCommand' && command !== 'HeadObjectCommand') return;
        output.ContentRange = undefined;
        output.ContentLength = undefined;
      },
    });
    const err: unknown = await store.open(id).catch((e: unknown) => e);
    expect(isCkptError(err) && err.code).toBe('CKPT_ERR_STORE_IO');
    expect((err as Error).message).toMatch(/no Content-Length/);
  });

  it('untampered reads still return the exact bytes (block reads and the whole image)', async () => {
    const { store, id, data } = await storeWithImage({});
    const src = await store.open(id);
    expect(Buffer.from(await src.read(FAR + 5, 1000)).equals(Buffer.from(data.subarray(FAR + 5, FAR + 1005)))).toBe(true);
    expect((src as unknown as { requests: number }).requests).toBeGreaterThan(0);
    expect(Buffer.from(await src.read(0, SIZE)).equals(Buffer.from(data))).toBe(true);
    await src.close();
  });
});
