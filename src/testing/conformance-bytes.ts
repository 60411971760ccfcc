/**
 * @module testing/conformance-bytes
 *
 * Byte helpers shared by the store conformance suites: reproducible test
 * bytes and an exact comparison that names the first differing offset.
 */
import { strict as assert } from 'node:assert';

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Require `actual` to hold exactly `expected`'s bytes; the failure names the first differing offset. */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.ok(actual instanceof Uint8Array, `${what}: expected a Uint8Array, got ${Object.prototype.toString.call(actual)}`);
  assert.equal(actual.byteLength, expected.byteLength, `${what}: length differs`);
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (!a.equals(e)) {
    let i = 0;
    while (i < a.length && a[i] === e[i]) i++;
    assert.fail(`${what}: bytes differ first at offset ${i} (got ${String(a[i])}, expected ${String(e[i])})`);
  }
}
