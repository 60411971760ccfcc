/**
 * ckpt on S3 against the same bytes moved with the AWS SDK alone, all through
 * one local S3 server (s3rver behind the test front, bench/lib/s3/) in one
 * run, interleaved over `--reps` repetitions:
 *
 *   checkpoint   `checkpoint()` of typed state (bench/lib/data.ts) into an
 *                S3Store (defaults: 8 MiB parts, 4 in flight; keepLast 1)
 *   upload       lib-storage `Upload` of the same image bytes (same part
 *                size and queue), create-only — what a hand-rolled
 *                "serialise, then upload" would cost for the transfer alone
 *   restore      `restore()` of that image from the bucket
 *   ranged GETs  the same image bytes read with 8 parallel 8 MiB ranged GETs
 *                into one buffer — the read bandwidth the server gives
 *
 * Prints medians, the ratios the S3 issue targets (checkpoint ≤ 1.25 ×
 * upload; restore ≥ 80 % of the ranged-GET bandwidth) and the requests per
 * checkpoint and per restore by operation (their cost on real S3). The local
 * server stores on the local disk and computes MD5s, so absolute MB/s are the
 * server's, not S3's; the ratios are what to compare. Never asserts.
 *
 * Run: npm run bench:s3 (1 GiB state, 3 reps) · --size-mib 256 · --reps 5 ·
 *      --smoke (16 MiB, 1 rep: checks the script works)
 * Results: bench/results/s3-<mode>.json
 */
import { GetObjectCommand, DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { parseArgs } from 'node:util';
import { Checkpointer, LIBRARY_VERSION } from 'ckpt';
import { S3Store } from 'ckpt/s3';
import { simBytes, simState, type SimState } from './lib/data.js';
import { RssSampler } from './lib/machine.js';
import { startS3Server, type RequestRecord, type S3TestServer } from './lib/s3/server.js';
import { fmt, interleave, machine, med, MiB, rate, writeResults, type Variant } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    'size-mib': { type: 'string' },
    reps: { type: 'string' },
    level: { type: 'string', default: '1' },
  },
});
const MODE = values.smoke ? 'smoke' : 'default';
const SIZE = Number(values['size-mib'] ?? (values.smoke ? 16 : 1024)) * MiB;
const REPS = Number(values.reps ?? (values.smoke ? 1 : 3));
const LEVEL = Number(values.level);
const PART = 8 * MiB;
const QUEUE = 4;
const GET_CONCURRENCY = 8;
const log = (s: string): void => void process.stderr.write(`${s}\n`);

/** Requests per operation name, e.g. { UploadPart: 42, CompleteMultipartUpload: 1 }. */
function countOps(records: readonly RequestRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) out[r.op] = (out[r.op] ?? 0) + 1;
  return out;
}

