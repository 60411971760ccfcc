/**
 * `downloadS3Image` (the local copy `ckpt convert` works on) against the
 * local S3 server, with the local file's writes made short: writes that
 * write part of what they were given are completed, a write that makes no
 * progress fails, and a write that claims more than it wrote is caught by
 * the length check — the copy is never used incomplete.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { readFile, stat } from 'node:fs/promises';
import type * as FsPromises from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { downloadS3Image, writeFully } from '../../src/cli/inputs.js';
import { bytes } from '../../src/testing/conformance-bytes.js';
import { useS3Server } from '../helpers/s3-server.js';

/** How writes to files opened with 'wx' (the download's) behave. */
type WriteMode = 'normal' | 'half' | 'none' | 'lie';
const writes: { mode: WriteMode; calls: number } = vi.hoisted(() => ({ mode: 'normal', calls: 0 }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  const open: typeof real.open = async (path, flags, mode) => {
    const fh = await real.open(path, flags, mode);
    if (flags !== 'wx') return fh;
    const write = async (buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number; buffer: Uint8Array }> => {
      writes.calls++;
      if (writes.mode === 'none') return { bytesWritten: 0, buffer };
      if (writes.mode === 'normal') return fh.write(buffer, offset, length, position);
      const half = Math.max(1, Math.floor(length / 2));
      const out = await fh.write(buffer, offset, half, position);
      return writes.mode === 'lie' ? { bytesWritten: length, buffer: out.buffer } : out;
    };
    return new Proxy(fh, {
      get(target, prop) {
        if (prop === 'write') return write;
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
  return { ...real, open, default: { ...real, open } };
});

const server = useS3Server();
const saved: Record<string, string | undefined> = {};
const SIZE = 9 * 1024 * 1024 + 123; // two chunks of the download
const data = bytes(SIZE, 31);
let url = '';

beforeAll(async () => {
  for (const [k, v] of Object.entries(server().env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const bucket = await server().createBucket();
  await server()
    .client()
    .send(new PutObjectCommand({ Bucket: bucket, Key: 'jobs/000000000001.ckpt', Body: data }));
  url = `s3://${bucket}/jobs/000000000001.ckpt`;
});

afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: (err as { code: string }).code, message: (err as Error).message };
  }
  throw new Error('expected a failure');
}

describe('downloadS3Image: short writes', () => {
  it('completes writes that write half of what they were given; the copy is exact', async () => {
    writes.mode = 'half';
    writes.calls = 0;
    const copy = await downloadS3Image(url, 'convert');
    try {
      expect(writes.calls).toBeGreaterThan(2);
      expect(Buffer.from(await readFile(copy.path)).equals(Buffer.from(data))).toBe(true);
    } finally {
      await copy.remove();
    }
  });

  it('a write that makes no progress fails (CKPT_ERR_STORE_IO) and leaves no copy', async () => {
    writes.mode = 'none';
    const err = await failure(downloadS3Image(url, 'convert'));
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.message).toMatch(/made no progress/);
  });

  it('a write that claims more than it wrote is caught by the length check', async () => {
    writes.mode = 'lie';
    const err = await failure(downloadS3Image(url, 'convert'));
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.message).toMatch(/holds \d+ bytes, the image 9437307; the copy is incomplete/);
  });

  it('with ordinary writes the copy is exact and as long as the object', async () => {
    writes.mode = 'normal';
    const copy = await downloadS3Image(url, 'convert');
    try {
      expect((await stat(copy.path)).size).toBe(SIZE);
      expect(Buffer.from(await readFile(copy.path)).equals(Buffer.from(data))).toBe(true);
    } finally {
      await copy.remove();
    }
  });
});

describe('writeFully', () => {
  it('writes one byte at a time when that is all each write does, at the right positions', async () => {
    const file = new Uint8Array(10);
    const fh = {
      write: (buffer: Uint8Array, offset: number, length: number, position: number) => {
        void length;
        file[position] = buffer[offset]!;
        return Promise.resolve({ bytesWritten: 1, buffer });
      },
    } as unknown as Parameters<typeof writeFully>[0];
    await writeFully(fh, Uint8Array.from([1, 2, 3, 4, 5]), 3, '/tmp/x');
    expect([...file]).toEqual([0, 0, 0, 1, 2, 3, 4, 5, 0, 0]);
  });

  it('turns a failed write (ENOSPC) into CKPT_ERR_STORE_IO naming the cause', async () => {
    const fh = {
      write: () => Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })),
    } as unknown as Parameters<typeof writeFully>[0];
    const err = await failure(writeFully(fh, new Uint8Array(4), 0, '/tmp/x'));
    expect(err.code).toBe('CKPT_ERR_STORE_IO');
    expect(err.message).toMatch(/ENOSPC/);
  });
});
