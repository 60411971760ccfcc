/**
 * @module lifecycle/incremental-chain
 *
 * Which image the next incremental image of a Checkpointer is written
 * against (its parent), and when it is full:
 *
 * - the parent is the last image this Checkpointer committed, or else the
 *   image it restored from the same store; with neither, the image is full
 *   (references only ever point into images of this lineage);
 * - every `fullEvery`-th image is full (counted from the last full image;
 *   after a restore, by following the restored image's parents);
 * - a parent that is no longer listed, cannot be read, has no uuid (an image
 *   of an older format), refers to an image no longer listed, or is
 *   encrypted while this image is not (or the other way round) gives a full
 *   image — never an image that could not be restored.
 *
 * It also keeps, for `delta: 'xor'`, the raw bytes of the last image
 * written ({@link XorBases}), valid only for the image they equal: a failed
 * write invalidates them and the next image writes changed segments in full.
 */
import { ImageReader, type ReadOptions } from '../image/reader.js';
import { SegmentFlag } from '../image/index-model.js';
import { IncrementalPlan, XorBases, type ParentImage } from '../image/incremental-plan.js';
import type { ImageIndex } from '../image/index-model.js';
import type { ReadStore } from '../store/store.js';
import type { IncrementalSettings } from '../options.js';

/** The last image of the chain, as this process knows it. */
interface Link {
  readonly parent: ParentImage;
  /** Images since the last full one (0: it is full). */
  readonly position: number;
}

/** Read an image's index through the store (the caller handles failures). */
async function readIndex(store: ReadStore, id: string, limits: ReadOptions): Promise<ImageIndex> {
  const source = await store.open(id);
  try {
    const reader = await ImageReader.open(source, limits);
    return reader.index;
  } finally {
    await source.close().catch(() => undefined);
  }
}

/** The chain of incremental images of one Checkpointer (see the module comment). */
export class IncrementalChain {
  readonly settings: IncrementalSettings;
  /** XOR bases (`delta: 'xor'` only). */
  readonly bases: XorBases | undefined;
  #last: Link | undefined;
  /** An image restored from the store, to be the next parent (its index is read when needed). */
  #restored: string | undefined;

  /** @param settings - the validated `incremental` option */
  constructor(settings: IncrementalSettings) {
    this.settings = settings;
    this.bases = settings.delta === 'xor' ? new XorBases() : undefined;
  }

  /**
   * The plan of the next image: against the parent (see the module
   * comment), or full. Reads the store's listing (and, after a restore,
   * the restored image's index and its parents' indexes); never throws —
   * anything unreadable gives a full image.
   */
  async next(store: ReadStore, limits: ReadOptions): Promise<IncrementalPlan> {
    const xor = this.settings.delta === 'xor';
    const link = await this.#parentLink(store, limits).catch(() => undefined);
    if (link === undefined || link.position + 1 >= this.settings.fullEvery) return new IncrementalPlan(undefined, xor);
    // An encrypted image refers only to encrypted ones, a plaintext one only to plaintext ones (encryption turned on or off).
    const encrypted = limits.keys !== undefined;
    if (link.parent.index.segments.some((s) => ((s.flags & SegmentFlag.ENCRYPTED) !== 0) !== encrypted)) return new IncrementalPlan(undefined, xor);
    try {
      const listed = new Set((await store.list()).map((e) => e.id));
      const p = link.parent;
      if (!listed.has(p.ref.imageId)) return new IncrementalPlan(undefined, xor);
      for (const r of p.index.refs ?? []) if (!listed.has(r.imageId)) return new IncrementalPlan(undefined, xor);
    } catch {
      return new IncrementalPlan(undefined, xor);
    }
    return new IncrementalPlan(link.parent, xor);
  }

  async #parentLink(store: ReadStore, limits: ReadOptions): Promise<Link | undefined> {
    if (this.#last !== undefined) return this.#last;
    const id = this.#restored;
    if (id === undefined) return undefined;
    const index = await readIndex(store, id, limits);
    const uuid = index.manifest.uuid;
    if (uuid === undefined || uuid === null) return undefined;
    // How far the restored image is from the last full one: follow its parents (a bounded walk).
    let position = 0;
    let at = index;
    while ((at.refs?.length ?? 0) > 0 && position < this.settings.fullEvery) {
      const up = at.manifest.parent;
      if (up === null) break;
      position++;
      at = await readIndex(store, up, limits);
    }
    const link: Link = { parent: { ref: { imageId: id, uuid }, index }, position };
    this.#last = link;
    return link;
  }

  /** The image written with `plan` was committed as `index`: it is the next parent. */
  committed(plan: IncrementalPlan, index: ImageIndex): void {
    const uuid = index.manifest.uuid;
    if (uuid === undefined || uuid === null) return;
    const full = plan.parent === undefined;
    const position = full ? 0 : (this.#last?.position ?? 0) + 1;
    this.#last = { parent: { ref: { imageId: index.manifest.imageId, uuid }, index, depths: [...plan.depths] }, position };
    this.#restored = undefined;
    if (this.bases !== undefined) this.bases.imageId = index.manifest.imageId;
  }

  /** A checkpoint failed after its write started: the XOR bases may hold bytes no image has. */
  failed(): void {
    this.bases?.invalidate();
  }

  /** An image was restored: it becomes the next parent (this process's own chain is forgotten). */
  restoredFrom(imageId: string): void {
    this.#last = undefined;
    this.#restored = imageId;
    this.bases?.invalidate();
  }

  /** Drop kept memory (close()). */
  clear(): void {
    this.bases?.clear();
    this.#last = undefined;
  }
}
