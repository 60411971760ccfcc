/**
 * @module store/s3-url
 *
 * `s3://bucket/prefix/` as a store location (for `new Checkpointer({ store })`
 * and every `ckpt` command), and `s3://bucket/prefix/000000000042.ckpt` as one
 * image in such a store (for the CLI's image arguments — the key an `S3Store`
 * gives that image). Parsing only; opening is `s3-url-store.ts`. Keys are
 * taken literally, as the `aws s3` command takes them (no percent-decoding).
 */
import { CkptError, ErrorCodes } from '../errors.js';
import { isImageId } from './image-ids.js';

/** A parsed `s3://` location. */
export interface S3Location {
  /** The bucket. */
  readonly bucket: string;
  /** The store's key prefix: `''` (bucket root) or ending in `/`. */
  readonly prefix: string;
  /** The store, normalised: `s3://<bucket>/<prefix>`. */
  readonly store: string;
  /** The image the URL names (`…/000000000042.ckpt`), if it names one. */
  readonly imageId?: string;
}

const SCHEME_RE = /^s3:\/\//i;
const IMAGE_RE = /^(\d{12})\.ckpt$/;

/** Does `location` use the `s3://` scheme? */
export function isS3Url(location: string): boolean {
  return SCHEME_RE.test(location);
}

function invalid(url: string, why: string): CkptError {
  return new CkptError(ErrorCodes.INVALID_ARGUMENT, `${url} is not a usable s3:// location: ${why}. Write it as s3://<bucket>/<prefix>/, e.g. s3://my-jobs/sim-42/.`);
}

/**
 * Parse an `s3://` URL. With `image: 'allow'`, a last path element named
 * like an image (`000000000042.ckpt`) is that image of the store around it.
 *
 * @throws CkptError `CKPT_ERR_INVALID_ARGUMENT` for a URL with no bucket, a query or fragment, credentials, or an empty path element (`//`)
 */
export function parseS3Url(url: string, image: 'allow' | 'reject' = 'reject'): S3Location {
  if (!isS3Url(url)) throw invalid(url, 'it does not start with s3://');
  const rest = url.replace(SCHEME_RE, '');
  if (/[?#]/.test(rest)) throw invalid(url, 'a query (?…) or fragment (#…) has no meaning here — configure the endpoint, region and credentials through the AWS environment (AWS_ENDPOINT_URL, AWS_REGION, AWS_PROFILE…)');
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  let path = slash < 0 ? '' : rest.slice(slash + 1);
  if (bucket === '') throw invalid(url, 'it names no bucket');
  if (bucket.includes('@') || bucket.includes(':')) throw invalid(url, 'the bucket name holds "@" or ":" — credentials and ports do not belong in the URL (use the AWS environment)');
  if (path.startsWith('/') || path.includes('//')) throw invalid(url, 'its path has an empty element ("//")');
  let imageId: string | undefined;
  if (image === 'allow') {
    const last = path.slice(path.lastIndexOf('/') + 1);
    const id = IMAGE_RE.exec(last)?.[1];
    if (id !== undefined && isImageId(id)) {
      imageId = id;
      path = path.slice(0, path.length - last.length);
    }
  }
  const prefix = path === '' || path.endsWith('/') ? path : `${path}/`;
  return { bucket, prefix, store: `s3://${bucket}/${prefix}`, ...(imageId === undefined ? {} : { imageId }) };
}
