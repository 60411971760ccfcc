/**
 * @module test/codec/binary-kinds
 *
 * The binary kind table: classification, constructors, element sizes, views.
 */

import { describe, expect, it } from 'vitest';

import {
  binaryConstructor,
  binaryFromArrayBuffer,
  binaryKindName,
  bytesOf,
  classifyBinary,
  elementSize,
  isBinaryKind,
} from '../../src/codec/binary-kinds.js';
import { BinaryKind, type BinaryKindCode } from '../../src/codec/types.js';
import { ErrorCodes } from '../../src/errors.js';
import { expectCkptError } from '../helpers/codec.js';

describe('binary kinds', () => {
  it('classifies every binary class, Buffer before Uint8Array', () => {
    expect(classifyBinary(Buffer.alloc(1))).toBe(BinaryKind.Buffer);
    expect(classifyBinary(Buffer.allocUnsafeSlow(1))).toBe(BinaryKind.Buffer);
    expect(classifyBinary(new Uint8Array(1))).toBe(BinaryKind.Uint8Array);
    expect(classifyBinary(new ArrayBuffer(1))).toBe(BinaryKind.ArrayBuffer);
    expect(classifyBinary(new DataView(new ArrayBuffer(1)))).toBe(BinaryKind.DataView);
    expect(classifyBinary(new BigUint64Array(1))).toBe(BinaryKind.BigUint64Array);
    expect(classifyBinary({})).toBeUndefined();
    expect(classifyBinary([1])).toBeUndefined();
    expect(classifyBinary(null)).toBeUndefined();
    expect(classifyBinary(3)).toBeUndefined();
    expect(classifyBinary(new (class X extends Uint8Array {})(1))).toBeUndefined();
  });

  it('rejects shared memory', () => {
    expectCkptError(() => classifyBinary(new SharedArrayBuffer(4)), ErrorCodes.UNSERIALIZABLE);
    expectCkptError(() => classifyBinary(new Int32Array(new SharedArrayBuffer(4))), ErrorCodes.UNSERIALIZABLE);
  });

  it('every kind maps to its constructor and element size, and rebuilds over a buffer', () => {
    for (const [name, kind] of Object.entries(BinaryKind) as [string, BinaryKindCode][]) {
      expect(isBinaryKind(kind)).toBe(true);
      expect(binaryKindName(kind)).toBe(name);
      expect(binaryConstructor(kind).name).toBe(name);
      const ab = new ArrayBuffer(16);
      const v = binaryFromArrayBuffer(kind, ab);
      expect(classifyBinary(v)).toBe(kind);
      expect(bytesOf(v, kind).byteLength).toBe(16);
      const ctor = binaryConstructor(kind) as unknown as { BYTES_PER_ELEMENT?: number };
      expect(elementSize(kind)).toBe(ctor.BYTES_PER_ELEMENT ?? 1);
    }
    expect(isBinaryKind(14)).toBe(false);
    expect(isBinaryKind(-1)).toBe(false);
  });

  it('bytesOf covers only the view', () => {
    const f = new Float32Array(8).subarray(2, 5);
    const bytes = bytesOf(f, BinaryKind.Float32Array);
    expect(bytes.byteOffset).toBe(8);
    expect(bytes.byteLength).toBe(12);
    expect(bytes.buffer).toBe(f.buffer);
  });
});