async function readObject(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/** Read `size` bytes of an object with `GET_CONCURRENCY` parallel ranged GETs of `PART` bytes into one buffer. */
async function rangedGets(client: S3Client, bucket: string, key: string, size: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(size);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < size) {
      const at = next;
      next += PART;
      const end = Math.min(size, at + PART) - 1;
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${at}-${end}` }));
      let o = at;
      for await (const chunk of r.Body as AsyncIterable<Uint8Array>) {
        out.set(chunk, o);
        o += chunk.length;
      }
    }
  };
  await Promise.all(Array.from({ length: GET_CONCURRENCY }, worker));
  return out;
}

async function main(): Promise<void> {
  log(`s3 bench (${MODE}): ${fmt(SIZE / MiB)} MiB typed state, ${REPS} reps, zstd level ${LEVEL}; ${machine()}`);
  const server: S3TestServer = await startS3Server();
  const client = server.client();
  try {
    const bucket = await server.createBucket();
    const prefix = 'ckpt/';
    let state: SimState = simState(SIZE);
    const stateBytes = simBytes(state);
    const store = new S3Store({ bucket, prefix, client, partSize: PART, queueSize: QUEUE });
    const writer = new Checkpointer({ store, retention: { keepLast: 1 }, compression: { level: LEVEL }, signals: false, unregisteredResources: 'off' });
    writer.register<SimState>({ id: 'sim', snapshot: () => state, restore: (s) => void (state = s) });

    // Warm-up (not measured): the first checkpoint takes the lease and probes conditional writes.
    const first = await writer.checkpoint({ step: 0 });
    let imageKey = `${prefix}${first.id}.ckpt`;
    let image = await readObject(client, bucket, imageKey);
    log(`image: ${fmt(image.length / MiB, 1)} MiB for ${fmt(stateBytes / MiB)} MiB of state`);

    const ckptReqs: Record<string, number>[] = [];
    const restoreReqs: Record<string, number>[] = [];
    let step = 0;
    let uploads = 0;
    const variants: Variant[] = [
      {
        name: 'checkpoint',
        async run() {
          state.step = ++step;
          await server.clearRequests();
          const rss = new RssSampler();
          const t0 = performance.now();
          const info = await writer.checkpoint({ step });
          const ms = performance.now() - t0;
          const peak = rss.stop();
          ckptReqs.push(countOps(await server.requests()));
          imageKey = `${prefix}${info.id}.ckpt`;
          return { ms, bytes: info.bytes, rssMiB: peak / MiB };
        },
      },
      {
        name: 'upload',
        async run() {
          const key = `baseline/${++uploads}`;
          const t0 = performance.now();
          await new Upload({ client, params: { Bucket: bucket, Key: key, Body: image, IfNoneMatch: '*' }, partSize: PART, queueSize: QUEUE }).done();
          const ms = performance.now() - t0;
          await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
          return { ms, bytes: image.length };
        },
      },
      {
        name: 'restore',
        async run() {
          const reader = new Checkpointer({ store: new S3Store({ bucket, prefix, client }), readOnly: true, signals: false, unregisteredResources: 'off' });
          let restored: SimState | undefined;
          reader.register<SimState>({ id: 'sim', snapshot: () => state, restore: (s) => void (restored = s) });
          await server.clearRequests();
          const t0 = performance.now();
          const r = await reader.restore();
          const ms = performance.now() - t0;
          restoreReqs.push(countOps(await server.requests()));
          await reader.close();
          if (r === undefined || restored?.step !== step) throw new Error(`restore returned step ${String(restored?.step)}, expected ${step}`);
          return { ms, bytes: r.image.bytes };
        },
      },
      {
        name: 'ranged GETs',
        async run() {
          image = await readObject(client, bucket, imageKey); // the newest image: the bytes restore reads
          const t0 = performance.now();
          const got = await rangedGets(client, bucket, imageKey, image.length);
          const ms = performance.now() - t0;
          if (!got.equals(image)) throw new Error('ranged GETs read other bytes than the image');
          return { ms, bytes: got.length };
        },
      },
    ];
    const samples = await interleave(variants, REPS, log);
    await writer.close();

    const ck = med(samples, 'checkpoint');
    const up = med(samples, 'upload');
    const rs = med(samples, 'restore');
    const gets = med(samples, 'ranged GETs');
    const imageBytes = med(samples, 'checkpoint', 'bytes');
    const rows = [
      ['checkpoint (S3Store)', ck, `${rate(stateBytes, ck)} of state, ${rate(imageBytes, ck)} of image`],
      ['lib-storage Upload of the image bytes', up, rate(imageBytes, up)],
      ['restore (S3Store)', rs, `${rate(stateBytes, rs)} of state, ${rate(imageBytes, rs)} of image`],
      [`${GET_CONCURRENCY} parallel ranged GETs of the image bytes`, gets, rate(imageBytes, gets)],
    ] as const;
    const medianOps = (all: Record<string, number>[]): Record<string, number> => {
      const ops = new Set(all.flatMap((o) => Object.keys(o)));
      return Object.fromEntries([...ops].sort().map((op) => [op, Math.round(all.map((o) => o[op] ?? 0).sort((a, b) => a - b)[all.length >> 1] ?? 0)]));
    };
    const ckOps = medianOps(ckptReqs);
    const rsOps = medianOps(restoreReqs);
    const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);
    const table = [
      `ckpt ${LIBRARY_VERSION} on S3 (local s3rver + front), ${fmt(stateBytes / MiB)} MiB typed state → ${fmt(imageBytes / MiB, 1)} MiB image, level ${LEVEL}, ${REPS} reps (medians); ${machine()}`,
      '',
      '| | ms | throughput |',
      '| --- | ---: | --- |',
      ...rows.map(([name, ms, r]) => `| ${name} | ${fmt(ms)} | ${r} |`),
      '',
      `checkpoint / upload: **${fmt(ck / up, 2)}×** (target ≤ 1.25)`,
      `restore / ranged-GET bandwidth: **${fmt((100 * gets) / rs)} %** (target ≥ 80 %)`,
      `peak RSS above baseline during a checkpoint: ${fmt(med(samples, 'checkpoint', 'rssMiB'))} MiB (the state's capture and compression included)`,
      '',
      `requests per checkpoint: ${sum(ckOps)} — ${Object.entries(ckOps).map(([op, n]) => `${op} ${n}`).join(', ')}`,
      `requests per restore: ${sum(rsOps)} — ${Object.entries(rsOps).map(([op, n]) => `${op} ${n}`).join(', ')}`,
    ];
    process.stdout.write(`${table.join('\n')}\n`);
    const path = writeResults(`s3-${MODE}`, {
      command: process.argv.slice(1).join(' '),
      machine: machine(),
      stateBytes,
      imageBytes,
      partSize: PART,
      queueSize: QUEUE,
      samples: Object.fromEntries(samples),
      medians: { checkpoint: ck, upload: up, restore: rs, rangedGets: gets },
      ratios: { checkpointOverUpload: ck / up, restoreShareOfGetBandwidth: gets / rs },
      requests: { checkpoint: ckOps, restore: rsOps },
      table,
    });
    log(`results: ${path}`);
  } finally {
    client.destroy();
    await server.stop();
  }
}

await main();
