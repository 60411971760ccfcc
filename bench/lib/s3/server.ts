/**
 * @module bench/lib/s3/server
 *
 * A real S3-protocol server on loopback for tests and benchmarks, with no
 * Docker and no network: s3rver 3.7 in a child process, behind a front that
 * adds conditional writes, multipart listing/abort and programmable faults
 * (see `front.ts`). {@link startS3Server} starts it on free ports and
 * returns the endpoint, a client factory, the fault controls and `stop()`,
 * which kills and reaps the child and removes its files.
 *
 * Clients must send checksums only when required
 * (`requestChecksumCalculation: 'WHEN_REQUIRED'`,
 * `responseChecksumValidation: 'WHEN_REQUIRED'`; {@link S3TestServer.client}
 * and {@link S3TestServer.env} set both): s3rver 3.7 cannot decode the
 * `aws-chunked` bodies the SDK sends by default for streams and would store
 * the framing as data.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Command, Reply } from './child.js';
import type { FaultRule } from './faults.js';
import type { RequestRecord } from './front.js';

export type { FaultAction, FaultRule } from './faults.js';
export type { RequestRecord } from './front.js';
export type { S3Operation } from './protocol.js';

/** Programs the server's faults. */
export interface FaultControl {
  /** Add a rule (it applies to requests from now on); resolves to its id. */
  add(rule: FaultRule): Promise<number>;
  /** Remove every rule. */
  clear(): Promise<void>;
  /** How many requests rule `id` has hit. */
  hits(id: number): Promise<number>;
}

/** A running local S3 server. */
export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** The server process's pid. */
  readonly pid: number;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /**
   * The environment a process needs for the SDK's default configuration to
   * reach this server (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials, and
   * `AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED` /
   * `AWS_RESPONSE_CHECKSUM_VALIDATION=WHEN_REQUIRED`).
   */
  readonly env: Readonly<Record<string, string>>;
  readonly faults: FaultControl;
  /** A client for this server: path-style, checksums only when required; `config` overrides. */
  client(config?: S3ClientConfig): S3Client;
  /** Create a bucket (a fresh name unless given) and return its name. */
  createBucket(name?: string): Promise<string>;
  /** Every request served since start (or the last {@link S3TestServer.clearRequests}). */
  requests(): Promise<RequestRecord[]>;
  clearRequests(): Promise<void>;
  /** Move the start time of every multipart upload in progress `ms` into the past. */
  backdateUploads(ms: number): Promise<void>;
  /** Kill the server process, wait until it is reaped, remove its files. Idempotent. */
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
const REGION = 'us-east-1';
let buckets = 0;

/** A command without its id (the id is added when it is sent). */
type CommandBody = Command extends infer C ? (C extends unknown ? Omit<C, 'id'> : never) : never;

/** Start a local S3 server (s3rver + front) in a child process; resolves once it listens. */
export async function startS3Server(): Promise<S3TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 'ckpt-s3-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--import', 'tsx', CHILD, directory], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`S3 test server did not start in 60 s\n${stderr}`)), 60_000);
    child.on('message', (m: Reply) => {
      if ('ready' in m) {
        clearTimeout(timer);
        resolve(m.ready.port);
        return;
      }
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.ok) p?.resolve(m.value);
      else p?.reject(new Error(m.error));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const err = new Error(`S3 test server exited (${code ?? signal}): ${stderr}`);
      reject(err);
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await exited;
    await rm(directory, { recursive: true, force: true });
    throw err;
  });

  function call<T>(cmd: CommandBody): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: (v) => resolve(v as T), reject });
      child.send({ ...cmd, id });
    });
  }

  const endpoint = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | undefined;
  // A server that dies under the tests shows up as ECONNREFUSED in every later request: say why it died.
  child.once('exit', (code, signal) => {
    if (stopped === undefined) process.stderr.write(`S3 test server (pid ${child.pid ?? '?'}) exited by itself (${code ?? signal}):\n${stderr}\n`);
  });
  const server: S3TestServer = {
    endpoint,
    pid: child.pid ?? 0,
    region: REGION,
    credentials: CREDENTIALS,
    env: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
    faults: {
      add: (rule) => call<number>({ cmd: 'addFault', rule }),
      clear: () => call<void>({ cmd: 'clearFaults' }),
      hits: (fault) => call<number>({ cmd: 'faultHits', fault }),
    },
    client(config = {}) {
      return new S3Client({
        endpoint,
        region: REGION,
        credentials: CREDENTIALS,
        forcePathStyle: true,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        ...config,
      });
    },
    async createBucket(name) {
      const bucket = name ?? `ckpt-${process.pid}-${++buckets}`;
      const c = server.client();
      try {
        await c.send(new CreateBucketCommand({ Bucket: bucket }));
      } finally {
        c.destroy();
      }
      return bucket;
    },
    requests: () => call<RequestRecord[]>({ cmd: 'requests' }),
    clearRequests: () => call<void>({ cmd: 'clearRequests' }),
    backdateUploads: (ms) => call<void>({ cmd: 'backdateUploads', ms }),
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
        await rm(directory, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  return server;
}
