/**
 * @module ckpt/format
 *
 * Reading image files without a Checkpointer, for tools: open an image,
 * list its providers, decode one provider's state, verify every checksum,
 * and convert an image between format versions. The types here describe an
 * image's header, index and segments as docs/FORMAT.md lays them out.
 * Applications that only checkpoint and restore need none of this: they
 * import from `ckpt`.
 */
export { ImageReader, placeholderClassLookup } from '../image/reader.js';
export type {
  ProviderSummary,
  RawProviderData,
  ReadLimits,
  ReadOptions,
  ReadProviderOptions,
  VerifyOptions,
  VerifyProblem,
  VerifyReport,
} from '../image/reader.js';
export { openImage } from '../image/open.js';
export { KeySource, keySource } from '../crypto/keys.js';
export type { KdfRecord, KekKind, WrappedKey } from '../crypto/keys.js';
export type { CryptoBlock, PublicManifest } from '../crypto/block.js';
export { openImageFile } from '../store/open-image-file.js';
export { attachHolderSource, openStoreImage } from '../image/open-store.js';
export type { HolderSource } from '../image/open-store.js';
export type { ImageHeader } from '../image/header.js';
export type { BlobEntry, CodecSettings, ImageIndex, ImageRef, Manifest, MetaValue, ProviderEntry, SegmentBase, SegmentEntry, SegmentRef, SegmentRun } from '../image/index-model.js';
export type { SegmentCodecId } from '../image/constants.js';
export type { BinaryKindCode, ClassLookup } from '../codec/types.js';
export { FORMAT_VERSION, MAX_XOR_CHAIN } from '../image/constants.js';
export { convertImageFile } from '../convert/convert-image.js';
export type { ConvertOptions, ConvertReport } from '../convert/convert-image.js';
export { READABLE_FORMAT_VERSIONS, WRITABLE_FORMAT_VERSIONS } from '../image/format-registry.js';
