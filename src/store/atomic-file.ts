/**
 * @module store/atomic-file
 *
 * Writing one file durably and atomically outside a store (used by image
 * conversion): temp file beside the target → write → fsync → rename → fsync
 * the directory. The target appears complete or not at all; on any failure
 * the temp file is removed.
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { CkptError, ErrorCodes } from '../errors.js';
import { errnoCode, nodeFsOps, storeIoError, type FsFile, type FsOps } from './fs-ops.js';

/** A sequential writer whose result becomes visible only on commit. */
export interface AtomicFile {
  /** Append bytes. */
  write(chunk: Uint8Array): Promise<void>;
  /** fsync, rename over nothing (fails if the target appeared meanwhile), fsync the directory. */
  commit(): Promise<void>;
  /** Remove the temp file. Idempotent. */
  abort(): Promise<void>;
}

/**
 * Start writing `target` atomically. Fails with `CKPT_ERR_INVALID_ARGUMENT`
 * if the target already exists (this helper never overwrites).
 */
export async function createAtomicFile(target: string, fs: FsOps = nodeFsOps): Promise<AtomicFile> {
  const path = resolve(target);
  const exists = await fs.stat(path).then(
    () => true,
    (err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return false;
      throw storeIoError('checking the output path', path, err);
    },
  );
  if (exists) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `${path} already exists; choose another output path (the original is never overwritten)`);
  const temp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let file: FsFile;
  try {
    file = await fs.open(temp, 'wx');
  } catch (err) {
    throw storeIoError('creating a temporary file', temp, err);
  }
  let position = 0;
  let open = true;
  const abort = async (): Promise<void> => {
    if (open) {
      open = false;
      await fs.close(file).catch(() => undefined);
    }
    await fs.unlink(temp).catch(() => undefined);
  };
  return {
    async write(chunk) {
      let done = 0;
      try {
        while (done < chunk.length) {
          const n = await fs.write(file, chunk, done, chunk.length - done, position + done);
          if (n <= 0) throw new Error('write made no progress');
          done += n;
        }
      } catch (err) {
        await abort();
        throw storeIoError('writing', temp, err);
      }
      position += chunk.length;
    },
    async commit() {
      try {
        await fs.fsync(file);
        open = false;
        await fs.close(file);
        const raced = await fs.stat(path).then(
          () => true,
          () => false,
        );
        if (raced) throw new Error(`${path} appeared while it was being written`);
        await fs.rename(temp, path);
        await fs.fsyncDir(dirname(path));
      } catch (err) {
        await abort();
        throw storeIoError('committing', path, err);
      }
    },
    abort,
  };
}
