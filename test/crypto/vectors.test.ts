// Known-answer vectors of the format 4 primitives (docs/FORMAT.md, "Format
// 4 test vector"; the values were checked against Python's `cryptography`
// and OpenSSL's HKDF), and the nonce uniqueness property.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NONCE_DOMAIN_INDEX, NONCE_DOMAIN_SEGMENT, commitmentOf, deriveImageKeys, nonceOf, openInto, sealInto, segmentAad, unwrapKey, wrapKey } from '../../src/crypto/seal.js';

const DEK = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const UUID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const KEK = Buffer.alloc(32, 0x42);

describe('format 4 known-answer vectors', () => {
  it('subkeys, nonces, associated data, a sealed segment, the commitment and a wrapped key', () => {
    const k = deriveImageKeys(DEK, UUID);
    expect(k.segments.toString('hex')).toBe('765941f43080715f015008d627bb08b62c3bbc501074884d3236cf797f2bbece');
    expect(k.index.toString('hex')).toBe('0a388e0ea1592b59393e81e4f6d1424337a64d6b2d6dd35c7fffe3279f890240');
    expect(nonceOf(NONCE_DOMAIN_SEGMENT, 5).toString('hex')).toBe('000000000000000000000005');
    expect(nonceOf(NONCE_DOMAIN_INDEX, 0).toString('hex')).toBe('000000010000000000000000');
    const aad = segmentAad(UUID, 5, 1, 1, 4096);
    expect(aad.toString('hex')).toBe('636b70743473656700112233445566778899aabbccddeeff0000000500010100001000');
    const pt = Buffer.from('ckpt segment plaintext', 'utf8');
    const out = Buffer.alloc(pt.length + 16);
    expect(sealInto(k.segments, nonceOf(0, 5), aad, pt, out)).toBe(out.length);
    expect(out.toString('hex')).toBe('292ec525311e6bad75191843e611cc59bdab2cf2438dff852721af95a87309a67387adbbc1b1');
    const back = Buffer.alloc(pt.length);
    expect(openInto(k.segments, nonceOf(0, 5), aad, out, back)).toBe(pt.length);
    expect(back.equals(pt)).toBe(true);
    expect(commitmentOf(DEK, UUID).toString('hex')).toBe('ee050bdcf298af087d57d0520b1ae0c658877ffa49727cc05faf34d60cfea509');
    const wrapped = wrapKey(KEK, DEK, UUID, 'k1', Buffer.alloc(12, 0x24));
    expect(wrapped.toString('hex')).toBe('2424242424242424242424241590c642edc3c0392ee128a1b13f9da97cea2163a2be467aa8bdd6414ad8f90c8db4553ae0be1a9f2f69bfe46f7ac941');
    expect(unwrapKey(KEK, wrapped, UUID, 'k1')?.equals(DEK)).toBe(true);
    // Bound to the key id and the uuid.
    expect(unwrapKey(KEK, wrapped, UUID, 'k2')).toBeUndefined();
    expect(unwrapKey(KEK, wrapped, Buffer.alloc(16), 'k1')).toBeUndefined();
  });

  it('sealing in 64 KiB pieces equals one-shot AES-GCM, for sizes around the piece boundary', () => {
    const k = deriveImageKeys(DEK, UUID);
    for (const n of [0, 1, 65535, 65536, 65537, 200_000]) {
      const pt = randomBytes(n);
      const aad = segmentAad(UUID, n, 1, 0, n);
      const a = Buffer.alloc(n + 16);
      sealInto(k.segments, nonceOf(0, 1), aad, pt, a);
      const back = Buffer.alloc(n);
      expect(openInto(k.segments, nonceOf(0, 1), aad, a, back)).toBe(n);
      expect(back.equals(pt)).toBe(true);
      // Any other place, flags, codec or length: authentication fails.
      for (const other of [segmentAad(UUID, n + 1, 1, 0, n), segmentAad(UUID, n, 0, 0, n), segmentAad(UUID, n, 1, 1, n), segmentAad(UUID, n, 1, 0, n + 1)]) {
        expect(openInto(k.segments, nonceOf(0, 1), other, a, back)).toBe(-1);
      }
      expect(openInto(k.segments, nonceOf(0, 2), aad, a, back)).toBe(-1);
    }
  });
});

describe('nonce uniqueness', () => {
  it('nonceOf is injective over (domain, counter), including counters above 2^32', () => {
    const seen = new Set<string>();
    const counters = [...Array.from({ length: 20_000 }, (_, i) => i), 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40, Number.MAX_SAFE_INTEGER];
    for (const d of [NONCE_DOMAIN_SEGMENT, NONCE_DOMAIN_INDEX]) for (const c of counters) seen.add(nonceOf(d, c).toString('hex'));
    expect(seen.size).toBe(counters.length * 2);
  });

  it('no (key, nonce) pair repeats over many images × segments (a fresh data key and uuid per image)', () => {
    const images = 2000;
    const segments = 500;
    const pairs = new Set<string>();
    let count = 0;
    for (let i = 0; i < images; i++) {
      const k = deriveImageKeys(randomBytes(32), randomBytes(16));
      const seg = k.segments.toString('hex');
      const idx = k.index.toString('hex');
      expect(seg).not.toBe(idx);
      pairs.add(`${idx}:${nonceOf(NONCE_DOMAIN_INDEX, 0).toString('hex')}`);
      count++;
      for (let s = 0; s < segments; s++) {
        pairs.add(`${seg}:${nonceOf(NONCE_DOMAIN_SEGMENT, s).toString('hex')}`);
        count++;
      }
    }
    expect(pairs.size).toBe(count);
    expect(count).toBe(images * (segments + 1));
  });
});

describe('docs/FORMAT.md', () => {
  it('documents the same vector values the tests check', () => {
    const doc = readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8');
    const section = /## Test vector \(format 4\)([\s\S]*?)\n## /.exec(doc)?.[1] ?? '';
    const k = deriveImageKeys(DEK, UUID);
    const out = Buffer.alloc(22 + 16);
    sealInto(k.segments, nonceOf(0, 5), segmentAad(UUID, 5, 1, 1, 4096), Buffer.from('ckpt segment plaintext', 'utf8'), out);
    for (const hex of [k.segments, k.index, nonceOf(0, 5), nonceOf(1, 0), segmentAad(UUID, 5, 1, 1, 4096), out, commitmentOf(DEK, UUID), wrapKey(KEK, DEK, UUID, 'k1', Buffer.alloc(12, 0x24))]) {
      expect(section).toContain(`\`${hex.toString('hex')}\``);
    }
  });
});
