/**
 * @module image/index-v5
 *
 * Image format version 5: encrypted incremental images. Its index layout and
 * types (frozen once released) and the step from version 4. The index is
 * v4's (so v3's), field for field; what v5 adds is that an encrypted image
 * may refer to other images: its index may list holders (`refs`), and its
 * encrypted rows may be stored by reference (flags `ENCRYPTED |
 * BY_REFERENCE`, the holder's row repeated) or be XOR deltas (codec 2,
 * sealed like any segment). A referenced segment stays sealed under its
 * holder's data key, bound to the holder's uuid and segment index: reading
 * it opens the holder with the keyring (docs/FORMAT.md, "Format 5").
 *
 * Upgrading a v4 index changes nothing. Downgrading is refused for an
 * encrypted index that refers to other images (materializing it needs the
 * key; not built); any other is v4 as it is (a plaintext one with
 * references goes on down to format 3, which holds them).
 */
import { CkptError, ErrorCodes } from '../errors.js';
import { SegmentCodec } from './constants.js';
import { defineFormatVersion } from './format-version.js';
import type { IndexLimits } from './index-common.js';
import { decodeEncryptedIndex, encodeIndexV4, type ImageIndexV4 } from './index-v4.js';

/** Segment flag bit 0: encrypted. */
const ENCRYPTED = 1 << 0;

/** A v5 index (as v4). */
export type ImageIndexV5 = ImageIndexV4;

/** Serialize a v5 index (the v4 layout). */
export function encodeIndexV5(index: ImageIndexV5): Buffer {
  return encodeIndexV4(index);
}

/** Decode and validate a v5 index (`indexOffset`: where the segments end — the crypto block of an encrypted image, else the index). */
export function decodeIndexV5(bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image = 'image'): ImageIndexV5 {
  return decodeEncryptedIndex(bytes, indexOffset, limits, image, true);
}

/** Upgrade a v4 index to v5: nothing changes. */
function upgradeFromV4(index: ImageIndexV4): ImageIndexV5 {
  return index;
}

/** Express a v5 index in v4: the same, unless it is encrypted and refers to other images (refused: format 4 cannot hold that). */
function downgradeToV4(index: ImageIndexV5): ImageIndexV4 {
  const encrypted = index.segments.some((s) => (s.flags & ENCRYPTED) !== 0);
  if (encrypted && (index.refs.length > 0 || index.segments.some((s) => s.codec === SegmentCodec.XOR_ZSTD))) {
    throw new CkptError(
      ErrorCodes.INVALID_ARGUMENT,
      'this encrypted image refers to other images (segments by reference or XOR deltas), which format 4 cannot hold; an encrypted incremental image stays in format 5 (materializing it needs its key: not supported)',
    );
  }
  return index;
}

/** Format version 5 as an entry of the format list. */
export const formatV5 = defineFormatVersion<ImageIndexV5, ImageIndexV4>({
  version: 5,
  decode: decodeIndexV5,
  encode: encodeIndexV5,
  previous: {
    upgrade: upgradeFromV4,
    downgrade: { supported: true, map: downgradeToV4 },
    upgradeChanges: ['index: an encrypted image may refer to other images (refs, encrypted rows by reference or as XOR deltas); bytes are copied unchanged'],
    downgradeChanges: ['index: must not refer to other images (an encrypted incremental image cannot be converted down)'],
  },
});
