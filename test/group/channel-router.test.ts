/**
 * @module test/group/channel-router
 *
 * The coordinator's channel routing without threads: sequence checks, a
 * message sent after its sender's cut held until the receiver cut too,
 * copies kept until the receiver's capture counts them, messages in flight
 * at a cut put into the receiver's inbox (in sequence order), restore
 * continuing the numbering, and finished parts.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/index.js';
import { ChannelRouter } from '../../src/group/channel-router.js';
import type { ChannelMessageBytes, PartState, SavedChannels } from '../../src/group/protocol.js';

const b = (n: number): Uint8Array => new Uint8Array([n]);
const ch = (sent: number[], received: number[], inbox: ChannelMessageBytes[] = []): SavedChannels => ({ sent, received, inbox });
const st = (channels: SavedChannels): PartState => ({ step: 0, providers: [], channels });

function router(parts: number, epoch = 0): { r: ChannelRouter; out: { to: number; from: number; seq: number; byte: number }[] } {
  const out: { to: number; from: number; seq: number; byte: number }[] = [];
  const r = new ChannelRouter(parts, epoch, (to, m) => out.push({ to, from: m.from, seq: m.seq, byte: m.bytes[0]! }));
  for (let i = 0; i < parts; i++) r.ready(i);
  return { r, out };
}

describe('ChannelRouter', () => {
  it('forwards in order and rejects a sequence gap or a part that does not exist', () => {
    const { r, out } = router(2);
    r.send(0, 1, 1, b(10));
    r.send(0, 1, 2, b(11));
    expect(out).toEqual([
      { to: 1, from: 0, seq: 1, byte: 10 },
      { to: 1, from: 0, seq: 2, byte: 11 },
    ]);
    expect(() => r.send(0, 1, 4, b(0))).toThrow(expect.objectContaining({ code: ErrorCodes.PART_FAILED }));
    expect(() => r.send(0, 2, 1, b(0))).toThrow(expect.objectContaining({ code: ErrorCodes.PART_FAILED }));
  });

  it('does not forward before the receiver is ready', () => {
    const out: number[] = [];
    const r = new ChannelRouter(2, 0, (_to, m) => out.push(m.seq));
    r.send(0, 1, 1, b(1));
    expect(out).toEqual([]);
    r.ready(1);
    expect(out).toEqual([1]);
  });

  it('holds a message sent after its sender cut until the receiver cut too, and later ones behind it', () => {
    const { r, out } = router(2);
    r.send(0, 1, 1, b(1)); // before the cut: forwarded
    r.answered(0, 1, ch([0, 1], [0, 0])); // part 0 captured epoch 1 having sent 1
    r.send(0, 1, 2, b(2)); // after part 0's cut, part 1 has not cut: held
    r.send(0, 1, 3, b(3));
    expect(out.map((o) => o.seq)).toEqual([1]);
    r.answered(1, 1, ch([0, 0], [0, 0])); // part 1 cut (without having received 1)
    expect(out.map((o) => o.seq)).toEqual([1, 2, 3]);
    // The cut of epoch 1: message 1 was in flight and goes into part 1's inbox; 2 and 3 are after the cut.
    const [s0, s1] = r.cut([st(ch([0, 1], [0, 0])), st(ch([0, 0], [0, 0]))]);
    expect(s0!.channels).toEqual(ch([0, 1], [0, 0]));
    expect(s1!.channels!.received).toEqual([1, 0]);
    expect(s1!.channels!.inbox.map((m) => [m.from, m.seq, m.bytes[0]])).toEqual([[0, 1, 1]]);
  });

  it('a failed answer releases held messages too', () => {
    const { r, out } = router(2);
    r.answered(0, 1, ch([0, 0], [0, 0]));
    r.send(0, 1, 1, b(1));
    expect(out).toEqual([]);
    r.answered(1, 1, undefined);
    expect(out.map((o) => o.seq)).toEqual([1]);
  });

  it('keeps copies until the receiver counts them, and appends in-flight after the inbox in sequence order per sender', () => {
    const { r } = router(3);
    for (let s = 1; s <= 3; s++) r.send(0, 2, s, b(s));
    for (let s = 1; s <= 2; s++) r.send(1, 2, s, b(10 + s));
    // Part 2 captured having received 0→2: 1 (consumed) and 1→2: 1 (in its inbox).
    r.answered(2, 1, ch([0, 0, 0], [1, 1, 0], [{ from: 1, seq: 1, bytes: b(11) }]));
    expect(r.kept).toBe(3); // 0→2: 2, 3; 1→2: 2
    r.answered(0, 1, ch([0, 0, 3], [0, 0, 0]));
    r.answered(1, 1, ch([0, 0, 2], [0, 0, 0]));
    const cut = r.cut([st(ch([0, 0, 3], [0, 0, 0])), st(ch([0, 0, 2], [0, 0, 0])), st(ch([0, 0, 0], [1, 1, 0], [{ from: 1, seq: 1, bytes: b(11) }]))]);
    const c2 = cut[2]!.channels!;
    expect(c2.received).toEqual([3, 2, 0]);
    expect(c2.inbox.map((m) => [m.from, m.seq, m.bytes[0]])).toEqual([
      [1, 1, 11],
      [0, 2, 2],
      [0, 3, 3],
      [1, 2, 12],
    ]);
    // A later capture that received everything drops the copies.
    r.answered(2, 2, ch([0, 0, 0], [3, 2, 0]));
    expect(r.kept).toBe(0);
  });

  it('a cut the router cannot explain fails (a receiver ahead of its sender, or a copy missing)', () => {
    const { r } = router(2);
    expect(() => r.cut([st(ch([0, 1], [0, 0])), st(ch([0, 0], [2, 0]))])).toThrow(/inconsistent/);
    expect(() => r.cut([st(ch([0, 1], [0, 0])), st(ch([0, 0], [0, 0]))])).toThrow(/holds 0/);
  });

  it('restore continues the numbering of an image and refuses counts that disagree', () => {
    const { r, out } = router(2, 5);
    r.restore([st(ch([0, 4], [0, 0])), st(ch([0, 0], [4, 0]))], 'img');
    expect(() => r.send(0, 1, 1, b(0))).toThrow(expect.objectContaining({ code: ErrorCodes.PART_FAILED }));
    r.send(0, 1, 5, b(5));
    expect(out.map((o) => o.seq)).toEqual([5]);
    const { r: r2 } = router(2, 5);
    expect(() => r2.restore([st(ch([0, 4], [0, 0])), st(ch([0, 0], [3, 0]))], 'img')).toThrow(expect.objectContaining({ code: ErrorCodes.CORRUPT }));
  });

  it('a part that finished with messages it never took, or a message to a finished part, is CKPT_ERR_CHANNEL_CLOSED', () => {
    const { r } = router(2);
    r.send(0, 1, 1, b(1));
    expect(() => r.finished(1, ch([0, 0], [0, 0]))).toThrow(expect.objectContaining({ code: ErrorCodes.CHANNEL_CLOSED }));
    const { r: r2 } = router(2);
    r2.send(0, 1, 1, b(1));
    expect(() => r2.finished(1, ch([0, 0], [1, 0], [{ from: 0, seq: 1, bytes: b(1) }]))).toThrow(expect.objectContaining({ code: ErrorCodes.CHANNEL_CLOSED }));
    const { r: r3 } = router(2);
    r3.send(0, 1, 1, b(1));
    r3.finished(1, ch([0, 0], [1, 0]));
    expect(() => r3.send(0, 1, 2, b(2))).toThrow(expect.objectContaining({ code: ErrorCodes.CHANNEL_CLOSED }));
  });

  it('a failed epoch releases what was held for it, and the next cut is consistent', () => {
    const { r, out } = router(2);
    // Part 0 captured epoch 1, then sent: held for part 1, which has not captured epoch 1.
    r.answered(0, 1, ch([0, 0], [0, 0]));
    r.send(0, 1, 1, b(7));
    expect(out).toEqual([]);
    // Epoch 1 fails (part 1 missed the deadline, e.g. waiting for exactly that message): the message goes out.
    r.release(1);
    expect(out).toEqual([{ to: 1, from: 0, seq: 1, byte: 7 }]);
    // Epoch 2: part 0 had sent 1 at its cut, part 1 received it before its cut: nothing in flight, nothing twice.
    r.answered(0, 2, ch([0, 1], [0, 0]));
    r.answered(1, 2, ch([0, 0], [1, 0]));
    const cut = r.cut([st(ch([0, 1], [0, 0])), st(ch([0, 0], [1, 0]))]);
    expect(cut[1]!.channels!.inbox).toEqual([]);
    expect(cut[1]!.channels!.received).toEqual([1, 0]);
  });
});
