/**
 * @module bench/lib/s3/front
 *
 * The HTTP front of the local S3 server: every request passes through it on
 * its way to s3rver (which listens on another loopback port in the same
 * process), and it adds what s3rver 3.7 lacks and S3 has:
 *
 * - conditional writes: `If-None-Match: *` (create-only) and `If-Match: <etag>`
 *   (compare-and-swap) on PutObject and CompleteMultipartUpload, `If-Match` on
 *   DeleteObject — checked and applied under a per-bucket write lock, so of
 *   several racing creators exactly one wins and the others get 412;
 * - ListMultipartUploads and AbortMultipartUpload, and 404 NoSuchUpload for
 *   parts or completes of an upload that does not exist (aborted, completed,
 *   or started for another key);
 * - all-or-nothing request bodies: a PutObject or UploadPart whose client
 *   went away mid-body is never passed on (s3rver would store the partial
 *   bytes);
 * - the programmed faults of {@link FaultTable}, and a log of every request
 *   (operation, key, status) so tests and benchmarks can count requests.
 */
import { Agent, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultAction, FaultTable } from './faults.js';
import { classify, sendError, type S3Operation, type S3Request } from './protocol.js';
import { listUploadsXml, type UploadTable } from './uploads.js';

/** The parts of s3rver's filesystem store the front reads. */
export interface BackingStore {
  /** Stored metadata of an object (`etag` quoted); rejects (ENOENT) when the object does not exist. */
  getMetadata(bucket: string, key: string): Promise<{ readonly etag: string }>;
  /** Where s3rver keeps a bucket's or object's side files (`'uploads'` for multipart uploads). */
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
}

/** One request as the front saw it. */
export interface RequestRecord {
  readonly op: S3Operation;
  readonly method: string;
  readonly bucket: string;
  readonly key: string;
  /** The answer's status; 0 when the connection was reset or dropped without one. */
  status: number;
  /** Id of the fault rule that hit it, if one did. */
  readonly fault?: number;
}

/** What the front works with. */
export interface FrontOptions {
  readonly upstreamPort: number;
  readonly store: BackingStore;
  readonly faults: FaultTable;
  readonly uploads: UploadTable;
  readonly log: RequestRecord[];
}

/** Bodies up to this size are read whole before being passed on (all-or-nothing); larger ones stream. */
const BUFFER_LIMIT = 64 * 1024 * 1024;

/** A conditional write refused: the status and S3 error code to answer with. */
interface Refusal {
  readonly refused: number;
  readonly code: string;
}

interface Upstream {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The answer's body when it was buffered; null when it was piped to the client already. */
  readonly body: Buffer | null;
}

