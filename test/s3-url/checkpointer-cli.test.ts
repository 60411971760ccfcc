/**
 * `s3://bucket/prefix/` end to end against the local S3 server, configured
 * only through the AWS environment (AWS_ENDPOINT_URL, AWS_REGION,
 * credentials): a Checkpointer writes and restores, and every `ckpt` command
 * reads the bucket — ls, inspect, verify (store and image), diff, export,
 * convert (to a local file), prune — with the usual exit codes for a store
 * given where an image is expected, a missing image and a missing bucket.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpointer } from '../../src/index.js';
import { cleanupDirs, ensureBuilt, hasStack, makeStore, runCli, tempDir, type RunOptions } from '../cli/helpers.js';
import { useS3Server } from '../helpers/s3-server.js';

const server = useS3Server();
let bucket = '';
let url = '';
let ids: string[] = [];
let opts: RunOptions = {};
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  await ensureBuilt();
  for (const [k, v] of Object.entries(server().env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  opts = { env: { ...server().env } };
  bucket = await server().createBucket();
  url = `s3://${bucket}/jobs/sim-42/`;
  ids = await makeStore(url, 4);
});

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await cleanupDirs();
});

const img = (i: number): string => `${url}${ids[i]}.ckpt`;

describe('new Checkpointer({ store: "s3://…" })', () => {
  it('wrote one object per image under the prefix, and restores the newest', async () => {
    expect(ids).toEqual(['000000000001', '000000000002', '000000000003', '000000000004']);
    const c = server().client();
    const listed = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'jobs/sim-42/' }));
    expect((listed.Contents ?? []).map((o) => o.Key)).toEqual(ids.map((id) => `jobs/sim-42/${id}.ckpt`));
    const ckpt = new Checkpointer({ store: url, signals: false, readOnly: true });
    let grid: { step: number } | undefined;
    ckpt.register({ id: 'grid', version: 1, snapshot: () => ({}), restore: (s: { step: number }) => void (grid = s) });
    ckpt.register({ id: 'config', version: 2, snapshot: () => ({}), restore: () => undefined });
    const r = await ckpt.restore();
    await ckpt.close();
    expect(r?.image.id).toBe('000000000004');
    expect(grid?.step).toBe(400);
  });
});

describe('ckpt with s3:// locations', () => {
  it('ls lists the bucket store', async () => {
    const r = await runCli(['ls', url, '--json'], opts);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { store: string; images: { id: string }[] };
    expect(doc.store).toBe(url);
    expect(doc.images.map((i) => i.id)).toEqual([...ids].reverse());
  });

  it('inspect, export and diff read images by URL', async () => {
    const inspect = await runCli(['inspect', img(3)], opts);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toMatch(/grid/);
    const exported = await runCli(['export', img(0), '--provider', 'config'], opts);
    expect(exported.code).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({ name: 'heat' });
    const diff = await runCli(['diff', img(0), img(3)], opts);
    expect(diff.code).toBe(6);
    const same = await runCli(['diff', img(1), img(1)], opts);
    expect(same.code).toBe(0);
  });

  it('verify checks the whole store, or one image', async () => {
    const all = await runCli(['verify', url, '--json'], opts);
    expect(all.code).toBe(0);
    expect((JSON.parse(all.stdout) as { images: unknown[] }).images).toHaveLength(4);
    const one = await runCli(['verify', img(2), '--json'], opts);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ kind: 'image', ok: true });
  });

  it('convert copies an image out of the bucket into a local file', async () => {
    const dir = await tempDir();
    const out = join(dir, 'copy.ckpt');
    const r = await runCli(['convert', img(3), out], opts);
    expect(r.code).toBe(0);
    expect((await runCli(['verify', out], opts)).code).toBe(0);
    const toBucket = await runCli(['convert', img(3), `${url}000000000099.ckpt`], opts);
    expect(toBucket.code).toBe(1);
    expect(toBucket.stderr).toMatch(/local path/);
  });

  it('refuses a store where an image is expected and the reverse, with exit 1 and no stack', async () => {
    const inspect = await runCli(['inspect', url], opts);
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toMatch(/is a store, not an image; 'ckpt inspect' takes one image, e\.g\. s3:\/\/.*000000000001\.ckpt/);
    const ls = await runCli(['ls', img(0)], opts);
    expect(ls.code).toBe(1);
    expect(ls.stderr).toMatch(/is one image; 'ckpt ls' takes a store/);
    expect(hasStack(inspect.stderr) || hasStack(ls.stderr)).toBe(false);
  });

  it('a missing image is exit 4 (not found); a missing bucket is exit 4 (store I/O)', async () => {
    const missing = await runCli(['inspect', `${url}000000000099.ckpt`, '--json'], opts);
    expect(missing.code).toBe(4);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'CKPT_ERR_NOT_FOUND' } });
    const noBucket = await runCli(['ls', 's3://no-such-bucket-here/x/', '--json'], opts);
    expect(noBucket.code).toBe(4);
    expect(JSON.parse(noBucket.stdout)).toMatchObject({ error: { code: 'CKPT_ERR_STORE_IO' } });
  });

  it('prune applies retention to the bucket store (last: the others read the four images)', async () => {
    const r = await runCli(['prune', url, '--keep-last', '2', '--json'], opts);
    expect(r.code).toBe(0);
    const ls = await runCli(['ls', url, '--json'], opts);
    expect((JSON.parse(ls.stdout) as { images: { id: string }[] }).images.map((i) => i.id)).toEqual([ids[3], ids[2]]);
  });
});
