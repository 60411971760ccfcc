/**
 * S3Store against an in-memory bucket behind aws-sdk-client-mock: the whole
 * store conformance suite from ckpt/testing, each "process" with its own
 * client on the shared bucket. (The same suite runs against a real
 * S3-protocol server in s3-server-conformance.test.ts.)
 */
import { describe, it } from 'vitest';
import { runStoreConformance } from '../../src/testing/index.js';
import { S3Store } from '../../src/s3/index.js';
import { FakeBucket } from './helpers/s3-fake-bucket.js';

runStoreConformance(
  () => {
    const bucket = new FakeBucket('jobs');
    const open = (): S3Store => new S3Store({ bucket: 'jobs', prefix: 'sim-42/', client: bucket.client(), lockPollMs: 50 });
    return Promise.resolve({ store: open(), reopen: () => Promise.resolve(open()), dispose: () => Promise.resolve() });
  },
  { describe, it },
  { name: 'S3Store conformance (in-memory bucket)' },
);
