/**
 * @module codec/buffer-text
 *
 * The codec's string ↔ byte conversions, in one place. Node's `Buffer` has
 * undocumented per-encoding methods (`utf8Write`, `utf8Slice`, `latin1Slice`,
 * `ucs2Slice`) that skip the argument parsing of the documented
 * `buf.write()` / `buf.toString()`; they are markedly faster for the many
 * short strings of a state, but they are not a public API. So they are used
 * only when a feature check at load finds all of them, and otherwise every
 * conversion goes through the documented fallback (`buf.write`,
 * `buf.toString`), which yields the same bytes and strings.
 * {@link useFastBufferText} switches paths (tests run both and compare).
 */

/** `Buffer` with Node's undocumented per-encoding fast methods. */
interface FastBuffer extends Buffer {
  utf8Write(value: string, offset: number, length?: number): number;
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
  ucs2Slice(start: number, end: number): string;
}

/** The conversions the codec needs. */
export interface BufferText {
  /** Write `s` as UTF-8 at `offset`, at most `max` bytes (never a partial character); returns the bytes written. */
  readonly utf8Write: (buf: Buffer, s: string, offset: number, max: number) => number;
  /** Decode bytes `[start, end)` as UTF-8 (invalid sequences become U+FFFD). */
  readonly utf8Slice: (buf: Buffer, start: number, end: number) => string;
  /** Decode bytes `[start, end)` as latin1 (exact for ASCII). */
  readonly latin1Slice: (buf: Buffer, start: number, end: number) => string;
  /** Decode bytes `[start, end)` as UTF-16LE code units (lone surrogates kept). */
  readonly ucs2Slice: (buf: Buffer, start: number, end: number) => string;
}

const FAST: BufferText = {
  utf8Write: (buf, s, offset, max) => (buf as FastBuffer).utf8Write(s, offset, max),
  utf8Slice: (buf, start, end) => (buf as FastBuffer).utf8Slice(start, end),
  latin1Slice: (buf, start, end) => (buf as FastBuffer).latin1Slice(start, end),
  ucs2Slice: (buf, start, end) => (buf as FastBuffer).ucs2Slice(start, end),
};

const DOCUMENTED: BufferText = {
  utf8Write: (buf, s, offset, max) => buf.write(s, offset, max, 'utf8'),
  utf8Slice: (buf, start, end) => buf.toString('utf8', start, end),
  latin1Slice: (buf, start, end) => buf.toString('latin1', start, end),
  ucs2Slice: (buf, start, end) => buf.toString('utf16le', start, end),
};

/** Whether this Node has every undocumented method the fast path uses. */
export const hasFastBufferText: boolean = (() => {
  const proto = Buffer.prototype as Partial<FastBuffer>;
  return (
    typeof proto.utf8Write === 'function' &&
    typeof proto.utf8Slice === 'function' &&
    typeof proto.latin1Slice === 'function' &&
    typeof proto.ucs2Slice === 'function'
  );
})();

/** The conversions in use (read on every call, so {@link useFastBufferText} takes effect at once). */
export let bufferText: BufferText = hasFastBufferText ? FAST : DOCUMENTED;

/**
 * Choose the path: `true` = the fast methods (only if this Node has them),
 * `false` = the documented fallback. Returns whether the fast path is now in
 * use. For tests and diagnosis; both paths give identical results.
 */
export function useFastBufferText(fast: boolean): boolean {
  bufferText = fast && hasFastBufferText ? FAST : DOCUMENTED;
  return bufferText === FAST;
}
