/**
 * @module cli/inputs
 *
 * Turning command-line paths into images and stores, with one clear message
 * for every kind of bad input: a missing path, a directory where an image
 * file is expected (and the other way round), a directory that is not a
 * store, a URL of a kind ckpt cannot open. Every command opens its store
 * through {@link openStoreForCli}, typed by what it does with it (read or
 * write), so another kind of store (a URL scheme) is one new branch there.
 * Images are opened through a byte-counting source so long reads can drive a
 * progress bar. An `s3://bucket/prefix/` location is a store in a bucket, and
 * `s3://bucket/prefix/000000000042.ckpt` one image of it (the AWS SDK is
 * loaded only then).
 */
import { mkdtemp, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, FsStore, type CkptWarning, type ImageSource, type ReadStore, type Store } from '../index.js';
import { attachHolderSource, openImage, type ImageReader } from '../format/index.js';
import { openImageFileSource } from '../store/fs-image-source.js';
import { siblingImages } from '../store/open-image-file.js';
import { isS3Url, parseS3Url } from '../store/s3-url.js';
import { S3UrlStore } from '../store/s3-url-store.js';
import { CliError, usageError } from './errors.js';
import type { KeySource } from '../crypto/keys.js';
import { ExitCode } from './exit-codes.js';
import type { Output } from './output.js';
import { StoreImageView } from './single-image-store.js';

/** File names of committed images in a store: `<12 digits>.ckpt`. */
export const STORE_IMAGE_RE = /^\d{12}\.ckpt$/;

/** What a path on the command line is. */
export type PathKind = 'file' | 'directory' | 'other';

