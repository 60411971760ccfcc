/**
 * @module image/index-v2
 *
 * The index layout of image format version 2 (the current one). Compared
 * with v1 it adds to the manifest `hostname`, `parent` (reserved for
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
 */
import {
  IndexChecker,
  checkCodec,
  checkProviders,
  checkSegments,
  codecToWire,
  packIndex,
  providersToWire,
  unpackIndex,
  type IndexLimits,
} from './index-common.js';
import type { ImageIndex, Manifest, MetaValue, SegmentEntry } from './index-model.js';

/** Most keys accepted in `meta`. */
export const MAX_META_KEYS = 64;
/** Longest string accepted in `meta` (keys and values). */
export const MAX_META_STRING = 1024;

/** Serialize a v2 index. Field order is fixed so equal inputs give equal bytes. */
export function encodeIndexV2(index: ImageIndex): Buffer {
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

function checkMeta(c: IndexChecker, v: unknown): Record<string, MetaValue> {
  const w = c.obj(v, 'manifest.meta');
  const keys = Object.keys(w);
  if (keys.length > MAX_META_KEYS) c.fail('manifest.meta', `more than ${MAX_META_KEYS} keys`);
  // A null-prototype object: keys such as "__proto__" stay plain data.
  const out = Object.create(null) as Record<string, MetaValue>;
  for (const k of keys) {
    if (k.length > MAX_META_STRING) c.fail('manifest.meta', 'key too long');
    const x = w[k];
    if (x === null || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x))) out[k] = x;
    else if (typeof x === 'string' && x.length <= MAX_META_STRING) out[k] = x;
    else c.fail(`manifest.meta.${k}`, 'expected a string, finite number, boolean or nil');
  }
  return out;
}

/** Decode and validate a v2 index. */
export function decodeIndexV2(bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image = 'image'): ImageIndex {
  const c = new IndexChecker(image);
  const top = unpackIndex(bytes, c);
  const mw = c.obj(top['manifest'], 'manifest');
  const manifest: Manifest = {
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
  const codec = checkCodec(c, top['codec']);
  const segments: SegmentEntry[] = checkSegments(c, top['segments'], 6, indexOffset, limits, (w, where, base) => ({
    ...base,
    flags: c.uint(w[5], `${where}.flags`, 0xffff),
  }));
  const providers = checkProviders(c, top['providers'], segments);
  return { manifest, codec, segments, providers };
}
