/**
 * An in-memory S3 bucket behind `aws-sdk-client-mock`: the subset of the S3
 * API S3Store uses (objects, ranged GETs, conditional PUT/Complete/DELETE,
 * ListObjectsV2 with paging, multipart uploads and their listing), with
 * S3's status codes and error names, and fault injection per command —
 * before the command takes effect (the request never arrived) or after
 * (the answer was lost). Mocks replace the client's `send`, so the SDK's
 * own retries do not run: a fault here is what S3Store sees after them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';

export interface FakeObject {
  body: Buffer;
  etag: string;
  metadata: Record<string, string>;
  lastModified: Date;
}

interface FakeUpload {
  key: string;
  metadata: Record<string, string>;
  parts: Map<number, { body: Buffer; etag: string }>;
  initiated: Date;
}

export type CommandName =
  | 'PutObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'ListObjectsV2'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListMultipartUploads';

/** A fault: fail `times` matching calls of `command`, before or after the command takes effect. */
export interface Fault {
  readonly command: CommandName;
  /** 'before': nothing happens on the server; 'after': it happened, the answer is lost. */
  readonly when: 'before' | 'after';
  readonly error: () => unknown;
  times: number;
  readonly match?: (input: Record<string, unknown>) => boolean;
  /** Only calls from the client made with this tag. */
  readonly client?: string;
}

/** An S3 error as the SDK throws it. */
export function s3Error(name: string, status: number, message = name): S3ServiceException {
  return new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message });
}

/** A network error as Node throws it (no response). */
export function netError(code: string): Error {
  return Object.assign(new Error(`socket hang up (${code})`), { code, name: 'Error' });
}

function etagOf(body: Buffer): string {
  return `"${createHash('md5').update(body).digest('hex')}"`;
}

export class FakeBucket {
  readonly objects = new Map<string, FakeObject>();
  readonly uploads = new Map<string, FakeUpload>();
  readonly calls: { command: CommandName; input: Record<string, unknown>; client: string }[] = [];
  /** Delay (ms) before each call of these commands takes effect. */
  readonly delays = new Map<CommandName, number>();
  /** Calls being served now, by command, and the most seen at once. */
  readonly active = new Map<CommandName, number>();
  readonly maxActive = new Map<CommandName, number>();
  readonly faults: Fault[] = [];
  /** false: ignore If-None-Match / If-Match like s3rver. */
  honourConditions = true;
  /** ListObjectsV2 page size. */
  maxKeys = 1000;
  /** ListMultipartUploads answers 501 (like s3rver). */
  listUploadsNotImplemented = false;
  /** Called with each GET's body before it is streamed: tests cut it. */
  bodyFilter: ((key: string, chunk: Buffer) => Readable | undefined) | undefined;

  constructor(readonly name = 'bucket') {}

  /** Fail the next `times` calls of `command`. */
  inject(fault: Omit<Fault, 'times'> & { times?: number }): void {
    this.faults.push({ ...fault, times: fault.times ?? 1 });
  }

  count(command: CommandName): number {
    return this.calls.filter((c) => c.command === command).length;
  }

