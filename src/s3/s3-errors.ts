/**
 * @module s3/s3-errors
 *
 * What an S3 failure means for ckpt. The SDK has already retried what can be
 * retried (throttling, 5xx, timeouts, with its backoff) when an error gets
 * here; this module sorts what is left: a failed precondition (412), a
 * conflicting concurrent request (409), a missing key (404), a request that
 * certainly had no effect (another 4xx), or an ambiguous one (the request
 * may have reached the server). It also turns errors into `CkptError`s
 * whose hint names the permission, setting or credential to fix.
 */
import { CkptError, describeError, ErrorCodes } from '../errors.js';

/** The facts of an SDK (or network) error that decide what it means. */
interface ErrorFacts {
  /** S3 error code (`NoSuchKey`, `AccessDenied`…) or the JavaScript error name. */
  readonly name: string;
  /** HTTP status, when a response arrived. */
  readonly status: number | undefined;
  /** Node's errno code for network errors (`ECONNRESET`…). */
  readonly errno: string | undefined;
  /** Region the server says the bucket lives in (`x-amz-bucket-region`), when it said so. */
  readonly region: string | undefined;
  /** The error's message ('' when it has none). */
  readonly message: string;
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function factsOf(err: unknown): ErrorFacts {
  const name = typeof field(err, 'name') === 'string' ? (field(err, 'name') as string) : 'Error';
  const status = field(field(err, '$metadata'), 'httpStatusCode');
  const errno = field(err, 'code');
  const headers = field(field(err, '$response'), 'headers');
  const region = field(headers, 'x-amz-bucket-region');
  return {
    name,
    status: typeof status === 'number' ? status : undefined,
    errno: typeof errno === 'string' ? errno : undefined,
    region: typeof region === 'string' && region !== '' ? region : undefined,
    message: typeof field(err, 'message') === 'string' ? (field(err, 'message') as string) : '',
  };
}

/** True when the server refused a conditional request because its condition failed (412). */
export function isPreconditionFailed(err: unknown): boolean {
  const f = factsOf(err);
  return f.status === 412 || f.name === 'PreconditionFailed';
}

/** True for S3's 409 ConditionalRequestConflict: a concurrent request on the key; retry. */
export function isConflict(err: unknown): boolean {
  const f = factsOf(err);
  return f.status === 409 || f.name === 'ConditionalRequestConflict' || f.name === 'OperationAborted';
}

/** True when the key (or the multipart upload) does not exist. */
export function isNotFound(err: unknown): boolean {
  const f = factsOf(err);
  return f.status === 404 || f.name === 'NoSuchKey' || f.name === 'NotFound' || f.name === 'NoSuchUpload';
}

/** True when the server answered that it does not implement the request (501). */
export function isNotImplemented(err: unknown): boolean {
  const f = factsOf(err);
  return f.status === 501 || f.name === 'NotImplemented';
}

/**
 * True when the request certainly had no effect: the server answered with a
 * 4xx other than a timeout (408), a conflict (409), a failed precondition
 * (412) or throttling (429), or the SDK failed before sending (no
 * credentials, bad input). Anything else — a 5xx after retries, a timeout,
 * a connection reset — may have been applied by the server.
 */
export function hadNoEffect(err: unknown): boolean {
  const f = factsOf(err);
  if (f.status !== undefined) return f.status >= 400 && f.status < 500 && ![408, 409, 412, 429].includes(f.status);
  return f.name === 'CredentialsProviderError' || f.name === 'TypeError' || f.name === 'RangeError' || f.name === 'CkptError';
}

/** The hint for an error: what to check or grant. `permission` is the IAM action the request needs. */
function hintOf(f: ErrorFacts, bucket: string, permission: string | undefined, prefix: string): string {
  const arn = permission === 's3:ListBucket' || permission === 's3:ListBucketMultipartUploads' ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${prefix}*`;
  if (f.name === 'NoSuchBucket') return `bucket "${bucket}" does not exist where the client looked: fix the bucket name, or the region/endpoint it lives in`;
  if (f.region !== undefined || f.status === 301 || f.status === 307 || f.name === 'PermanentRedirect' || f.name === 'AuthorizationHeaderMalformed' || f.name === 'IllegalLocationConstraintException') {
    const where = f.region === undefined ? 'another region' : `region ${f.region}`;
    const set = f.region === undefined ? `the bucket's region` : `'${f.region}'`;
    return `bucket "${bucket}" is in ${where}: set AWS_REGION=${f.region ?? '<region>'} or pass new S3Client({ region: ${set} })`;
  }
  // Before AccessDenied: S3 answers bad credentials with 403 too.
  if (f.name === 'RequestTimeTooSkewed') return "this machine's clock is too far from the server's: synchronise it (NTP)";
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'TokenRefreshRequired', 'CredentialsProviderError', 'InvalidToken'].includes(f.name)) {
    return 'check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the role the process runs as)';
  }
  if (f.name === 'AccessDenied' || f.status === 403) {
    return permission === undefined
      ? `the credentials may not use bucket "${bucket}": check the IAM policy (docs/s3.md lists the minimal one)`
      : `allow ${permission} on ${arn} for these credentials (docs/s3.md lists the minimal IAM policy)`;
  }
  if (f.errno !== undefined && ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(f.errno)) {
    return 'the endpoint cannot be reached: check AWS_ENDPOINT_URL_S3 (or the client endpoint) and the network';
  }
  if (f.status === 501 || f.name === 'NotImplemented') {
    if (/checksum/i.test(f.message)) {
      return "the server rejects the SDK's checksum headers: set requestChecksumCalculation: 'WHEN_REQUIRED' and responseChecksumValidation: 'WHEN_REQUIRED' in the client config";
    }
    return 'the server does not implement this request; docs/s3.md lists what S3Store needs from an S3-compatible server';
  }
  if (f.status === 503 || f.status === 500 || f.name === 'SlowDown' || f.status === 429) {
    return "the service kept failing through the SDK's retries: retry later, or raise the client's maxAttempts";
  }
  return 'check the bucket, prefix, credentials and network';
}

