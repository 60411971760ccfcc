/**
 * @module group/channel-router
 *
 * The coordinator's side of the group's message channels: it forwards every
 * channel message from its sender to its receiver, and makes a group image
 * hold each message exactly once.
 *
 * - **Hold after the cut.** A part's link to the coordinator is FIFO, so the
 *   coordinator sees a part's answer to epoch `e` after every message the
 *   part sent before it captured `e`. A message that arrives after its
 *   sender answered `e` was sent after the sender's cut; it is held until
 *   the receiver has answered `e` too, so no receiver takes a message sent
 *   after the sender's cut before its own cut.
 * - **Copies until received.** Every message is kept from its arrival until
 *   the receiver's capture counts it as received. When epoch `e`'s captures
 *   are in, the messages in flight on a link are those the sender had sent
 *   at its cut (its `sent` count) that the receiver had not received at its
 *   cut: {@link ChannelRouter.cut} appends them to the receiver's inbox in
 *   the image, so a restore delivers them first.
 * - **Finished parts.** A message to a part that finished, or a part that
 *   finished with messages it never took, is an error (`CKPT_ERR_CHANNEL_CLOSED`).
 *
 * Memory: the coordinator holds each message from its arrival until the
 * receiver's next capture after it received it (and held messages until
 * the receiver's cut).
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { ChannelMessageBytes, PartState, SavedChannels } from './protocol.js';

interface Kept {
  readonly seq: number;
  readonly bytes: Uint8Array;
  /** The epoch its sender had answered when it arrived: it may reach the receiver once the receiver answered it too. */
  readonly after: number;
}

/** One (sender, receiver) link. */
interface Link {
  /** Messages kept, in sequence order. */
  kept: Kept[];
  /** The last sequence number that arrived from the sender. */
  arrived: number;
  /** The last sequence number forwarded to the receiver. */
  forwarded: number;
}

/** Routes channel messages between the parts of a group and records them at each cut. */
export class ChannelRouter {
  readonly #parts: number;
  readonly #links: Link[];
  /** The newest epoch each part answered (Infinity once finished). */
  readonly #answered: number[];
  readonly #ready: boolean[];
  readonly #finished: boolean[];
  readonly #deliver: (to: number, msg: ChannelMessageBytes) => void;

  /**
   * @param parts - how many parts the group has
   * @param epoch - the group epoch the parts start from
   * @param deliver - posts a message to a part (in order)
   */
  constructor(parts: number, epoch: number, deliver: (to: number, msg: ChannelMessageBytes) => void) {
    this.#parts = parts;
    this.#links = Array.from({ length: parts * parts }, () => ({ kept: [], arrived: 0, forwarded: 0 }));
    this.#answered = new Array<number>(parts).fill(epoch);
    this.#ready = new Array<boolean>(parts).fill(false);
    this.#finished = new Array<boolean>(parts).fill(false);
    this.#deliver = deliver;
  }

