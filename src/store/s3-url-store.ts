/**
 * @module store/s3-url-store
 *
 * The store behind an `s3://bucket/prefix/` string: an `S3Store` (from
 * `ckpt/s3`) that is loaded on first use, so the root package never loads the
 * AWS SDK unless an `s3://` store is used — and says which packages to
 * install when they are missing. The client is the SDK's default one,
 * configured from the usual environment and files (`AWS_REGION`,
 * `AWS_PROFILE`, `AWS_ACCESS_KEY_ID`…, `AWS_ENDPOINT_URL` for S3-compatible
 * servers), with path-style addressing when an endpoint is set that way
 * (MinIO, Ceph and most compatible servers need it; `CKPT_S3_FORCE_PATH_STYLE`
 * = `1`/`0` decides explicitly).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Store } from '../s3/index.js';
import { CkptError, ErrorCodes } from '../errors.js';
import { parseS3Url, type S3Location } from './s3-url.js';
import type { AcquireOptions, ImageSink, ImageSource, Store, StoreEntry, WriterLock } from './store.js';

/** The SDK packages an `s3://` store needs. */
export const S3_PACKAGES = ['@aws-sdk/client-s3'] as const;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isMissingPackage(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /@aws-sdk\//.test(errorText(err));
}

function missingSdk(location: string, err: unknown): CkptError {
  const named = /(@aws-sdk\/[a-z0-9-]+)/.exec(errorText(err))?.[1] ?? S3_PACKAGES[0];
  return new CkptError(
    ErrorCodes.INVALID_ARGUMENT,
    `The store ${location} needs the AWS SDK, which is not installed (cannot load ${named})`,
    { cause: err, hint: `install it next to ckpt: npm install ${S3_PACKAGES.join(' ')}` },
  );
}

/**
 * The client options an `s3://` store adds to the SDK's defaults, from the
 * environment: `forcePathStyle` when `CKPT_S3_FORCE_PATH_STYLE` says so, or
 * by default when `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` names a custom
 * endpoint.
 */
export function s3ClientConfigFromEnv(env: NodeJS.ProcessEnv = process.env): { forcePathStyle?: boolean } {
  const explicit = env['CKPT_S3_FORCE_PATH_STYLE'];
  if (explicit !== undefined && explicit !== '') {
    if (/^(1|true|yes)$/i.test(explicit)) return { forcePathStyle: true };
    if (/^(0|false|no)$/i.test(explicit)) return { forcePathStyle: false };
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `CKPT_S3_FORCE_PATH_STYLE must be 1 or 0; got ${JSON.stringify(explicit)}.`);
  }
  const endpoint = env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL'];
  return endpoint !== undefined && endpoint !== '' ? { forcePathStyle: true } : {};
}

async function loadStore(where: S3Location): Promise<{ store: Store; client: S3Client }> {
  let sdk: { readonly S3Client: typeof S3Client };
  let mod: { readonly S3Store: typeof S3Store };
  try {
    // Loaded here, never at startup: the AWS SDK is an optional peer dependency.
    sdk = await import('@aws-sdk/client-s3');
    mod = await import('../s3/index.js');
  } catch (err) {
    if (isMissingPackage(err)) throw missingSdk(where.store, err);
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `The store ${where.store} cannot be opened: loading ckpt/s3 failed (${errorText(err)}).`, { cause: err });
  }
  const client = new sdk.S3Client(s3ClientConfigFromEnv());
  try {
    await client.config.region();
  } catch (err) {
    client.destroy();
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `The store ${where.store} needs an AWS region, and none is configured`, {
      cause: err,
      hint: 'set AWS_REGION (or region in ~/.aws/config for AWS_PROFILE); S3-compatible servers accept any, e.g. AWS_REGION=us-east-1',
    });
  }
  try {
    return { store: new mod.S3Store({ bucket: where.bucket, prefix: where.prefix, client }), client };
  } catch (err) {
    client.destroy();
    throw err;
  }
}

/**
 * A {@link Store} for an `s3://bucket/prefix/` string: every call is passed to
 * an `S3Store` loaded (with its SDK client) at the first call. Internal: users
 * who need S3Store's options construct it themselves from `ckpt/s3`.
 */
export class S3UrlStore implements Store {
  /** `s3://<bucket>/<prefix>`. */
  readonly description: string;
  /** The parsed location. */
  readonly location: S3Location;
  #loaded: Promise<{ store: Store; client: S3Client }> | undefined;

  /**
   * @param url - `s3://bucket/prefix/`
   * @throws CkptError `CKPT_ERR_INVALID_ARGUMENT` for a malformed URL (nothing is loaded yet)
   */
  constructor(url: string) {
    this.location = parseS3Url(url);
    this.description = this.location.store;
  }

  #store(): Promise<Store> {
    this.#loaded ??= loadStore(this.location);
    return this.#loaded.then((l) => l.store);
  }

  async list(): Promise<StoreEntry[]> {
    return (await this.#store()).list();
  }

  async open(id: string): Promise<ImageSource> {
    return (await this.#store()).open(id);
  }

  async acquireWriter(options?: AcquireOptions): Promise<WriterLock> {
    return (await this.#store()).acquireWriter(options);
  }

  async create(lock: WriterLock): Promise<ImageSink> {
    return (await this.#store()).create(lock);
  }

  async delete(lock: WriterLock, id: string): Promise<void> {
    return (await this.#store()).delete(lock, id);
  }

  async cleanup(lock: WriterLock): Promise<string[]> {
    return (await this.#store()).cleanup(lock);
  }

  /** Close the SDK client's connections (if it was loaded), so a short-lived process can exit at once. */
  async dispose(): Promise<void> {
    const loaded = this.#loaded;
    this.#loaded = undefined;
    if (loaded === undefined) return;
    try {
      (await loaded).client.destroy();
    } catch {
      // it never loaded: nothing to close
    }
  }
}
