/**
 * @module test/codec/enc-instance
 *
 * The memory an encoder keeps between encodings (output buffers, identity
 * table) belongs to one StateEncoder: two encoders never hand out or reuse
 * each other's buffers, and one encoder still reuses its own.
 */

import { describe, expect, it } from 'vitest';

import { decodeState } from '../../src/codec/decode.js';
import { StateEncoder, encodeState } from '../../src/codec/encode.js';
import { decOptions, encOptions } from '../helpers/codec.js';

/** A state whose stream is over 1 MiB (lent in the encoder's own buffer, with a release()). */
function large(tag: number): unknown {
  return Array.from({ length: 200_000 }, (_, i) => ({ i, tag }));
}

describe('StateEncoder instances own their memory', () => {
  it('a released large stream is reused by the same encoder, never by another', () => {
    const a = new StateEncoder();
    const b = new StateEncoder();
    const first = a.encode(large(1), encOptions());
    expect(first.release).toBeTypeOf('function');
    const memory = first.stream.buffer;
    first.release!();
    const fromB = b.encode(large(2), encOptions());
    expect(fromB.stream.buffer).not.toBe(memory);
    const fromDefault = encodeState(large(3), encOptions());
    expect(fromDefault.stream.buffer).not.toBe(memory);
    const again = a.encode(large(4), encOptions());
    expect(again.stream.buffer).toBe(memory);
    // And what B lent is still intact after A wrote into its own memory again.
    const back = decodeState(fromB.stream, decOptions([])) as { tag: number }[];
    expect(back[199_999]).toEqual({ i: 199_999, tag: 2 });
  });

  it('a stream still lent out is not written over by the next encoding of its own encoder', () => {
    const a = new StateEncoder();
    const first = a.encode(large(1), encOptions());
    const second = a.encode(large(2), encOptions());
    expect(second.stream.buffer).not.toBe(first.stream.buffer);
    expect((decodeState(first.stream, decOptions([])) as { tag: number }[])[0]).toEqual({ i: 0, tag: 1 });
  });

  it('identity tables are separate: shared objects get REFs by each encoder\'s own ids, interleaved', () => {
    const shared = { s: 1 };
    const state = [shared, shared];
    const a = new StateEncoder();
    const b = new StateEncoder();
    const expected = Buffer.from(encodeState(state, encOptions()).stream).toString('hex');
    for (let i = 0; i < 40; i++) {
      const enc = i % 3 === 0 ? b : a;
      expect(Buffer.from(enc.encode(state, encOptions()).stream).toString('hex')).toBe(expected);
    }
  });

  it('an encoder re-entered from a getter (a nested encoding) still writes both states right', () => {
    const a = new StateEncoder();
    let inner = '';
    const state = {
      get x(): number {
        inner = Buffer.from(a.encode([{ n: 1 }, { n: 1 }], encOptions()).stream).toString('hex');
        return 7;
      },
      y: [1, 2],
    };
    const outer = Buffer.from(a.encode(state, encOptions()).stream).toString('hex');
    expect(outer).toBe(Buffer.from(encodeState({ x: 7, y: [1, 2] }, encOptions()).stream).toString('hex'));
    expect(inner).toBe(Buffer.from(encodeState([{ n: 1 }, { n: 1 }], encOptions()).stream).toString('hex'));
  });

  it('releaseMemory() drops what the encoder kept: the next large stream is in new memory', () => {
    const a = new StateEncoder();
    const first = a.encode(large(1), encOptions());
    const memory = first.stream.buffer;
    first.release!();
    a.releaseMemory();
    expect(a.encode(large(2), encOptions()).stream.buffer).not.toBe(memory);
  });
});
