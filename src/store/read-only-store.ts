/**
 * @module store/read-only-store
 *
 * {@link readOnlyStore}: a {@link ReadStore} seen as a {@link Store} whose
 * write side always refuses, for code that takes a whole `Store` but will
 * only read through it (a Checkpointer that only plans, as the CLI's
 * `verify --app` does).
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { ImageSink, ImageSource, ReadStore, Store, StoreEntry, WriterLock } from './store.js';

/**
 * `store` with a write side that rejects every call with
 * `CKPT_ERR_INVALID_ARGUMENT` (nothing is ever written). Listing and opening
 * go to `store`.
 */
export function readOnlyStore(store: ReadStore): Store {
  const refuse = (what: string): Promise<never> =>
    Promise.reject(
      new CkptError(
        ErrorCodes.INVALID_ARGUMENT,
        `${store.description} is read-only: ${what}() is not possible. Open a writable store to write or prune images.`,
      ),
    );
  return {
    description: store.description,
    list: (): Promise<StoreEntry[]> => store.list(),
    open: (id: string): Promise<ImageSource> => store.open(id),
    acquireWriter: (): Promise<WriterLock> => refuse('acquireWriter'),
    create: (): Promise<ImageSink> => refuse('create'),
    delete: (): Promise<void> => refuse('delete'),
    cleanup: (): Promise<string[]> => refuse('cleanup'),
  };
}
