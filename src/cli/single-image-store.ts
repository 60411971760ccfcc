/**
 * @module cli/single-image-store
 *
 * A read-only store ({@link ReadStore}) holding one image file, so a loose
 * image (copied from a server) can be planned against the app's providers
 * with `Checkpointer.plan()` like an image in a store directory.
 */
import { basename, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { CkptError, ErrorCodes, type ImageSource, type ReadStore, type StoreEntry } from '../index.js';
import { openImageFileSource } from '../store/fs-image-source.js';

/** A read-only store of exactly one image file; its id is the file name. */
export class SingleImageStore implements ReadStore {
  /** `file:<absolute path>`. */
  readonly description: string;
  /** The one image's id (its file name). */
  readonly id: string;
  readonly #path: string;

  /** @param path - the image file */
  constructor(path: string) {
    this.#path = resolve(path);
    this.id = basename(this.#path);
    this.description = `file:${this.#path}`;
  }

  /** The one image. */
  async list(): Promise<StoreEntry[]> {
    const st = await stat(this.#path);
    return [{ id: this.id, size: st.size }];
  }

  /** Open the image (any other id: `CKPT_ERR_NOT_FOUND`). */
  async open(id: string): Promise<ImageSource> {
    if (id !== this.id) throw new CkptError(ErrorCodes.NOT_FOUND, `${this.description} holds only image ${this.id}, not ${id}`);
    return openImageFileSource(this.#path);
  }
}
