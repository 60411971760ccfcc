/**
 * @module bench/lib/s3/child
 *
 * The local S3 server's process (started by `server.ts`, never imported):
 * s3rver on one loopback port, the front (conditional writes, multipart
 * listing and abort, faults, request log) on another, which is the endpoint
 * clients use. It runs under `node --openssl-legacy-provider` because
 * s3rver's ListObjectsV2 continuation tokens use DES, which OpenSSL 3 only
 * has in its legacy provider (without it every truncated listing is a 500).
 * It answers the parent's commands over the IPC channel and exits when the
 * channel closes (its parent is gone).
 *
 * Usage: node --openssl-legacy-provider --import tsx child.ts <directory>
 */
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { FaultTable, type FaultRule } from './faults.js';
import { createFront, type BackingStore, type RequestRecord } from './front.js';
import { UploadTable } from './uploads.js';

/** A command from the parent process. */
export type Command =
  | { readonly id: number; readonly cmd: 'addFault'; readonly rule: FaultRule }
  | { readonly id: number; readonly cmd: 'clearFaults' }
  | { readonly id: number; readonly cmd: 'faultHits'; readonly fault: number }
  | { readonly id: number; readonly cmd: 'requests' }
  | { readonly id: number; readonly cmd: 'clearRequests' }
  | { readonly id: number; readonly cmd: 'backdateUploads'; readonly ms: number };

/** The child's answer to a command, or its ready message. */
export type Reply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string }
  | { readonly ready: { readonly port: number } };

interface S3rverInstance {
  readonly store: BackingStore;
  run(): Promise<AddressInfo>;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

async function main(): Promise<void> {
  const directory = process.argv[2];
  if (directory === undefined || process.send === undefined) throw new Error('usage: child.ts <directory> (started with an IPC channel)');
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;
  const s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, vhostBuckets: false });
  const up = await s3rver.run();
  const faults = new FaultTable();
  const uploads = new UploadTable();
  const log: RequestRecord[] = [];
  const server = createServer(createFront({ upstreamPort: up.port, store: s3rver.store, faults, uploads, log }));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const send = (m: Reply): void => void process.send?.(m);

  process.on('message', (m: Command) => {
    try {
      let value: unknown = null;
      switch (m.cmd) {
        case 'addFault':
          value = faults.add(m.rule);
          break;
        case 'clearFaults':
          faults.clear();
          break;
        case 'faultHits':
          value = faults.hits(m.fault);
          break;
        case 'requests':
          value = log;
          break;
        case 'clearRequests':
          log.length = 0;
          break;
        case 'backdateUploads':
          uploads.backdate(m.ms);
          break;
      }
      send({ id: m.id, ok: true, value });
    } catch (err) {
      send({ id: m.id, ok: false, error: String(err) });
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ ready: { port: (server.address() as AddressInfo).port } });
}

main().catch((err: unknown) => {
  process.stderr.write(`s3 test server: ${String(err)}\n`);
  process.exit(1);
});
