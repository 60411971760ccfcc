/**
 * @module test/process/s3-restart
 *
 * A job checkpointing to a bucket is SIGKILLed (possibly in the middle of an
 * upload) and restarted as another machine: another working directory and
 * another hostname (a new UTS namespace where `unshare` works, else
 * `os.hostname()` answering another name). The new job waits for the killed
 * one's lease to expire, resumes from the newest committed image — the one
 * the bucket listed after the kill — and ends with the uninterrupted result.
 * The images it writes carry its hostname in their manifest.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Checkpointer } from '../../src/index.js';
import { S3Store } from '../../src/s3/index.js';
import { reapChildren, startNodeChild } from '../helpers/child-process.js';
import { useS3Server } from '../helpers/s3-server.js';
import { referenceHash } from './loop-sim.js';

const JOB = new URL('./s3-job.ts', import.meta.url).pathname;
const FAKE_HOSTNAME = pathToFileURL(new URL('./fake-hostname.ts', import.meta.url).pathname).href;
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const STEPS = 40;
const EVERY = 5;
const SIZE = 1_100_000;
const OTHER_HOST = 'machine-b';

const server = useS3Server();
afterEach(reapChildren);

interface Event {
  event: string;
  id?: string | null;
  step: number;
  hash?: string;
  hostname?: string;
  cwd?: string;
}

/** Can this machine run a child in its own UTS namespace (its own hostname)? */
function canUnshare(): boolean {
  const r = spawnSync('unshare', ['--user', '--map-root-user', '--uts', 'sh', '-c', `hostname ${OTHER_HOST}`], { stdio: 'ignore' });
  return r.status === 0;
}

function startJob(cwd: string, env: Record<string, string>, options: { otherHost: boolean; killAfterCheckpoints?: number }) {
  const events: Event[] = [];
  const nodeArgs = ['--import', TSX, JOB];
  const viaUnshare = options.otherHost && canUnshare();
  const child = startNodeChild({
    ...(viaUnshare
      ? { command: 'unshare', args: ['--user', '--map-root-user', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', OTHER_HOST, process.execPath, ...nodeArgs] }
      : { args: options.otherHost ? ['--import', TSX, '--import', FAKE_HOSTNAME, JOB] : nodeArgs }),
    cwd,
    env: { ...env, ...(options.otherHost && !viaUnshare ? { CKPT_TEST_HOSTNAME: OTHER_HOST } : {}) },
    onStdoutLine: (line) => {
      const ev = JSON.parse(line) as Event;
      events.push(ev);
      const n = events.filter((e) => e.event === 'checkpoint').length;
      // Kill at a random moment after the Nth commit: often in the middle of the next image's upload.
      if (options.killAfterCheckpoints !== undefined && n === options.killAfterCheckpoints && ev.event === 'checkpoint') child.killAfter(Math.floor(Math.random() * 150));
    },
  });
  return { child, events };
}

describe('a job on S3 killed and restarted on another machine', () => {
  it('resumes from the newest committed image and ends with the uninterrupted result', { timeout: 240_000 }, async () => {
    const bucket = await server().createBucket();
    const prefix = 'jobs/sim-42/';
    const env = { ...server().env, CKPT_S3_BUCKET: bucket, CKPT_S3_PREFIX: prefix, CKPT_STEPS: String(STEPS), CKPT_EVERY: String(EVERY), CKPT_SIZE: String(SIZE) };
    const root = await mkdtemp(join(tmpdir(), 'ckpt-s3-restart-'));
    const client = server().client();
    try {
      const dirA = join(root, 'node-a');
      const dirB = join(root, 'node-b');
      await Promise.all([import('node:fs/promises').then((fs) => fs.mkdir(dirA)), import('node:fs/promises').then((fs) => fs.mkdir(dirB))]);

      const a = startJob(dirA, env, { otherHost: false, killAfterCheckpoints: 3 });
      const exitA = await a.child.exited;
      expect(exitA.signal).toBe('SIGKILL');
      expect(a.events[0]).toMatchObject({ event: 'fresh', step: 0 });
      const committedByA = a.events.filter((e) => e.event === 'checkpoint');
      expect(committedByA.length).toBeGreaterThanOrEqual(3);

      // What the bucket holds after the kill: the newest committed image is what a restart must pick.
      const reader = new Checkpointer({ store: new S3Store({ bucket, prefix, client }), readOnly: true });
      const before = await reader.list();
      await reader.close();
      const newest = before[0]!;
      // The kill can land after a commit and before its line reached us: the bucket may then hold one
      // image newer than the last reported, never an older one and never two more.
      const lastReported = committedByA.at(-1)!;
      if (newest.step === lastReported.step) expect(newest.id).toBe(lastReported.id);
      else expect(newest.step).toBe(lastReported.step + EVERY);
      expect(newest.hostname).toBe(hostname());

      const b = startJob(dirB, env, { otherHost: true });
      const exitB = await b.child.exited;
      if (exitB.code !== 0) throw new Error(`restarted job failed (${exitB.code ?? exitB.signal}): ${b.child.stderr}`);
      expect(b.events[0]).toMatchObject({ event: 'resumed', id: newest.id, fellBack: false, step: newest.step, hostname: OTHER_HOST, cwd: dirB });
      expect(b.events.at(-1)).toEqual({ event: 'done', step: STEPS, hash: referenceHash(SIZE, STEPS) });

      // The images written after the restart say where they were written; nothing was written locally.
      const after = new Checkpointer({ store: new S3Store({ bucket, prefix, client }), readOnly: true });
      const images = await after.list();
      await after.close();
      const byB = new Set(b.events.filter((e) => e.event === 'checkpoint').map((e) => e.id));
      expect(byB.size).toBeGreaterThan(0);
      for (const img of images) expect(img.hostname).toBe(byB.has(img.id) ? OTHER_HOST : hostname());
      expect(images[0]!.step).toBe(STEPS);
      expect(await readdir(dirA)).toEqual([]);
      expect(await readdir(dirB)).toEqual([]);
    } finally {
      client.destroy();
      await rm(root, { recursive: true, force: true });
    }
  });
});
