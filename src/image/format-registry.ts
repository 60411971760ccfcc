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
import type { ImageIndex, Manifest, SegmentEntry } from './index-model.js';
import { formatV1 } from './index-v1.js';
import { formatV2 } from './index-v2.js';
import { formatV3, type ImageIndexV3, type ManifestV3, type SegmentEntryV3 } from './index-v3.js';
import type { ImageIndexV4 } from './index-v4.js';
import { formatV4 } from './index-v4.js';
import { formatV5, type ImageIndexV5 } from './index-v5.js';

/**
 * The newest version's index ↔ the live model, field by field: the model's
 * optional fields (`uuid`, `refs`, `hash`, `ref`, `base`) are left out where
 * the index has nil/empty, so an image of an older format reads into the
 * same model it always did. Exported for tests that stack a version on top.
 * @internal
 */
export const modelOfV3: ModelMapping<ImageIndexV3> = {
  toModel: (index: ImageIndexV3): ImageIndex => ({
    manifest: index.manifest.uuid === null ? withoutUuid(index.manifest) : index.manifest,
    codec: index.codec,
    segments: index.segments.map(segmentToModel),
    providers: index.providers,
    ...(index.refs.length === 0 ? {} : { refs: index.refs }),
  }),
  fromModel: (model: ImageIndex): ImageIndexV3 => ({
    manifest: { ...model.manifest, uuid: model.manifest.uuid ?? null },
    codec: model.codec,
    refs: model.refs ?? [],
    segments: model.segments.map((s) => ({
      offset: s.offset,
      storedLength: s.storedLength,
      rawLength: s.rawLength,
      crc: s.crc,
      codec: s.codec,
      flags: s.flags,
      hash: s.hash ?? null,
      ref: s.ref ?? null,
      base: s.base ?? null,
    })),
    providers: model.providers,
  }),
};

function withoutUuid(m: ManifestV3): Manifest {
  const { uuid: _uuid, ...rest } = m;
  return rest;
}

function segmentToModel(s: SegmentEntryV3): SegmentEntry {
  const { hash, ref, base, ...rest } = s;
  return { ...rest, ...(hash === null ? {} : { hash }), ...(ref === null ? {} : { ref }), ...(base === null ? {} : { base }) };
}

/**
 * A v4 index ↔ the live model: the v4 index has v3's layout, so this is
 * {@link modelOfV3}. Exported for tests that stack a version on top.
 * @internal
 */
export const modelOfV4: ModelMapping<ImageIndexV4> = modelOfV3;

/**
 * The newest version's (v5) index ↔ the live model: v4's layout, so
 * {@link modelOfV3}. Exported for tests that stack a version on top.
 * @internal
 */
export const modelOfV5: ModelMapping<ImageIndexV5> = modelOfV3;

/** Every format version this ckpt reads and writes, oldest first. Frozen. */
export const FORMATS: FormatList = createFormatList([formatV1, formatV2, formatV3, formatV4, formatV5], modelOfV5, { current: FORMAT_VERSION });

/** Every format version this code reads, oldest first. */
export const READABLE_FORMAT_VERSIONS: readonly number[] = FORMATS.readable;

/** Every format version this code can write (the current one, plus older ones for tests and `convert --to`). */
export const WRITABLE_FORMAT_VERSIONS: readonly number[] = FORMATS.writable;
