/**
 * @module image/format-registry
 *
 * This ckpt's format versions: the one list the reader, the writer and
 * `convert` use. Adding format version N+1 is one new module
 * (`index-vN+1.ts`, declaring its layout and its step from N), one entry
 * below (with the mapping of the new newest version to the live model) and
 * its golden images; `docs/compatibility.md` walks through it.
 */
import { FORMAT_VERSION } from './constants.js';
import { createFormatList, type FormatList, type ModelMapping } from './format-list.js';
import type { ImageIndex } from './index-model.js';
import { formatV1 } from './index-v1.js';
import { formatV2, type ImageIndexV2 } from './index-v2.js';

/**
 * The newest version's index ↔ the live model. The two types are declared
 * apart but are structurally equal today, so the mapping is the identity;
 * the day either changes, this stops compiling and is written out field by field.
 */
const modelOfV2: ModelMapping<ImageIndexV2> = {
  toModel: (index: ImageIndexV2): ImageIndex => index,
  fromModel: (model: ImageIndex): ImageIndexV2 => model,
};

/** Every format version this ckpt reads and writes, oldest first. Frozen. */
export const FORMATS: FormatList = createFormatList([formatV1, formatV2], modelOfV2, { current: FORMAT_VERSION });

/** Every format version this code reads, oldest first. */
export const READABLE_FORMAT_VERSIONS: readonly number[] = FORMATS.readable;

/** Every format version this code can write (the current one, plus older ones for tests and `convert --to`). */
export const WRITABLE_FORMAT_VERSIONS: readonly number[] = FORMATS.writable;
