/**
 * @module cli/inputs
 *
 * Turning command-line paths into images and stores, with one clear message
 * for every kind of bad input: a missing path, a directory where an image
 * file is expected (and the other way round), a directory that is not a
 * store. Images are opened through a byte-counting source so long reads can
 * drive a progress bar.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ErrorCodes, FsStore, type ImageSource } from '../index.js';
import { openImage, type ImageReader } from '../format/index.js';
import { openImageFileSource } from '../store/fs-store.js';
import { CliError, usageError } from './errors.js';
import { ExitCode } from './exit-codes.js';

/** File names of committed images in a store: `<12 digits>.ckpt`. */
export const STORE_IMAGE_RE = /^\d{12}\.ckpt$/;

/** What a path on the command line is. */
export type PathKind = 'file' | 'directory' | 'other';

function errno(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** Stat `path`; a missing path is a one-line error (exit 4). */
export async function pathKind(path: string, what: string): Promise<PathKind> {
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
export async function requireImagePath(path: string, command: string): Promise<string> {
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

/** A store directory opened for the CLI. */
export interface StoreDir {
  /** Absolute path. */
  readonly dir: string;
  /** The store (never creates the directory). */
  readonly store: FsStore;
  /** File names of leftovers of interrupted checkpoints (`.tmp-*.partial`). */
  readonly leftovers: readonly string[];
}

/**
 * Open `path` as a store directory: it must exist, be a directory, and hold
 * committed images (`NNNNNNNNNNNN.ckpt`) or a writer's lock or leftovers; an
 * empty directory is an empty store.
 */
export async function requireStoreDir(path: string, command: string): Promise<StoreDir> {
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
  return { dir, store: new FsStore(dir, { createDir: false }), leftovers };
}

/** Path of image `id` in a store directory. */
export function storeImagePath(dir: string, id: string): string {
  return join(dir, `${id}.ckpt`);
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
 * `onRead` sees every byte read afterwards (progress).
 */
export async function openImagePath(path: string, onRead?: (bytes: number) => void): Promise<ImageReader> {
  const source = await openImageFileSource(path);
  return openImage(onRead === undefined ? source : countingSource(source, onRead));
}
