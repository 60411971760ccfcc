/**
 * @module test/group/ipc
 *
 * The pieces of the child-process transport on their own: a state split into
 * its skeleton and byte arrays and put back together, chunks filling the
 * arrays in order (empty arrays, arrays larger than one chunk, a chunk that
 * overruns, a chunk nobody expects), malformed skeletons refused, and the
 * control file written in place.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ArrayReceiver, CHUNK_BYTES, ControlFile, flatten, isSkeleton, sendWithArrays, unflatten, type IpcSend } from '../../src/group/ipc.js';
import type { PartState } from '../../src/group/protocol.js';

function bytes(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = (i * 31 + seed) & 0xff;
  return a;
}

/** The same state (byte arrays compared with Buffer.equals: a deep compare of 4 MiB is slow). */
function sameState(a: PartState, b: PartState): boolean {
  const x = flatten(a);
  const y = flatten(b);
  return JSON.stringify(x.skeleton) === JSON.stringify(y.skeleton) && x.arrays.every((arr, i) => Buffer.from(arr).equals(Buffer.from(y.arrays[i]!)));
}

const STATE: PartState = {
  step: 7,
  providers: [
    { id: 'a', version: 1, tree: true, stream: bytes(10, 1), blobs: [bytes(CHUNK_BYTES + 5, 2), bytes(0, 3)] },
    { id: 'b', version: 3, tree: false, stream: bytes(0, 4), blobs: [] },
  ],
};

describe('the child-process transport', () => {
  it('sends a state as a skeleton and chunks of at most CHUNK_BYTES, one at a time, and puts it back together', async () => {
    const { skeleton, arrays } = flatten(STATE);
    expect(skeleton.sizes).toEqual([10, CHUNK_BYTES + 5, 0, 0]);
    expect(isSkeleton(JSON.parse(JSON.stringify(skeleton)))).toBe(true);
    const sent: { bytes?: Uint8Array }[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const send: IpcSend = (message, callback) => {
      sent.push(message as { bytes?: Uint8Array });
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      setImmediate(() => {
        inFlight--;
        callback(null);
      });
      return true;
    };
    await sendWithArrays(send, { header: true }, arrays);
    expect(maxInFlight).toBe(1);
    // The header, then 10 bytes, then the large blob in two chunks; empty arrays send nothing.
    expect(sent.slice(1).map((m) => m.bytes!.byteLength)).toEqual([10, CHUNK_BYTES, 5]);

    const receiver = new ArrayReceiver();
    let got: Uint8Array[] | undefined;
    receiver.expect(skeleton.sizes, (a) => (got = a));
    for (const m of sent.slice(1)) {
      expect(got).toBeUndefined();
      expect(receiver.chunk(m.bytes)).toBe(true);
    }
    expect(receiver.busy).toBe(false);
    expect(sameState(unflatten(skeleton, got!), STATE)).toBe(true);
    got![1]![0]! ^= 1;
    expect(sameState(unflatten(skeleton, got!), STATE)).toBe(false);
  });

  it('refuses a chunk nobody expects, one that overruns the expected sizes, and one that is not bytes', () => {
    const receiver = new ArrayReceiver();
    expect(receiver.chunk(bytes(3, 0))).toBe(false);
    receiver.expect([4], () => undefined);
    expect(receiver.chunk([1, 2])).toBe(false);
    expect(receiver.chunk(bytes(5, 0))).toBe(false);
    expect(receiver.chunk(bytes(4, 0))).toBe(true);
    expect(receiver.busy).toBe(false);
  });

  it('delivers at once when there are no bytes to wait for', () => {
    const receiver = new ArrayReceiver();
    let delivered = 0;
    receiver.expect([], () => delivered++);
    receiver.expect([0, 0], () => delivered++);
    expect(delivered).toBe(2);
  });

  it('refuses malformed skeletons', () => {
    const ok = flatten(STATE).skeleton;
    expect(isSkeleton(ok)).toBe(true);
    expect(isSkeleton(null)).toBe(false);
    expect(isSkeleton({ ...ok, sizes: [-1] })).toBe(false);
    expect(isSkeleton({ ...ok, step: 'x' })).toBe(false);
    expect(isSkeleton({ ...ok, providers: [{ ...ok.providers[0], stream: 99 }] })).toBe(false);
    expect(isSkeleton({ ...ok, providers: [{ ...ok.providers[0], blobs: [1.5] }] })).toBe(false);
    expect(isSkeleton({ ...ok, providers: [{ ...ok.providers[0], id: 5 }] })).toBe(false);
  });

  it('the control file holds the two words, written in place; remove() deletes it', () => {
    const file = new ControlFile();
    try {
      file.write(5, 0);
      file.write(6, 6);
      const b = readFileSync(file.path);
      expect(b.byteLength).toBe(8);
      expect([b.readInt32LE(0), b.readInt32LE(4)]).toEqual([6, 6]);
    } finally {
      file.remove();
    }
    expect(() => readFileSync(file.path)).toThrow();
    file.write(7, 7); // after remove: nothing, no throw
  });
});