/** Where a request went, for messages. */
export interface S3Place {
  /** The bucket. */
  readonly bucket: string;
  /** The store prefix (for the IAM resource in hints). */
  readonly prefix: string;
}

/**
 * `err` as a `CKPT_ERR_STORE_IO` error: "`operation` of s3://bucket/key failed:
 * …" with a hint naming the permission (`permission`, the IAM action the
 * request needs), region, credentials or endpoint to fix. A `CkptError`
 * passes through unchanged.
 */
export function s3IoError(place: S3Place, operation: string, key: string, err: unknown, permission?: string, image?: string): CkptError {
  if (err instanceof CkptError) return err;
  const f = factsOf(err);
  const hint = hintOf(f, place.bucket, permission, place.prefix);
  const status = f.status === undefined ? '' : ` (HTTP ${f.status})`;
  return new CkptError(ErrorCodes.STORE_IO, `Store I/O failed: ${operation} of s3://${place.bucket}/${key} failed: ${describeError(err) || f.name}${status}.`, {
    cause: err,
    hint,
    ...(image === undefined ? {} : { image }),
  });
}

/**
 * For a 501 NotImplemented answer to a request that carried a conditional
 * header (`header`: `If-None-Match: *` or `If-Match`): the server lacks
 * conditional writes, which S3Store's guarantees rest on. The error says so
 * and what to do; a 501 about the SDK's checksum headers (another cause of
 * 501 on some servers) keeps its own hint. Undefined for any other error.
 */
export function conditionalWritesError(
  place: S3Place & { readonly description: string },
  operation: string,
  key: string,
  err: unknown,
  header: string,
  image?: string,
): CkptError | undefined {
  if (!isNotImplemented(err)) return undefined;
  const f = factsOf(err);
  if (/checksum/i.test(f.message)) return s3IoError(place, operation, key, err, undefined, image);
  return new CkptError(
    ErrorCodes.STORE_IO,
    `The server behind ${place.description} does not support conditional writes: it answered 501 NotImplemented to ${operation} with ${header} ` +
      `(s3://${place.bucket}/${key}). Older MinIO and Ceph RGW releases and some gateways and emulators lack them. ` +
      `S3Store needs them so that a commit never replaces an image and only one writer holds the lease; nothing was written.`,
    {
      cause: err,
      hint: "upgrade the server to a release with conditional writes (If-None-Match / If-Match on PutObject and CompleteMultipartUpload: AWS S3, recent MinIO or Ceph RGW, R2), or promise a single writer per prefix with new S3Store({ …, conditionalWrites: 'off' }) (docs/s3.md)",
      ...(image === undefined ? {} : { image }),
    },
  );
}
