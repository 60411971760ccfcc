/**
 * @module bench/lib/s3/protocol
 *
 * The little of the S3 wire protocol the local test server's front needs:
 * which operation a path-style request is (by method, path and query), and
 * S3's XML error answer. Only path-style addressing (`/bucket/key`) is
 * understood — the clients the helpers build use `forcePathStyle`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The S3 operations the front tells apart (by method, path and query string). */
export type S3Operation =
  | 'ListBuckets'
  | 'CreateBucket'
  | 'DeleteBucket'
  | 'HeadBucket'
  | 'ListObjects'
  | 'ListObjectsV2'
  | 'ListMultipartUploads'
  | 'DeleteObjects'
  | 'PutObject'
  | 'CopyObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListParts'
  | 'Other';

/** A request, classified. */
export interface S3Request {
  readonly op: S3Operation;
  /** Bucket name ('' for the service). */
  readonly bucket: string;
  /** Object key, URL-decoded ('' for bucket and service operations). */
  readonly key: string;
  readonly query: URLSearchParams;
}

/** Classify a path-style request. */
export function classify(method: string, url: string, headers: IncomingMessage['headers']): S3Request {
  const u = new URL(url, 'http://local');
  const query = u.searchParams;
  query.delete('x-id'); // the SDK names the operation in the query; S3 routes by the other parameters
  const path = u.pathname.slice(1);
  const slash = path.indexOf('/');
  const bucket = decodeURIComponent(slash < 0 ? path : path.slice(0, slash));
  const key = slash < 0 ? '' : decodeURIComponent(path.slice(slash + 1));
  const op = operation(method.toUpperCase(), bucket, key, query, headers);
  return { op, bucket, key, query };
}

function operation(method: string, bucket: string, key: string, q: URLSearchParams, headers: IncomingMessage['headers']): S3Operation {
  if (bucket === '') return method === 'GET' ? 'ListBuckets' : 'Other';
  if (key === '') {
    switch (method) {
      case 'PUT':
        return q.size === 0 ? 'CreateBucket' : 'Other';
      case 'DELETE':
        return q.size === 0 ? 'DeleteBucket' : 'Other';
      case 'HEAD':
        return 'HeadBucket';
      case 'GET':
        if (q.has('uploads')) return 'ListMultipartUploads';
        if (q.get('list-type') === '2') return 'ListObjectsV2';
        return q.size === 0 || q.has('prefix') || q.has('marker') ? 'ListObjects' : 'Other';
      case 'POST':
        return q.has('delete') ? 'DeleteObjects' : 'Other';
      default:
        return 'Other';
    }
  }
  switch (method) {
    case 'PUT':
      if (q.has('uploadId')) return 'UploadPart';
      if (q.size > 0) return 'Other';
      return headers['x-amz-copy-source'] === undefined ? 'PutObject' : 'CopyObject';
    case 'GET':
      if (q.has('uploadId')) return 'ListParts';
      return 'GetObject';
    case 'HEAD':
      return 'HeadObject';
    case 'DELETE':
      return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    case 'POST':
      if (q.has('uploads')) return 'CreateMultipartUpload';
      if (q.has('uploadId')) return 'CompleteMultipartUpload';
      return 'Other';
    default:
      return 'Other';
  }
}

/** S3's code and message for the statuses the front answers with itself. */
export const DEFAULT_ERRORS: Readonly<Record<number, readonly [code: string, message: string]>> = {
  400: ['InvalidRequest', 'The request is not valid.'],
  403: ['AccessDenied', 'Access Denied'],
  404: ['NoSuchKey', 'The specified key does not exist.'],
  409: ['ConditionalRequestConflict', 'A conflicting conditional operation is currently in progress against this resource. Try again.'],
  412: ['PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'],
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  501: ['NotImplemented', 'A header you provided implies functionality that is not implemented'],
  503: ['ServiceUnavailable', 'Service is unable to handle request.'],
};

/** Escape text for an XML element. */
export function xmlText(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Answer with S3's XML error document (no body for HEAD, as S3 does). */
export function sendError(res: ServerResponse, method: string, status: number, code?: string, message?: string, resource?: string): void {
  const [dc, dm] = DEFAULT_ERRORS[status] ?? ['InternalError', 'Error'];
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${xmlText(code ?? dc)}</Code><Message>${xmlText(message ?? dm)}</Message>` +
    (resource === undefined ? '' : `<Resource>${xmlText(resource)}</Resource>`) +
    `<RequestId>local</RequestId></Error>`;
  const bytes = Buffer.from(body);
  res.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': method === 'HEAD' ? 0 : bytes.length,
    'x-amz-request-id': 'local',
  });
  res.end(method === 'HEAD' ? undefined : bytes);
}