  /** A client on this bucket (each client is another "process"). */
  client(tag = 'default'): S3Client {
    const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const mock = mockClient(client);
    const on = <I extends object>(cmd: new (input: I) => unknown, name: CommandName, run: (input: Record<string, unknown>) => unknown): void => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      mock.on(cmd as any).callsFake(async (input: Record<string, unknown>) => this.#call(name, input, run, tag));
    };
    on(PutObjectCommand, 'PutObject', (i) => this.#put(i));
    on(GetObjectCommand, 'GetObject', (i) => this.#get(i));
    on(HeadObjectCommand, 'HeadObject', (i) => this.#head(i));
    on(DeleteObjectCommand, 'DeleteObject', (i) => this.#delete(i));
    on(ListObjectsV2Command, 'ListObjectsV2', (i) => this.#list(i));
    on(CreateMultipartUploadCommand, 'CreateMultipartUpload', (i) => this.#create(i));
    on(UploadPartCommand, 'UploadPart', (i) => this.#uploadPart(i));
    on(CompleteMultipartUploadCommand, 'CompleteMultipartUpload', (i) => this.#complete(i));
    on(AbortMultipartUploadCommand, 'AbortMultipartUpload', (i) => this.#abort(i));
    on(ListMultipartUploadsCommand, 'ListMultipartUploads', (i) => this.#listUploads(i));
    return client;
  }

  async #call(name: CommandName, input: Record<string, unknown>, run: (input: Record<string, unknown>) => unknown, tag: string): Promise<unknown> {
    this.calls.push({ command: name, input, client: tag });
    const now = (this.active.get(name) ?? 0) + 1;
    this.active.set(name, now);
    this.maxActive.set(name, Math.max(now, this.maxActive.get(name) ?? 0));
    try {
      // A real request always yields to the event loop (timers run meanwhile).
      const delay = this.delays.get(name);
      await new Promise((resolve) => (delay === undefined ? setImmediate(resolve) : setTimeout(resolve, delay)));
      const fault = (when: 'before' | 'after'): Fault | undefined => {
        const f = this.faults.find((x) => x.times > 0 && x.command === name && x.when === when && (x.client === undefined || x.client === tag) && (x.match?.(input) ?? true));
        if (f !== undefined) f.times--;
        return f;
      };
      const before = fault('before');
      if (before !== undefined) throw before.error();
      const out = run(input);
      const after = fault('after');
      if (after !== undefined) throw after.error();
      return out;
    } finally {
      this.active.set(name, (this.active.get(name) ?? 1) - 1);
    }
  }

  #key(input: Record<string, unknown>): string {
    if (input.Bucket !== this.name) throw s3Error('NoSuchBucket', 404, 'The specified bucket does not exist');
    return input.Key as string;
  }

  #check(key: string, input: Record<string, unknown>): void {
    if (!this.honourConditions) return;
    const cur = this.objects.get(key);
    if (input.IfNoneMatch === '*' && cur !== undefined) throw s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold');
    if (typeof input.IfMatch === 'string' && (cur === undefined ? true : cur.etag !== input.IfMatch)) {
      if (cur === undefined) throw s3Error('NoSuchKey', 404);
      throw s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold');
    }
  }

  #put(input: Record<string, unknown>): unknown {
    const key = this.#key(input);
    this.#check(key, input);
    const body = Buffer.from(input.Body as Uint8Array); // copy: the caller reuses its buffers
    const etag = etagOf(body);
    this.objects.set(key, { body, etag, metadata: { ...((input.Metadata as Record<string, string>) ?? {}) }, lastModified: new Date() });
    return { ETag: etag };
  }

  #object(input: Record<string, unknown>): FakeObject {
    const key = this.#key(input);
    const o = this.objects.get(key);
    if (o === undefined) throw s3Error('NoSuchKey', 404, 'The specified key does not exist.');
    if (this.honourConditions && typeof input.IfMatch === 'string' && input.IfMatch !== o.etag) throw s3Error('PreconditionFailed', 412);
    return o;
  }

  #get(input: Record<string, unknown>): unknown {
    const o = this.#object(input);
    const size = o.body.length;
    let start = 0;
    let end = size - 1;
    let ranged = false;
    const range = input.Range as string | undefined;
    if (range !== undefined) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (m === null) throw s3Error('InvalidRange', 416);
      if (m[1] === '') {
        start = Math.max(0, size - Number(m[2]));
      } else {
        start = Number(m[1]);
        if (m[2] !== '') end = Math.min(size - 1, Number(m[2]));
      }
      if (size === 0 || start >= size) throw s3Error('InvalidRange', 416);
      ranged = true;
    }
    const slice = o.body.subarray(start, end + 1);
    const body = this.bodyFilter?.(input.Key as string, slice) ?? Readable.from(chunks(slice));
    return {
      Body: body,
      ETag: o.etag,
      ContentLength: slice.length,
      LastModified: o.lastModified,
      Metadata: o.metadata,
      ...(ranged ? { ContentRange: `bytes ${start}-${end}/${size}` } : {}),
    };
  }

  #head(input: Record<string, unknown>): unknown {
    let o: FakeObject;
    try {
      o = this.#object(input);
    } catch (err) {
      if (err instanceof S3ServiceException && err.name === 'NoSuchKey') throw s3Error('NotFound', 404);
      throw err;
    }
    return { ETag: o.etag, ContentLength: o.body.length, Metadata: o.metadata, LastModified: o.lastModified };
  }

  #delete(input: Record<string, unknown>): unknown {
    const key = this.#key(input);
    const cur = this.objects.get(key);
    if (this.honourConditions && typeof input.IfMatch === 'string') {
      if (cur === undefined) throw s3Error('NoSuchKey', 404);
      if (cur.etag !== input.IfMatch) throw s3Error('PreconditionFailed', 412);
    }
    this.objects.delete(key);
    return {};
  }

  #list(input: Record<string, unknown>): unknown {
    if (input.Bucket !== this.name) throw s3Error('NoSuchBucket', 404);
    const prefix = (input.Prefix as string | undefined) ?? '';
    const delimiter = input.Delimiter as string | undefined;
    const after = (input.ContinuationToken as string | undefined) ?? '';
    const keys = [...this.objects.keys()]
      .filter((k) => k.startsWith(prefix) && k > after)
      .filter((k) => delimiter === undefined || !k.slice(prefix.length).includes(delimiter))
      .sort();
    const page = keys.slice(0, this.maxKeys);
    const truncated = keys.length > page.length;
    return {
      Contents: page.map((Key) => ({ Key, Size: this.objects.get(Key)!.body.length, ETag: this.objects.get(Key)!.etag })),
      IsTruncated: truncated,
      KeyCount: page.length,
      ...(truncated ? { NextContinuationToken: page[page.length - 1] } : {}),
    };
  }

