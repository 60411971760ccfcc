/**
 * @module image/index-v2
 *
 * Image format version 2: its index layout and types (frozen once released)
 * and the step from version 1. Compared with v1 it adds to the manifest `hostname`, `parent` (reserved for
 * incremental images) and `meta` (user metadata), and to every segment a
 * `flags` field (bit 0 encrypted, bit 1 stored by reference — both reserved:
 * a set bit requires the matching required flag in the header, which this
 * version does not implement, so such images are refused at the header).
 *
 * ```
 * { manifest: { imageId, app, createdAt, step, label, library, node, platform, hostname, parent, meta },
 *   codec: { values, level, segmentSize, blobThreshold },
 *   segments: [[offset, storedLength, rawLength, crc32, codec, flags], …],
 *   providers: [ …same as v1… ] }
 * ```
 *
 * Upgrading a v1 index gives `hostname: null`, `parent: null`, `meta: {}` and
 * `flags: 0` on every segment (segment bytes are the same in both versions).
 * Downgrading refuses anything v1 cannot express (meta, parent, flags); the
 * host name, which is informational, is dropped.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import { defineFormatVersion } from './format-version.js';
import {
  IndexChecker,
  checkCodec,
  checkProviders,
  checkSegments,
  codecToWire,
  packIndex,
  providersToWire,
  unpackIndex,
  type CodecSettings,
  type IndexLimits,
  type ProviderEntry,
  type SegmentBase,
} from './index-common.js';
import type { ImageIndexV1 } from './index-v1.js';

/** A value allowed in v2 `meta`. */
export type MetaValueV2 = string | number | boolean | null;

/** The v2 manifest. */
export interface ManifestV2 {
  readonly imageId: string;
  readonly app: string | null;
  readonly createdAt: string;
  readonly step: number | null;
  readonly label: string | null;
  readonly library: string;
  readonly node: string;
  readonly platform: string;
  readonly hostname: string | null;
  readonly parent: string | null;
  readonly meta: Readonly<Record<string, MetaValueV2>>;
}

/** A v2 segment entry: the v1 fields plus `flags`. */
export interface SegmentEntryV2 extends SegmentBase {
  readonly flags: number;
}

/** A v2 index. */
export interface ImageIndexV2 {
  readonly manifest: ManifestV2;
  readonly codec: CodecSettings;
  readonly segments: readonly SegmentEntryV2[];
  readonly providers: readonly ProviderEntry[];
}

/** Most keys accepted in `meta`. */
export const MAX_META_KEYS = 64;
/** Longest string accepted in `meta` (keys and values). */
export const MAX_META_STRING = 1024;

/** Serialize a v2 index. Field order is fixed so equal inputs give equal bytes. */
export function encodeIndexV2(index: ImageIndexV2): Buffer {
  const m = index.manifest;
  return packIndex({
    manifest: {
      imageId: m.imageId,
      app: m.app,
      createdAt: m.createdAt,
      step: m.step,
      label: m.label,
      library: m.library,
      node: m.node,
      platform: m.platform,
      hostname: m.hostname,
      parent: m.parent,
      meta: { ...m.meta },
    },
    codec: codecToWire(index.codec),
    segments: index.segments.map((s) => [s.offset, s.storedLength, s.rawLength, s.crc, s.codec, s.flags]),
    providers: providersToWire(index.providers),
  });
}

function checkMeta(c: IndexChecker, v: unknown): Record<string, MetaValueV2> {
  const w = c.obj(v, 'manifest.meta');
  const keys = Object.keys(w);
  if (keys.length > MAX_META_KEYS) c.fail('manifest.meta', `more than ${MAX_META_KEYS} keys`);
  // A null-prototype object: keys such as "__proto__" stay plain data.
  const out = Object.create(null) as Record<string, MetaValueV2>;
  for (const k of keys) {
    if (k.length > MAX_META_STRING) c.fail('manifest.meta', 'key too long');
    const x = w[k];
    if (x === null || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x))) out[k] = x;
    else if (typeof x === 'string' && x.length <= MAX_META_STRING) out[k] = x;
    else c.fail(`manifest.meta.${k}`, 'expected a string, finite number, boolean or nil');
  }
  return out;
}

/** Check a v2 manifest map (also the base of later versions' manifests). */
export function checkManifestV2(c: IndexChecker, mw: Record<string, unknown>): ManifestV2 {
  return {
    imageId: c.str(mw['imageId'], 'manifest.imageId', 256),
    app: c.strOrNull(mw['app'], 'manifest.app'),
    createdAt: c.str(mw['createdAt'], 'manifest.createdAt', 64),
    step: c.numOrNull(mw['step'], 'manifest.step'),
    label: c.strOrNull(mw['label'], 'manifest.label'),
    library: c.str(mw['library'], 'manifest.library', 256),
    node: c.str(mw['node'], 'manifest.node', 256),
    platform: c.str(mw['platform'], 'manifest.platform', 256),
    hostname: c.strOrNull(mw['hostname'], 'manifest.hostname', 256),
    parent: c.strOrNull(mw['parent'], 'manifest.parent', 256),
    meta: checkMeta(c, mw['meta']),
  };
}

/** Decode and validate a v2 index. */
export function decodeIndexV2(bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image = 'image'): ImageIndexV2 {
  const c = new IndexChecker(image);
  const top = unpackIndex(bytes, c);
  const manifest = checkManifestV2(c, c.obj(top['manifest'], 'manifest'));
  const codec = checkCodec(c, top['codec']);
  const segments: SegmentEntryV2[] = checkSegments(c, top['segments'], 6, indexOffset, limits, (w, where, base) => ({
    ...base,
    flags: c.uint(w[5], `${where}.flags`, 0xffff),
  }));
  const providers = checkProviders(c, top['providers'], segments);
  return { manifest, codec, segments, providers };
}

/** Upgrade a v1 index to v2: the fields v1 lacks get their "absent" values. */
function upgradeFromV1(index: ImageIndexV1): ImageIndexV2 {
  return {
    manifest: { ...index.manifest, hostname: null, parent: null, meta: {} },
    codec: index.codec,
    segments: index.segments.map((s) => ({ ...s, flags: 0 })),
    providers: index.providers,
  };
}

/** Express a v2 index in v1. Fails if anything but the (informational) host name would be lost. */
function downgradeToV1(index: ImageIndexV2): ImageIndexV1 {
  const m = index.manifest;
  if (Object.keys(m.meta).length > 0 || m.parent !== null || index.segments.some((s) => s.flags !== 0)) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'this image uses format 2 features (meta, parent or segment flags) that format 1 cannot hold');
  }
  return {
    manifest: { imageId: m.imageId, app: m.app, createdAt: m.createdAt, step: m.step, label: m.label, library: m.library, node: m.node, platform: m.platform },
    codec: index.codec,
    segments: index.segments.map(({ offset, storedLength, rawLength, crc, codec }) => ({ offset, storedLength, rawLength, crc, codec })),
    providers: index.providers,
  };
}

/** Format version 2 as an entry of the format list. */
export const formatV2 = defineFormatVersion<ImageIndexV2, ImageIndexV1>({
  version: 2,
  decode: decodeIndexV2,
  encode: encodeIndexV2,
  previous: {
    upgrade: upgradeFromV1,
    downgrade: { supported: true, map: downgradeToV1 },
    upgradeChanges: ['manifest: adds hostname (nil), parent (nil) and meta ({})', 'segments: each entry gains a flags field (0); segment bytes are copied unchanged'],
    downgradeChanges: ['manifest: drops hostname (format 1 has no field for it)', 'segments: flags field removed'],
  },
});
