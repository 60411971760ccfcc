/**
 * @module convert/index-chain
 *
 * The one place where image format versions meet. Each format version has
 * its own index layout module (`image/index-v1`, `image/index-v2`); reading
 * decodes an index in the layout of the image's version and then runs the
 * ordered chain of converters (one module per step, N → N+1) up to the
 * current model. Writing encodes the model in the requested version's
 * layout. Stores never see any of this: conversion sits above storage.
 *
 * Adding format version N+1: a layout module `image/index-vN+1`, a converter
 * `convert/vN-to-vN+1`, one entry in each table below, the golden images of
 * version N+1 under `test/fixtures/images/vN+1/`.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import { FORMAT_VERSION } from '../image/constants.js';
import type { IndexLimits } from '../image/index-common.js';
import type { ImageIndex } from '../image/index-model.js';
import { decodeIndexV1, encodeIndexV1 } from '../image/index-v1.js';
import { decodeIndexV2, encodeIndexV2 } from '../image/index-v2.js';
import { downgradeV2ToV1, upgradeV1ToV2 } from './v1-to-v2.js';

/** Every format version this code reads, oldest first. */
export const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];

/** Every format version this code can write (the current one, plus older ones for tests and `convert --to`). */
export const WRITABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];

/** Read an index written in format `version` and convert it to the current model. */
export function decodeIndexOfVersion(version: number, bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image = 'image'): ImageIndex {
  switch (version) {
    case 1:
      return upgradeV1ToV2(decodeIndexV1(bytes, indexOffset, limits, image));
    case 2:
      return decodeIndexV2(bytes, indexOffset, limits, image);
    default:
      throw new CkptError(ErrorCodes.FORMAT_NEWER, `${image} has image format version ${version}; this ckpt reads versions ${READABLE_FORMAT_VERSIONS.join(', ')}; upgrade ckpt to read it`, { image });
  }
}

/** Encode the model in the layout of format `version` (default: the current one). */
export function encodeIndexOfVersion(index: ImageIndex, version: number = FORMAT_VERSION): Buffer {
  switch (version) {
    case 1:
      return encodeIndexV1(downgradeV2ToV1(index));
    case 2:
      return encodeIndexV2(index);
    default:
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `cannot write image format version ${version}; this ckpt writes versions ${WRITABLE_FORMAT_VERSIONS.join(', ')}`);
  }
}