function errno(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** `scheme://…` (two letters at least, so a Windows drive `C:\\` is a path). */
const URL_RE = /^([a-z][a-z0-9+.-]+):\/\//i;

/**
 * The local path a command-line location names: a plain path as it is, a
 * `file://` URL as its path. Any other URL scheme is a usage error (exit 2)
 * naming what ckpt can open.
 */
export function localPath(pathOrUrl: string, what: string): string {
  const scheme = URL_RE.exec(pathOrUrl)?.[1]?.toLowerCase();
  if (scheme === undefined) return pathOrUrl;
  if (scheme === 'file') {
    try {
      return fileURLToPath(pathOrUrl);
    } catch (err) {
      throw usageError(`${pathOrUrl} is not a valid file:// URL (${err instanceof Error ? err.message : String(err)}); pass a local path`);
    }
  }
  throw usageError(`${pathOrUrl}: ckpt cannot open ${scheme}:// URLs; pass the ${what} as a local path or a file:// URL`);
}

/**
 * The store and image id an `s3://bucket/prefix/000000000042.ckpt` argument
 * names (a usage error when it names a store, not an image).
 */
export function s3Image(url: string, command: string): { readonly store: S3UrlStore; readonly id: string } {
  const loc = parseS3Url(url, 'allow');
  if (loc.imageId === undefined) {
    throw usageError(`${url} is a store, not an image; 'ckpt ${command}' takes one image, e.g. ${loc.store}000000000001.ckpt ('ckpt ls ${loc.store}' lists them)`);
  }
  return { store: new S3UrlStore(loc.store), id: loc.imageId };
}

/** The image an `s3://…/000000000042.ckpt` URL names, as a one-image read-only store (verify, plan). */
export function s3ImageView(url: string): StoreImageView {
  const { store, id } = s3Image(url, 'verify');
  return new StoreImageView(store, id, url);
}

/**
 * Stat `path`; a missing path is a one-line error (exit 4). An `s3://` URL
 * is an image when its last element is named like one, else a store (no
 * request is made: a missing image or bucket is reported when it is read).
 */
export async function pathKind(pathOrUrl: string, what: string): Promise<PathKind> {
  if (isS3Url(pathOrUrl)) return parseS3Url(pathOrUrl, 'allow').imageId === undefined ? 'directory' : 'file';
  const path = localPath(pathOrUrl, what);
  try {
    const st = await stat(path);
    return st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other';
  } catch (err) {
    const code = errno(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new CliError(`${path}: no such file or directory; check the ${what} path`, ExitCode.IO, { code: ErrorCodes.NOT_FOUND, cause: err });
    if (code === 'EACCES' || code === 'EPERM') throw new CliError(`${path}: permission denied; check its permissions`, ExitCode.IO, { code: ErrorCodes.STORE_IO, cause: err });
    throw new CliError(`${path}: cannot read it (${code ?? String(err)})`, ExitCode.IO, { code: ErrorCodes.STORE_IO, cause: err });
  }
}

/** Newest committed image file of a directory, if any (for hints). */
async function newestImageIn(dir: string): Promise<string | undefined> {
  try {
    const names = (await readdir(dir)).filter((n) => STORE_IMAGE_RE.test(n)).sort();
    return names.at(-1);
  } catch {
    return undefined;
  }
}

/**
 * Check that `path` is an image file (not a directory or a device). The
 * image itself is checked when it is opened.
 */
export async function requireImagePath(pathOrUrl: string, command: string): Promise<string> {
  if (isS3Url(pathOrUrl)) {
    s3Image(pathOrUrl, command);
    return pathOrUrl;
  }
  const path = localPath(pathOrUrl, 'image');
  const kind = await pathKind(path, 'image');
  if (kind === 'directory') {
    const newest = await newestImageIn(path);
    const example = newest === undefined ? `${join(path, '000000000001.ckpt')}` : `${join(path, newest)} (the newest image there)`;
    throw usageError(`${path} is a directory; 'ckpt ${command}' takes one image file, e.g. ${example}${command === 'verify' ? '' : "; 'ckpt ls' lists a store's images"}`);
  }
  if (kind !== 'file') throw usageError(`${path} is not a regular file; pass the path of one image (a .ckpt file)`);
  return path;
}

/** What makes a directory a store: committed images, a lock, or leftovers of a writer. */
function looksLikeStore(names: readonly string[]): boolean {
  if (names.length === 0) return true; // an empty store (e.g. all images pruned, or none yet)
  return names.some((n) => STORE_IMAGE_RE.test(n) || n === '.ckpt-lock' || n.startsWith('.ckpt-lock.stale-') || (n.startsWith('.tmp-') && n.endsWith('.partial')));
}

/**
 * A store opened for the CLI: a {@link ReadStore} for the commands that only
 * read (ls, verify), a {@link Store} for those that write (prune).
 */
export interface StoreDir<S extends ReadStore = ReadStore> {
  /** Where the store is, for messages and JSON (a directory: its absolute path). */
  readonly dir: string;
  /** The store (never creates a directory). */
  readonly store: S;
  /** Names of leftovers of interrupted checkpoints (`.tmp-*.partial`). */
  readonly leftovers: readonly string[];
  /**
   * Warnings the store reported so far (e.g. `CKPT_WARN_FOREIGN_ENTRY`: a
   * file named like an image that is not one). Human output has them on
   * stderr as they come; `--json` output lists them in its `warnings`.
   */
  readonly warnings: readonly CkptWarning[];
}

/** How {@link openStoreForCli} opens a store. */
export interface OpenStoreOptions {
  /** The command, for messages (`ls`, `prune`…). */
  readonly command: string;
  /**
   * The command's output: without `--json` each warning of the store is a
   * line on stderr as it comes; with it, warnings are only collected (the
   * command lists them in its JSON document, see {@link warningsJson}).
   */
  readonly out: Output;
}

/** The warnings a {@link StoreDir} shows, plus where they go as they come. */
function warningSink(out: Output): { readonly list: CkptWarning[]; readonly onWarning: (w: CkptWarning) => void } {
  const list: CkptWarning[] = [];
  return {
    list,
    onWarning: (w) => {
      list.push(w);
      if (!out.json) out.warn(`${w.message} (${w.code})`);
    },
  };
}

/** The `warnings` field of a command's JSON document: what the store warned about. */
export function warningsJson(store: StoreDir | undefined): { code: string; message: string }[] {
  return (store?.warnings ?? []).map((w) => ({ code: w.code, message: w.message }));
}

/**
 * Open the store at `pathOrUrl` for a command: `read` gives a
 * {@link ReadStore} (ls, verify), `write` a {@link Store} (prune). A local
 * path or `file://` URL is a store directory (see {@link requireStoreDir});
 * another URL scheme is a usage error (a store of another kind is one more
 * branch here). The store's warnings go to `options.onWarning` and into the
 * result's `warnings`.
 */
export async function openStoreForCli(pathOrUrl: string, access: 'read', options: OpenStoreOptions): Promise<StoreDir>;
export async function openStoreForCli(pathOrUrl: string, access: 'write', options: OpenStoreOptions): Promise<StoreDir<Store>>;
export async function openStoreForCli(pathOrUrl: string, access: 'read' | 'write', options: OpenStoreOptions): Promise<StoreDir | StoreDir<Store>> {
  if (isS3Url(pathOrUrl)) {
    const loc = parseS3Url(pathOrUrl, 'allow');
    if (loc.imageId !== undefined) {
      throw usageError(`${pathOrUrl} is one image; 'ckpt ${options.command}' takes a store, e.g. ${loc.store}${options.command === 'verify' ? '' : ` (for the image: 'ckpt inspect ${pathOrUrl}')`}`);
    }
    // A bucket has no temporary files: an unfinished image is an incomplete multipart upload, never listed.
    const store = new S3UrlStore(loc.store);
    const opened = { dir: loc.store, leftovers: [], warnings: [] };
    const read: ReadStore = store;
    return access === 'write' ? { ...opened, store } : { ...opened, store: read };
  }
  const path = localPath(pathOrUrl, 'store');
  const dir = await requireStoreDir(path, options.command);
  const warnings = warningSink(options.out);
  // FsStore is both contracts; the read-only commands see only the read one.
  const store = new FsStore(dir.dir, { createDir: false, onWarning: warnings.onWarning });
  const opened = { dir: dir.dir, leftovers: dir.leftovers, warnings: warnings.list };
  const read: ReadStore = store;
  return access === 'write' ? { ...opened, store } : { ...opened, store: read };
}

/** A store directory checked by {@link requireStoreDir}. */
export interface CheckedStoreDir {
  /** Absolute path. */
  readonly dir: string;
  /** File names of leftovers of interrupted checkpoints (`.tmp-*.partial`). */
  readonly leftovers: readonly string[];
}

/**
 * Check that `path` is a store directory: it must exist, be a directory, and
 * hold committed images (`NNNNNNNNNNNN.ckpt`) or a writer's lock or
 * leftovers; an empty directory is an empty store.
 */
export async function requireStoreDir(path: string, command: string): Promise<CheckedStoreDir> {
  const kind = await pathKind(path, 'store directory');
  if (kind === 'file') {
    throw usageError(`${path} is a file; 'ckpt ${command}' takes a store directory (the one given to new Checkpointer({ store })); for one image file use 'ckpt inspect ${path}' or 'ckpt verify ${path}'`);
  }
  if (kind !== 'directory') throw usageError(`${path} is not a directory; pass a store directory`);
  const dir = resolve(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new CliError(`${path}: cannot list the directory (${errno(err) ?? String(err)}); check its permissions`, ExitCode.IO, { code: ErrorCodes.STORE_IO, cause: err });
  }
  if (!looksLikeStore(names)) {
    const images = names.filter((n) => /\.(ckpt|image)$/.test(n));
    const hint = images.length > 0 ? `; it has image-like files (${images.slice(0, 3).join(', ')}${images.length > 3 ? ', …' : ''}): look at one with 'ckpt inspect ${join(path, images[0]!)}'` : '; pass the directory given to new Checkpointer({ store })';
    throw new CliError(`${path} is not a ckpt store: it holds no committed images (files named like 000000000001.ckpt)${hint}`, ExitCode.IO, { code: ErrorCodes.NOT_A_STORE });
  }
  const leftovers = names.filter((n) => n.startsWith('.tmp-') && n.endsWith('.partial'));
  return { dir, leftovers };
}

/** Path of image `id` in a store directory (or its URL in an `s3://` store). */
export function storeImagePath(dir: string, id: string): string {
  return isS3Url(dir) ? `${dir}${id}.ckpt` : join(dir, `${id}.ckpt`);
}

/** An {@link ImageSource} that reports every byte read. */
export function countingSource(source: ImageSource, onRead: (bytes: number) => void): ImageSource {
  return {
    id: source.id,
    size: source.size,
    async read(offset, length) {
      const out = await source.read(offset, length);
      onRead(length);
      return out;
    },
    close: () => source.close(),
  };
}

/**
 * Open the image file `path` (header, trailer and index are checked).
 * `onRead` sees every byte read afterwards (progress); `keys` open an
 * encrypted image (without them it fails with `CKPT_ERR_KEY`).
 */
export async function openImagePath(pathOrUrl: string, onRead?: (bytes: number) => void, keys?: KeySource): Promise<ImageReader> {
  const opts = keys === undefined ? {} : { keys };
  if (isS3Url(pathOrUrl)) {
    const { store, id } = s3Image(pathOrUrl, 'inspect');
    const source = await openS3ImageSource(store, id);
    const reader = await openImage(onRead === undefined ? source : countingSource(source, onRead), opts);
    // An incremental image reads what it refers to from the same bucket and prefix.
    attachHolderSource(reader, store, opts);
    return reader;
  }
  const path = localPath(pathOrUrl, 'image');
  const source = await openImageFileSource(path);
  const reader = await openImage(onRead === undefined ? source : countingSource(source, onRead), opts);
  // An incremental image reads what it refers to from the images next to it.
  attachHolderSource(reader, siblingImages(path), opts);
  return reader;
}

/** Open image `id` of `store` (from an `s3://…/000000000042.ckpt` URL); closing it closes the client too. */
async function openS3ImageSource(store: S3UrlStore, id: string): Promise<ImageSource> {
  let source: ImageSource;
  try {
    source = await store.open(id);
  } catch (err) {
    await store.dispose();
    throw err;
  }
  return {
    id: source.id,
    size: source.size,
    read: (offset, length) => source.read(offset, length),
    ...(source.readInto === undefined ? {} : { readInto: source.readInto.bind(source) }),
    async close() {
      await source.close();
      await store.dispose();
    },
  };
}

/** A local copy of an image (for commands that work on files), removed by `remove()`. */
export interface LocalImageCopy {
  readonly path: string;
  remove(): Promise<void>;
}

/**
 * Write all of `bytes` at `position` of `fh`: a write may write fewer bytes
 * than it was given (a short write), so it is repeated for the rest; a
 * write that makes no progress fails.
 *
 * @throws CliError (`CKPT_ERR_STORE_IO`) when the file cannot be written or a write makes no progress
 */
export async function writeFully(fh: Pick<FileHandle, 'write'>, bytes: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    let written: number;
    try {
      ({ bytesWritten: written } = await fh.write(bytes, done, bytes.length - done, position + done));
    } catch (err) {
      throw new CliError(`${path}: cannot write the local copy (${errno(err) ?? String(err)}); free space in ${tmpdir()} or point TMPDIR elsewhere`, ExitCode.IO, {
        code: ErrorCodes.STORE_IO,
        cause: err,
      });
    }
    if (!(written > 0)) {
      throw new CliError(`${path}: writing the local copy made no progress at byte ${position + done}; check the disk holding ${tmpdir()}`, ExitCode.IO, {
        code: ErrorCodes.STORE_IO,
      });
    }
    done += written;
  }
}

/**
 * A local file with the bytes of the image `s3://…/000000000042.ckpt` (in a
 * fresh temporary directory), for commands that work on image files
 * (`convert`). Every chunk is written in full (short writes are completed)
 * and the file's length is checked against the object's before it is used;
 * the copy is then checked when it is read, like any image file.
 */
export async function downloadS3Image(url: string, command: string): Promise<LocalImageCopy> {
  const { store, id } = s3Image(url, command);
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-s3-'));
  const path = join(dir, `${id}.ckpt`);
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const source = await store.open(id);
    try {
      const fh = await open(path, 'wx');
      try {
        const CHUNK = 8 * 1024 * 1024;
        for (let at = 0; at < source.size; at += CHUNK) {
          const want = Math.min(CHUNK, source.size - at);
          const bytes = await source.read(at, want);
          if (bytes.length !== want) {
            throw new CliError(`${url}: reading bytes ${at}+${want} of the image gave ${bytes.length} bytes; the copy is incomplete, retry`, ExitCode.IO, {
              code: ErrorCodes.STORE_IO,
            });
          }
          await writeFully(fh, bytes, at, path);
        }
        const { size } = await fh.stat();
        if (size !== source.size) {
          throw new CliError(`${path}: the local copy of ${url} holds ${size} bytes, the image ${source.size}; the copy is incomplete, retry`, ExitCode.IO, {
            code: ErrorCodes.STORE_IO,
          });
        }
      } finally {
        await fh.close();
      }
    } finally {
      await source.close();
    }
  } catch (err) {
    await remove();
    throw err;
  } finally {
    await store.dispose();
  }
  return { path, remove };
}