/** A request handler for `http.createServer`. */
export function createFront(options: FrontOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const locks = new Map<string, Promise<void>>();
  /** UploadPart requests being passed on, by upload id (an abort waits for them before removing the upload's files). */
  const partsWriting = new Map<string, Set<Promise<unknown>>>();

  /**
   * Run `fn` alone among the writes of `bucket`: a conditional check and its
   * write must not interleave with another write of the key, and no write may
   * run beside a delete in the same bucket — s3rver removes a folder left
   * empty by a delete, and a PutObject creating its file in that folder at
   * the same moment fails with ENOENT on a stream without an error handler,
   * which kills the server.
   */
  async function withWriteLock<T>(bucket: string, fn: () => Promise<T>): Promise<T> {
    const name = bucket;
    const before = locks.get(name) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = before.then(() => mine);
    locks.set(name, tail);
    await before;
    try {
      return await fn();
    } finally {
      release();
      if (locks.get(name) === tail) locks.delete(name);
    }
  }

  async function etagOf(bucket: string, key: string): Promise<string | null> {
    try {
      return unquote((await options.store.getMetadata(bucket, key)).etag);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** The error answer a conditional write gets, or null when its preconditions hold. */
  async function precondition(r: S3Request, headers: IncomingHttpHeaders): Promise<Refusal | null> {
    const ifNoneMatch = header(headers, 'if-none-match');
    const ifMatch = header(headers, 'if-match');
    if (ifNoneMatch === undefined && ifMatch === undefined) return null;
    if (ifNoneMatch !== undefined && ifNoneMatch !== '*') return { refused: 501, code: 'NotImplemented' };
    const etag = await etagOf(r.bucket, r.key);
    if (ifNoneMatch === '*' && etag !== null) return { refused: 412, code: 'PreconditionFailed' };
    if (ifMatch !== undefined) {
      if (etag === null) return { refused: 404, code: 'NoSuchKey' };
      if (ifMatch !== '*' && unquote(ifMatch) !== etag) return { refused: 412, code: 'PreconditionFailed' };
    }
    return null;
  }

  function forward(req: IncomingMessage, res: ServerResponse, body: Buffer | null, buffer: boolean): Promise<Upstream> {
    return new Promise<Upstream>((resolve, reject) => {
      const headers = { ...req.headers };
      delete headers.expect; // the front already answered 100-continue
      const up = request(
        { host: '127.0.0.1', port: options.upstreamPort, method: req.method, path: req.url, headers, agent },
        (ures) => {
          const status = ures.statusCode ?? 502;
          if (!buffer) {
            res.writeHead(status, ures.headers);
            ures.pipe(res);
            ures.on('end', () => resolve({ status, headers: ures.headers, body: null }));
            ures.on('error', reject);
            return;
          }
          const chunks: Buffer[] = [];
          ures.on('data', (c: Buffer) => chunks.push(c));
          ures.on('end', () => resolve({ status, headers: ures.headers, body: Buffer.concat(chunks) }));
          ures.on('error', reject);
        },
      );
      up.on('error', reject);
      if (body !== null) up.end(body);
      else if (req.destroyed && !req.complete) {
        // The client went away while this request waited (for the write lock): nothing to pass on, and a pipe
        // from a destroyed stream would never end the upstream request, holding the lock until s3rver times out.
        up.destroy();
        reject(new Error('the client went away before its body was passed on'));
      } else {
        req.pipe(up);
        req.on('close', () => {
          if (!req.complete) up.destroy();
        });
      }
    });
  }

  /** Answer the client with a buffered upstream answer, late or never as `after` says. */
  async function deliver(req: IncomingMessage, res: ServerResponse, u: Upstream, after: FaultAction | undefined): Promise<void> {
    if (after?.type === 'drop-response') {
      req.socket.destroy();
      return;
    }
    if (after?.type === 'delay-response') await sleep(after.ms);
    if (res.destroyed) return;
    res.writeHead(u.status, u.headers);
    res.end(u.body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, r: S3Request, fault: FaultAction | undefined): Promise<void> {
    const method = req.method ?? 'GET';
    if (fault?.type === 'status' || fault?.type === 'throttle') {
      await drain(req);
      if (fault.type === 'throttle') sendError(res, method, 503, 'SlowDown', 'Please reduce your request rate.');
      else sendError(res, method, fault.status, fault.code, fault.message);
      return;
    }
    if (fault?.type === 'delay') {
      await sleep(fault.ms);
      if (req.socket.destroyed) return; // the client gave up while it waited: the request is never served
    }
    const body = await readBody(req, fault?.type === 'reset' ? fault.afterBytes ?? Math.floor(contentLength(req) / 2) : undefined);
    if (body === 'gone') return;
    const after = fault?.type === 'drop-response' || fault?.type === 'delay-response' ? fault : undefined;
    const buffered = after !== undefined;

    switch (r.op) {
      case 'ListMultipartUploads': {
        const q = {
          prefix: r.query.get('prefix') ?? '',
          keyMarker: r.query.get('key-marker') ?? '',
          uploadIdMarker: r.query.get('upload-id-marker') ?? '',
          maxUploads: Math.max(1, Math.min(1000, Number(r.query.get('max-uploads') ?? 1000) || 1000)),
        };
        const xml = Buffer.from(listUploadsXml(r.bucket, q, options.uploads.list(r.bucket, q)));
        await deliver(req, res, { status: 200, headers: { 'content-type': 'application/xml', 'content-length': String(xml.length) }, body: xml }, after);
        return;
      }
      case 'AbortMultipartUpload': {
        const id = r.query.get('uploadId') ?? '';
        const u = options.uploads.get(id);
        if (u === undefined || u.bucket !== r.bucket || u.key !== r.key) return noSuchUpload(res, method, id);
        options.uploads.remove(id); // parts arriving from now on are refused (404)
        const writing = partsWriting.get(id); // s3rver would crash on a part file removed under its write stream
        if (writing !== undefined) await Promise.allSettled([...writing]);
        await rm(join(options.store.getResourcePath(r.bucket, undefined, 'uploads'), id), { recursive: true, force: true });
        await deliver(req, res, { status: 204, headers: {}, body: Buffer.alloc(0) }, after);
        return;
      }
      case 'UploadPart':
      case 'ListParts': {
        const id = r.query.get('uploadId') ?? '';
        const u = options.uploads.get(id);
        if (u === undefined || u.bucket !== r.bucket || u.key !== r.key) return noSuchUpload(res, method, id);
        if (r.op === 'ListParts') break;
        const writing = partsWriting.get(id) ?? new Set<Promise<unknown>>();
        partsWriting.set(id, writing);
        const task = forward(req, res, body, buffered);
        writing.add(task);
        try {
          const done = await task;
          if (buffered) await deliver(req, res, done, after);
        } finally {
          writing.delete(task);
          if (writing.size === 0 && partsWriting.get(id) === writing) partsWriting.delete(id);
        }
        return;
      }
      case 'CreateMultipartUpload': {
        const u = await forward(req, res, body, true);
        const id = u.status === 200 ? /<UploadId>([^<]+)<\/UploadId>/.exec(u.body?.toString('utf8') ?? '')?.[1] : undefined;
        if (id !== undefined) options.uploads.add({ bucket: r.bucket, key: r.key, uploadId: id, initiated: Date.now() });
        await deliver(req, res, u, after);
        return;
      }
      case 'CompleteMultipartUpload': {
        const id = r.query.get('uploadId') ?? '';
        const known = options.uploads.get(id);
        if (known === undefined || known.bucket !== r.bucket || known.key !== r.key) return noSuchUpload(res, method, id);
        const u = await withWriteLock(r.bucket, async () => {
          const failed = await precondition(r, req.headers);
          if (failed !== null) return failed;
          const done = await forward(req, res, body, true);
          if (done.status === 200 && !/<Error>/.test(done.body?.toString('utf8') ?? '')) options.uploads.remove(id);
          return done;
        });
        if ('refused' in u) return sendError(res, method, u.refused, u.code);
        await deliver(req, res, u, after);
        return;
      }
      case 'PutObject':
      case 'DeleteObject': {
        const u = await withWriteLock(r.bucket, async () => (await precondition(r, req.headers)) ?? forward(req, res, body, buffered));
        if ('refused' in u) return sendError(res, method, u.refused, u.code);
        if (buffered) await deliver(req, res, u, after);
        return;
      }
      default:
        break;
    }
    const u = await forward(req, res, body, buffered);
    if (buffered) await deliver(req, res, u, after);
  }

  return (req, res) => {
    const r = classify(req.method ?? 'GET', req.url ?? '/', req.headers);
    const hit = options.faults.take(r);
    const record: RequestRecord = { op: r.op, method: req.method ?? 'GET', bucket: r.bucket, key: r.key, status: 0, ...(hit === undefined ? {} : { fault: hit.id }) };
    options.log.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    handle(req, res, r, hit?.rule.action).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) sendError(res, req.method ?? 'GET', 500, 'InternalError', String(err));
      else res.destroy();
    });
  };
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function unquote(etag: string): string {
  return etag.replace(/^W\//, '').replace(/"/g, '');
}

function contentLength(req: IncomingMessage): number {
  return Number(req.headers['content-length'] ?? 0) || 0;
}

function noSuchUpload(res: ServerResponse, method: string, id: string): void {
  sendError(res, method, 404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', id);
}

/** Read and discard the request body. */
function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (req.complete) return resolve();
    req.on('end', resolve);
    req.on('close', resolve);
    req.resume();
  });
}

/**
 * Read the whole request body when it is small enough (null: leave it to
 * stream); 'gone' when the client went away mid-body or `resetAfter` bytes
 * were read and the connection was reset on purpose.
 */
function readBody(req: IncomingMessage, resetAfter: number | undefined): Promise<Buffer | null | 'gone'> {
  const length = contentLength(req);
  if (resetAfter === undefined && (req.headers['content-length'] === undefined || length > BUFFER_LIMIT)) return Promise.resolve(null);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const reset = (): void => {
      req.socket.resetAndDestroy();
      resolve('gone');
    };
    if (resetAfter !== undefined && resetAfter <= 0) return reset();
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (resetAfter !== undefined && got >= resetAfter) {
        req.pause();
        reset();
      }
    });
    req.on('end', () => (resetAfter !== undefined ? reset() : resolve(Buffer.concat(chunks))));
    req.on('close', () => {
      if (!req.complete) resolve('gone');
    });
  });
}
