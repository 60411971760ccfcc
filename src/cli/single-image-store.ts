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
import type { HolderSource } from '../image/open-store.js';

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

/**
 * A read-only view of one image of another store (an image named by an
 * `s3://…/000000000042.ckpt` URL), so it is verified and planned like a loose
 * image file.
 */
export class StoreImageView implements ReadStore {
  /** The image's location (its URL). */
  readonly description: string;
  /** The one image's id. */
  readonly id: string;
  readonly #store: ReadStore;

  /**
   * @param store - the store holding the image
   * @param id - the image
   * @param description - where it is, for messages
   */
  constructor(store: ReadStore, id: string, description: string) {
    this.#store = store;
    this.id = id;
    this.description = description;
  }

  /** Where an incremental image's holders are read from: the same store. */
  holderSource(): HolderSource {
    return { open: (id: string) => this.#store.open(id) };
  }

  /** The one image (`CKPT_ERR_NOT_FOUND` when the store does not hold it). */
  async list(): Promise<StoreEntry[]> {
    const entry = (await this.#store.list()).find((e) => e.id === this.id);
    if (entry === undefined) throw new CkptError(ErrorCodes.NOT_FOUND, `${this.description}: no such image in ${this.#store.description}`);
    return [entry];
  }

  /** Open the image (any other id: `CKPT_ERR_NOT_FOUND`). */
  async open(id: string): Promise<ImageSource> {
    if (id !== this.id) throw new CkptError(ErrorCodes.NOT_FOUND, `${this.description} is only image ${this.id}, not ${id}`);
    return this.#store.open(id);
  }
}