  #link(from: number, to: number): Link {
    return this.#links[from * this.#parts + to]!;
  }

  /**
   * Continue the sequence numbers of restored states (an image's inboxes
   * already hold what was in flight, so every link's receiver has received
   * all its sender had sent). `image` names the image in errors.
   */
  restore(states: readonly (PartState | null)[], image: string): void {
    const n = this.#parts;
    const channels = states.map((s) => (s?.channels !== undefined && s.channels.sent.length === n ? s.channels : undefined));
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) {
        const sent = channels[a]?.sent[b] ?? 0;
        const received = channels[b]?.received[a] ?? 0;
        if (sent !== received) {
          throw new CkptError(
            ErrorCodes.CORRUPT,
            `group image ${image}: part ${String(a)} sent ${String(sent)} channel messages to part ${String(b)}, which received ${String(received)}; move the image out of the store`,
            { image },
          );
        }
        const l = this.#link(a, b);
        l.arrived = sent;
        l.forwarded = sent;
      }
    }
  }

  /** Part `index` can be sent messages now (it received its init). */
  ready(index: number): void {
    this.#ready[index] = true;
    for (let a = 0; a < this.#parts; a++) this.#pump(a, index);
  }

  /** A message arrived from part `from`; forwards it, or holds it until `to` passed the sender's cut. */
  send(from: number, to: number, seq: number, bytes: Uint8Array): void {
    if (!Number.isInteger(to) || to < 0 || to >= this.#parts) {
      throw new CkptError(ErrorCodes.PART_FAILED, `part ${String(from)} sent a channel message to part ${String(to)}, which does not exist; is it running the same version of ckpt as the coordinator?`);
    }
    const l = this.#link(from, to);
    if (seq !== l.arrived + 1) {
      throw new CkptError(ErrorCodes.PART_FAILED, `part ${String(from)} sent channel message ${String(seq)} to part ${String(to)} where ${String(l.arrived + 1)} was due; is it running the same version of ckpt as the coordinator?`);
    }
    if (this.#finished[to]) {
      throw new CkptError(
        ErrorCodes.CHANNEL_CLOSED,
        `part ${String(from)} sent a channel message to part ${String(to)}, which has finished: it can never take it. A part must receive every message sent to it before it finishes — end the exchange first (e.g. send a last message that says so)`,
      );
    }
    l.arrived = seq;
    l.kept.push({ seq, bytes, after: this.#answered[from]! });
    this.#pump(from, to);
  }

  #pump(from: number, to: number): void {
    if (!this.#ready[to]) return;
    const l = this.#link(from, to);
    const gate = this.#answered[to]!;
    for (const k of l.kept) {
      if (k.seq <= l.forwarded) continue;
      if (k.after > gate) return;
      this.#deliver(to, { from, seq: k.seq, bytes: k.bytes });
      l.forwarded = k.seq;
    }
  }

  /**
   * Part `index` answered `epoch` (captured it, or failed to): the messages
   * held for it until then go out. A capture's `channels` says what it had
   * received; those copies are dropped.
   */
  answered(index: number, epoch: number, channels: SavedChannels | undefined): void {
    if (this.#finished[index]) return;
    this.#answered[index] = Math.max(this.#answered[index]!, epoch);
    if (channels !== undefined) this.#drop(index, channels);
    for (let a = 0; a < this.#parts; a++) this.#pump(a, index);
  }

  /**
   * Epoch `epoch` failed (a part missed the deadline, a capture failed): no
   * cut will be taken there, so nothing is held for it any more — every
   * part counts as past it, and the messages held for it go out. The next
   * epoch's cut is consistent as any other: what a part receives now it
   * receives before its next capture.
   */
  release(epoch: number): void {
    for (let i = 0; i < this.#parts; i++) if (!this.#finished[i]) this.#answered[i] = Math.max(this.#answered[i]!, epoch);
    for (let a = 0; a < this.#parts; a++) for (let b = 0; b < this.#parts; b++) this.#pump(a, b);
  }

  #drop(to: number, channels: SavedChannels): void {
    for (let a = 0; a < this.#parts; a++) {
      const received = channels.received[a] ?? 0;
      const l = this.#link(a, to);
      let i = 0;
      while (i < l.kept.length && l.kept[i]!.seq <= received) i++;
      if (i > 0) l.kept = l.kept.slice(i);
    }
  }

  /**
   * Part `index` finished with `channels`. Throws `CKPT_ERR_CHANNEL_CLOSED`
   * when messages sent to it were never taken (its inbox, or sent and not
   * received). Its copies stay until the next cut has used them.
   */
  finished(index: number, channels: SavedChannels | undefined): void {
    this.#finished[index] = true;
    this.#answered[index] = Infinity;
    const unread = channels?.inbox.length ?? 0;
    let pending = 0;
    for (let a = 0; a < this.#parts; a++) {
      const received = channels?.received[a] ?? 0;
      pending += this.#link(a, index).kept.filter((k) => k.seq > received).length;
    }
    if (unread + pending > 0) {
      throw new CkptError(
        ErrorCodes.CHANNEL_CLOSED,
        `part ${String(index)} finished with ${String(unread + pending)} channel message(s) sent to it that it never took with receive(); a part must receive every message sent to it before it finishes`,
      );
    }
  }

  /**
   * The states of one group epoch as the image holds them: each receiver's
   * inbox gets the messages in flight to it at the cut (sent before the
   * sender's cut, not received before the receiver's), in sequence order per
   * sender, and counts them as received.
   */
  cut(states: readonly PartState[]): PartState[] {
    const n = this.#parts;
    return states.map((s, b) => {
      const own = s.channels;
      if (own === undefined) return s;
      const received = [...own.received];
      const inflight: ChannelMessageBytes[] = [];
      for (let a = 0; a < n; a++) {
        const sent = states[a]?.channels?.sent[b] ?? 0;
        const got = received[a] ?? 0;
        if (got > sent) {
          throw new CkptError(ErrorCodes.PART_FAILED, `group checkpoint: part ${String(b)} received channel message ${String(got)} from part ${String(a)}, which had sent ${String(sent)} at its cut; the cut is inconsistent (a bug in ckpt)`);
        }
        if (got === sent) continue;
        const kept = this.#link(a, b).kept.filter((k) => k.seq > got && k.seq <= sent);
        if (kept.length !== sent - got) {
          throw new CkptError(ErrorCodes.PART_FAILED, `group checkpoint: ${String(sent - got)} channel message(s) from part ${String(a)} to part ${String(b)} were in flight, but the coordinator holds ${String(kept.length)} of them (a bug in ckpt)`);
        }
        for (const k of kept) inflight.push({ from: a, seq: k.seq, bytes: k.bytes });
        received[a] = sent;
      }
      if (inflight.length === 0) return s;
      return { ...s, channels: { sent: own.sent, received, inbox: [...own.inbox, ...inflight] } };
    });
  }

  /** How many messages the coordinator holds (kept for a cut or held back). */
  get kept(): number {
    return this.#links.reduce((sum, l) => sum + l.kept.length, 0);
  }
}
