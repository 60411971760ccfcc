/**
 * @module test/codec/deep-streams
 *
 * Hand-built value streams of deeply nested containers, for the deep-decoding
 * tests: built byte by byte (not by the encoder, so the decoder is tested at
 * any depth whatever the encoder accepts), and a non-recursive check that a
 * decoded value is the chain it should be.
 */

/** Container kinds a chain can be made of. */
export const KINDS = ['array', 'object', 'nullproto', 'mapvalue', 'mapkey', 'set', 'class'] as const;
/** One container kind. */
export type Kind = (typeof KINDS)[number];

/** The registered class of class-instance chains (registered as `Link`). */
export class Link {
  next: unknown = null;
}

const fixstr = (s: string): Buffer => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s, 'latin1')]);

/** An ext32 of `type` around `payload`. */
export function ext32(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(6);
  h[0] = 0xc9;
  h.writeUInt32BE(payload.length, 1);
  h[5] = type;
  return Buffer.concat([h, payload]);
}

/** The container of `kind` holding the encoded value `inner` as its one member. */
export function wrapBytes(kind: Kind, inner: Buffer): Buffer {
  switch (kind) {
    case 'array':
      return Buffer.concat([Buffer.from([0x91]), inner]);
    case 'object':
      return Buffer.concat([Buffer.from([0x81]), fixstr('a'), inner]);
    case 'nullproto':
      return ext32(0x16, Buffer.concat([Buffer.from([0x81]), fixstr('a'), inner]));
    case 'mapvalue':
      return ext32(0x10, Buffer.concat([Buffer.from([0x92, 0x01]), inner]));
    case 'mapkey':
      return ext32(0x10, Buffer.concat([Buffer.from([0x92]), inner, Buffer.from([0x01])]));
    case 'set':
      return ext32(0x11, Buffer.concat([Buffer.from([0x91]), inner]));
    case 'class':
      return ext32(0x13, Buffer.concat([Buffer.from([0x92]), fixstr('Link'), Buffer.from([0x81]), fixstr('next'), inner]));
  }
}

/** Kind of level `i` (0 = outermost) of a chain made of `kinds` (rotating). */
export function kindAt(kinds: readonly Kind[], i: number): Kind {
  return kinds[i % kinds.length]!;
}

/**
 * A stream of `depth` nested containers (level 0 outermost) around `leaf`
 * (bytes of the innermost value; default the integer 1).
 */
export function chainStream(kinds: readonly Kind[], depth: number, leaf: Buffer = Buffer.from([0x01])): Buffer {
  let bytes = leaf;
  for (let i = depth - 1; i >= 0; i--) bytes = wrapBytes(kindAt(kinds, i), bytes);
  return bytes;
}

/** Leaf bytes of an identity-mode chain: a plain object `{ root: <REF 0> }` (the cycle back to the outermost container). */
export const CYCLE_LEAF = Buffer.concat([Buffer.from([0x81]), fixstr('root'), Buffer.from([0xd6, 0x03, 0, 0, 0, 0])]);

/** The one member of a container of `kind`, or what is wrong with it. */
function unwrap(kind: Kind, v: unknown, i: number): { inner: unknown } | string {
  const at = `level ${String(i)}`;
  switch (kind) {
    case 'array':
      return Array.isArray(v) && v.length === 1 && 0 in v ? { inner: v[0] } : `${at}: not a one-element array`;
    case 'object':
    case 'nullproto': {
      if (typeof v !== 'object' || v === null) return `${at}: not an object`;
      if (Object.getPrototypeOf(v) !== (kind === 'object' ? Object.prototype : null)) return `${at}: wrong prototype`;
      const keys = Object.keys(v);
      return keys.length === 1 && keys[0] === 'a' ? { inner: (v as Record<string, unknown>)['a'] } : `${at}: keys ${keys.join()}`;
    }
    case 'mapvalue':
    case 'mapkey': {
      if (!(v instanceof Map) || v.size !== 1) return `${at}: not a one-entry Map`;
      const [entry] = [...(v as Map<unknown, unknown>).entries()];
      const [key, value] = entry!;
      if (kind === 'mapvalue') return key === 1 ? { inner: value } : `${at}: key ${String(key)}`;
      return value === 1 ? { inner: key } : `${at}: value ${String(value)}`;
    }
    case 'set':
      return v instanceof Set && v.size === 1 ? { inner: [...(v as Set<unknown>)][0] } : `${at}: not a one-item Set`;
    case 'class':
      return v instanceof Link && Object.keys(v).join() === 'next' ? { inner: v.next } : `${at}: not a Link`;
  }
}

/**
 * Check without recursion that `root` is `depth` nested containers of
 * `kinds` around a leaf; returns the leaf, or a description of the first
 * difference.
 */
export function walkChain(root: unknown, kinds: readonly Kind[], depth: number): { leaf: unknown } | string {
  let v = root;
  for (let i = 0; i < depth; i++) {
    const r = unwrap(kindAt(kinds, i), v, i);
    if (typeof r === 'string') return r;
    v = r.inner;
  }
  return { leaf: v };
}