  #create(input: Record<string, unknown>): unknown {
    const key = this.#key(input);
    const id = randomBytes(8).toString('hex');
    this.uploads.set(id, { key, metadata: { ...((input.Metadata as Record<string, string>) ?? {}) }, parts: new Map(), initiated: new Date() });
    return { UploadId: id, Key: key, Bucket: this.name };
  }

  #upload(input: Record<string, unknown>): FakeUpload {
    const key = this.#key(input);
    const u = this.uploads.get(input.UploadId as string);
    if (u === undefined || u.key !== key) throw s3Error('NoSuchUpload', 404, 'The specified upload does not exist.');
    return u;
  }

  #uploadPart(input: Record<string, unknown>): unknown {
    const u = this.#upload(input);
    const body = Buffer.from(input.Body as Uint8Array);
    if (input.ContentLength !== undefined && input.ContentLength !== body.length) throw s3Error('IncompleteBody', 400);
    const etag = etagOf(body);
    u.parts.set(input.PartNumber as number, { body, etag });
    return { ETag: etag };
  }

  #complete(input: Record<string, unknown>): unknown {
    const u = this.#upload(input);
    const key = u.key;
    this.#check(key, input);
    const parts = ((input.MultipartUpload as { Parts?: { PartNumber: number; ETag: string }[] } | undefined)?.Parts ?? []);
    const bodies: Buffer[] = [];
    let prev = 0;
    for (const [i, p] of parts.entries()) {
      const stored = u.parts.get(p.PartNumber);
      if (stored === undefined || stored.etag !== p.ETag) throw s3Error('InvalidPart', 400);
      if (p.PartNumber <= prev) throw s3Error('InvalidPartOrder', 400);
      if (i < parts.length - 1 && stored.body.length < 5 * 1024 * 1024) throw s3Error('EntityTooSmall', 400);
      prev = p.PartNumber;
      bodies.push(stored.body);
    }
    const body = Buffer.concat(bodies);
    const etag = `"${createHash('md5').update(body).digest('hex')}-${parts.length}"`;
    this.objects.set(key, { body, etag, metadata: u.metadata, lastModified: new Date() });
    this.uploads.delete(input.UploadId as string);
    return { ETag: etag, Key: key };
  }

  #abort(input: Record<string, unknown>): unknown {
    this.#upload(input);
    this.uploads.delete(input.UploadId as string);
    return {};
  }

  #listUploads(input: Record<string, unknown>): unknown {
    if (this.listUploadsNotImplemented) throw s3Error('NotImplemented', 501);
    const prefix = (input.Prefix as string | undefined) ?? '';
    const uploads = [...this.uploads.entries()]
      .filter(([, u]) => u.key.startsWith(prefix))
      .map(([UploadId, u]) => ({ Key: u.key, UploadId, Initiated: u.initiated }));
    return { Uploads: uploads, IsTruncated: false };
  }
}

function* chunks(buf: Buffer): Generator<Buffer> {
  for (let at = 0; at < buf.length; at += 64 * 1024) yield buf.subarray(at, Math.min(buf.length, at + 64 * 1024));
}
