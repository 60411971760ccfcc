/**
 * @module store/fs-image-source
 *
 * Reading one image file: {@link FsImageSource}, the {@link ImageSource} of
 * `FsStore.open()`, and {@link openImageFileSource}, which opens any image
 * file by path (a store's, or a copy from another machine). Reads go through
 * an injectable {@link FsOps}; the open file is checked with `fstat`, so an
 * image pruned between open and stat is still read whole.
 */

import { constants as bufferConstants } from 'node:buffer';
import { basename, resolve } from 'node:path';
import { CkptError, ErrorCodes } from '../errors.js';
import { readRangeError } from './read-range.js';
import type { ImageSource } from './store.js';
import { errnoCode, nodeFsOps, statOpenFile, storeIoError } from './fs-ops.js';
import type { FsFile, FsOps } from './fs-ops.js';

/**
 * Open any image file by path (outside a store directory too, e.g. a copy
 * from another machine) as an {@link ImageSource}; its id is the file name.
 * Missing file → `CKPT_ERR_NOT_FOUND`; a directory → `CKPT_ERR_INVALID_ARGUMENT`.
 */
export async function openImageFileSource(path: string, fs: FsOps = nodeFsOps): Promise<ImageSource> {
  if (typeof path !== 'string' || path === '') {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `an image path must be a non-empty string; got ${JSON.stringify(path)}`);
  }
  const full = resolve(path);
  let file: FsFile;
  try {
    file = await fs.open(full, 'r');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new CkptError(ErrorCodes.NOT_FOUND, `no image file at ${full}; check the path`, { cause: err });
    }
    throw storeIoError('opening image file', full, err);
  }
  try {
    // fstat of the open file: the path may be gone already (pruned by a writer
    // in another process), but what we opened is still readable.
    const st = await statOpenFile(fs, file);
    if (!st.isFile) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `${full} is not a file; pass the path of one image (a .ckpt file)`);
    return new FsImageSource(basename(full), st.size, file, fs);
  } catch (err) {
    await fs.close(file).catch(() => undefined);
    if (err instanceof CkptError) throw err;
    if (errnoCode(err) === 'ENOENT') throw new CkptError(ErrorCodes.NOT_FOUND, `no image file at ${full} (it was removed while being opened)`, { cause: err });
    throw storeIoError('opening image file: stat', full, err);
  }
}

/** Random-access reader over one committed image file. */
export class FsImageSource implements ImageSource {
  #closed = false;

  /**
   * @param id - the image id
   * @param size - its size in bytes (fixed when opened)
   * @param file - the open file (owned from now on: {@link FsImageSource.close} closes it)
   * @param fs - the layer that opened `file`
   */
  constructor(
    readonly id: string,
    readonly size: number,
    private readonly file: FsFile,
    private readonly fs: FsOps,
  ) {}

  /** Read exactly `length` bytes at `offset` (see {@link ImageSource.read}). */
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.#checkRead(offset, length);
    // An unpooled buffer of exactly `length` bytes, seen as a plain Uint8Array:
    // callers may build typed arrays over `.buffer` without surprises, and
    // `.slice()` copies as it does on any Uint8Array (Buffer's would not).
    const out = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
    await this.#fill(offset, out);
    return out;
  }

  /** Read exactly `into.length` bytes at `offset` into `into` (see {@link ImageSource.readInto}). */
  async readInto(offset: number, into: Uint8Array): Promise<void> {
    if (!(into instanceof Uint8Array)) {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `ImageSource.readInto() takes a Uint8Array to read into.`, { image: this.id });
    }
    this.#checkRead(offset, into.length);
    await this.#fill(offset, into);
  }

  #checkRead(offset: number, length: number): void {
    const err = readRangeError(this.id, this.size, this.#closed, offset, length);
    if (err !== undefined) throw err;
    if (length > bufferConstants.MAX_LENGTH) {
      throw new CkptError(
        ErrorCodes.LIMIT,
        `Cannot read ${length} bytes of image ${this.id} at once: the largest buffer Node can allocate is ` +
          `${bufferConstants.MAX_LENGTH} bytes. Read it in smaller parts.`,
        { image: this.id },
      );
    }
  }

  /** Read `out.length` bytes at `offset` into `out` (checked by {@link #checkRead}). */
  async #fill(offset: number, out: Uint8Array): Promise<void> {
    const length = out.length;
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = await this.fs.read(this.file, out, done, length - done, offset + done);
      } catch (err) {
        throw storeIoError(`reading image ${this.id}`, this.file.path, err, this.id);
      }
      if (n <= 0) {
        throw new CkptError(
          ErrorCodes.CORRUPT,
          `Image ${this.id} is truncated: its file ${this.file.path} ended at byte ${offset + done}, ` +
            `before the ${this.size} bytes it had when opened.`,
          { image: this.id, where: `byte ${offset + done}` },
        );
      }
      done += n;
    }
  }

  /** Close the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.fs.close(this.file);
    } catch (err) {
      throw storeIoError(`closing image ${this.id}`, this.file.path, err, this.id);
    }
  }
}
