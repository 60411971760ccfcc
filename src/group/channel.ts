/**
 * @module group/channel
 *
 * A part's end of the group's message channels: {@link GroupChannel}, which a
 * part gets from `ckpt.channel()`. Every message goes through the coordinator
 * (part → coordinator → part) on the link the part already has (its private
 * port in a thread, its IPC channel in a child), serialized with
 * `v8.serialize` (structured clone) and numbered per (sender, receiver).
 * Delivery is polled: `receive()` hands the application the messages that
 * arrived, and what it has not taken yet — its inbox — is part of the
 * part's capture together with the counts of messages sent and received.
 * The coordinator holds back messages sent after a sender's cut until the
 * receiver has captured too and records those in flight at the cut, so a
 * group image restores every message exactly once (group/channel-router).
 */
import { deserialize, serialize } from 'node:v8';
import { CkptError, ErrorCodes } from '../errors.js';
import type { ChannelMessageBytes, SavedChannels } from './protocol.js';

/** One message a part received: its sender's index and the value sent. */
export interface ChannelMessage {
  /** The index of the part that sent it. */
  readonly from: number;
  /** The value sent (a structured clone of it). */
  readonly data: unknown;
}

/** @internal How an endpoint reaches the coordinator. */
export interface ChannelTransport {
  /** Hand one message to the coordinator (in order: FIFO with the part's captures). */
  transmit(to: number, seq: number, bytes: Uint8Array): void;
  /** The channel messages that arrived since the last call, in arrival order. */
  drain(): ChannelMessageBytes[];
}

/** @internal What the endpoint asks its part before every use. */
export interface ChannelGuard {
  /** Null when sending and receiving are allowed; else why not (an error to throw). */
  blocked(): CkptError | null;
}

/** @internal The part's channel state: counts per link and the inbox. Captured with the part. */
export class ChannelEndpoint {
  readonly #index: number;
  readonly #parts: number;
  readonly #sent: number[];
  readonly #received: number[];
  #inbox: ChannelMessageBytes[];
  readonly #transport: ChannelTransport;
  readonly #guard: ChannelGuard;

  constructor(index: number, parts: number, saved: SavedChannels | undefined, transport: ChannelTransport, guard: ChannelGuard) {
    this.#index = index;
    this.#parts = parts;
    const fits = saved !== undefined && saved.sent.length === parts;
    this.#sent = fits ? [...saved.sent] : new Array<number>(parts).fill(0);
    this.#received = fits ? [...saved.received] : new Array<number>(parts).fill(0);
    this.#inbox = fits ? [...saved.inbox] : [];
    this.#transport = transport;
    this.#guard = guard;
  }

  #check(): void {
    const err = this.#guard.blocked();
    if (err !== null) throw err;
  }

  send(to: number, data: unknown): void {
    this.#check();
    if (typeof to !== 'number' || !Number.isInteger(to) || to < 0 || to >= this.#parts) {
      throw new CkptError(
        ErrorCodes.INVALID_ARGUMENT,
        `part ${String(this.#index)}: channel send() to part ${String(to)}: the group has parts 0 to ${String(this.#parts - 1)}`,
      );
    }
    let bytes: Uint8Array;
    try {
      // Copied out of the serializer's buffer: the message owns its memory (a thread transfers it).
      bytes = new Uint8Array(serialize(data));
    } catch (cause) {
      throw new CkptError(
        ErrorCodes.UNSERIALIZABLE,
        `part ${String(this.#index)}: channel send() to part ${String(to)}: the message cannot be cloned (${cause instanceof Error ? cause.message : String(cause)}); send structured-clone values: no functions, symbols, class instances keep only their own fields`,
        { cause },
      );
    }
    const seq = this.#sent[to]! + 1;
    this.#transport.transmit(to, seq, bytes);
    this.#sent[to] = seq;
  }

  /** Move what arrived into the inbox, checking each message continues its link's sequence. */
  pull(): void {
    for (const m of this.#transport.drain()) {
      const expected = (this.#received[m.from] ?? NaN) + 1;
      if (m.seq !== expected) {
        throw new CkptError(
          ErrorCodes.PART_FAILED,
          `part ${String(this.#index)}: channel message ${String(m.seq)} from part ${String(m.from)} arrived where ${String(expected)} was due; is every part running the same version of ckpt?`,
        );
      }
      this.#received[m.from] = m.seq;
      this.#inbox.push(m);
    }
  }

  receive(max: number): ChannelMessage[] {
    this.#check();
    if (typeof max !== 'number' || Number.isNaN(max) || max < 0) {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `part ${String(this.#index)}: channel receive(max): max must be a non-negative number, got ${String(max)}`);
    }
    this.pull();
    const taken = max >= this.#inbox.length ? this.#inbox : this.#inbox.slice(0, max);
    this.#inbox = taken === this.#inbox ? [] : this.#inbox.slice(taken.length);
    return taken.map((m) => ({ from: m.from, data: deserialize(m.bytes) as unknown }));
  }

  /** The channel state at a capture (after pulling what arrived). */
  snapshot(): SavedChannels {
    this.pull();
    return { sent: [...this.#sent], received: [...this.#received], inbox: [...this.#inbox] };
  }
}

/**
 * A part's message channel to the other parts of its group (`ckpt.channel()`).
 * Messages sent with it are delivered exactly once across group checkpoints
 * and restores: what a part has taken with `receive()` is part of its state,
 * what it has not is in its captured inbox, and what was in flight at the
 * cut is in the group image. Delivery is in order per sender. See
 * docs/groups.md, "Channels".
 */
export class GroupChannel {
  readonly #endpoint: ChannelEndpoint;

  /** @internal Made by `GroupParticipant.channel()`. */
  constructor(endpoint: ChannelEndpoint) {
    this.#endpoint = endpoint;
  }

  /**
   * Send `data` (a structured-clone value) to part `to` (it may be this part).
   * Returns at once; the message reaches the other part through the
   * coordinator.
   *
   * @throws CkptError INVALID_ARGUMENT for a part index out of range or a call
   * during a capture (from a provider hook or a callback that ran meanwhile);
   * UNSERIALIZABLE for a value structured clone refuses; CLOSED once this
   * part finished or stopped
   */
  send(to: number, data: unknown): void {
    this.#endpoint.send(to, data);
  }

  /**
   * Take the messages that arrived (at most `max`, oldest first). Taken
   * messages are consumed: a checkpoint taken after this call never holds
   * them again, so the part must keep what it learned from them in its
   * providers' state.
   *
   * @throws CkptError as {@link GroupChannel.send}
   */
  receive(max = Infinity): ChannelMessage[] {
    return this.#endpoint.receive(max);
  }
}
