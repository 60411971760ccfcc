/**
 * @module image/index-prepass
 *
 * A cheap walk over an index's msgpack bytes, before they are unpacked, that
 * bounds what unpacking would build. Decoding an index costs memory per
 * entry, not per byte: an 8 MiB index of one-byte empty maps unpacks into
 * 8 million objects (hundreds of MiB and seconds of work) before any field is
 * checked. The walk counts entries and containers without building anything
 * and refuses an index holding more than an index of `maxSegments` segments
 * can hold, so the cost of opening an image is bounded by the limits, not by
 * what a forged index claims.
 */
import { CkptError, ErrorCodes } from '../errors.js';

/**
 * Most msgpack values an index of `maxSegments` segments holds: 13 per
 * segment entry (format 3: 9 fields and a 2-field reference or base), at most
 * 15 per provider and 5 per blob (each provider and each blob owns at least
 * one segment of its own), plus the manifest (up to 64 meta keys), codec
 * settings, up to 256 holders of 3 values each and the top-level map.
 */
export function maxIndexEntries(maxSegments: number): number {
  return 28 * maxSegments + 2048;
}

/**
 * Most arrays and maps such an index holds: two per segment (its row and a
 * reference or base), at most three per provider, one per blob, one per holder.
 */
export function maxIndexContainers(maxSegments: number): number {
  return 5 * maxSegments + 384;
}

/** What {@link prepassIndex} counted. */
export interface IndexShape {
  /** Values walked (containers, their elements, map keys and values). */
  readonly entries: number;
  /** Arrays and maps among them. */
  readonly containers: number;
}

/** Big-endian unsigned integer of `n` bytes at `at` (missing bytes read as 0). */
function be(bytes: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + (bytes[at + i] ?? 0);
  return v;
}

/** Size in bytes of the scalar value whose type byte `t` is at `pos`; -1 for a container or 0xc1. */
function scalarSize(bytes: Uint8Array, pos: number, t: number): number {
  if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return 1;
  if (t >= 0xa0 && t <= 0xbf) return 1 + (t & 0x1f);
  switch (t) {
    case 0xc4: case 0xd9: return 2 + be(bytes, pos + 1, 1); // bin8, str8
    case 0xc5: case 0xda: return 3 + be(bytes, pos + 1, 2); // bin16, str16
    case 0xc6: case 0xdb: return 5 + be(bytes, pos + 1, 4); // bin32, str32
    case 0xc7: return 3 + be(bytes, pos + 1, 1); // ext8
    case 0xc8: return 4 + be(bytes, pos + 1, 2); // ext16
    case 0xc9: return 6 + be(bytes, pos + 1, 4); // ext32
    case 0xca: return 5;
    case 0xcb: return 9;
    case 0xcc: case 0xd0: return 2;
    case 0xcd: case 0xd1: return 3;
    case 0xce: case 0xd2: return 5;
    case 0xcf: case 0xd3: return 9;
    case 0xd4: return 3;
    case 0xd5: return 4;
    case 0xd6: return 6;
    case 0xd7: return 10;
    case 0xd8: return 18;
    default: return -1;
  }
}

function tooMany(image: string, what: string, max: number, maxSegments: number): CkptError {
  return new CkptError(
    ErrorCodes.LIMIT,
    `${image}: index holds more than ${max} ${what}, more than an index of ${maxSegments} segments can (limits.maxSegments); raise the limit if the image is trusted, or it is damaged`,
    { where: 'index', image },
  );
}

/**
 * Walk the msgpack value in `bytes` and count its entries and containers,
 * allocating nothing. Fails with `CKPT_ERR_LIMIT` (naming
 * `limits.maxSegments`) as soon as either count exceeds what an index of
 * `maxSegments` segments can hold. Bytes that are not well-formed msgpack end
 * the walk quietly: unpacking reports them as damage.
 */
export function prepassIndex(bytes: Uint8Array, maxSegments: number, image: string): IndexShape {
  const maxEntries = maxIndexEntries(maxSegments);
  const maxContainers = maxIndexContainers(maxSegments);
  let pos = 0;
  let pending = 1; // values still to read
  let entries = 0;
  let containers = 0;
  while (pending > 0 && pos < bytes.length) {
    pending--;
    if (++entries > maxEntries) throw tooMany(image, 'values', maxEntries, maxSegments);
    const t = bytes[pos]!;
    let n = -1; // elements of a container
    let head = 1;
    if (t >= 0x80 && t <= 0x8f) n = 2 * (t & 0x0f);
    else if (t >= 0x90 && t <= 0x9f) n = t & 0x0f;
    else if (t === 0xdc || t === 0xde) {
      n = ((bytes[pos + 1] ?? 0) << 8) | (bytes[pos + 2] ?? 0);
      head = 3;
    } else if (t === 0xdd || t === 0xdf) {
      n = (((bytes[pos + 1] ?? 0) << 24) >>> 0) + (((bytes[pos + 2] ?? 0) << 16) | ((bytes[pos + 3] ?? 0) << 8) | (bytes[pos + 4] ?? 0));
      head = 5;
    }
    if (n >= 0) {
      if (t === 0xde || t === 0xdf) n *= 2;
      if (++containers > maxContainers) throw tooMany(image, 'arrays and maps', maxContainers, maxSegments);
      // A claimed count larger than the bytes left cannot be real: no need to keep walking it.
      pending += Math.min(n, bytes.length);
      pos += head;
      continue;
    }
    const size = scalarSize(bytes, pos, t);
    if (size < 0) break;
    pos += size;
  }
  return { entries, containers };
}
