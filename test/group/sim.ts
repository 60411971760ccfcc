/**
 * @module test/group/sim
 *
 * The deterministic computation of the group kill test: part `i` of a group
 * advances its own state one step at a time. The same function runs in the
 * worker threads of the killed child program and, uninterrupted, in the
 * test, which compares the results.
 */

/** One part's state: a generator word and an accumulator (a typed array). */
export interface SimState {
  x: number;
  acc: Float64Array;
}

/** The state of part `part` before its first step. */
export function initial(part: number): SimState {
  return { x: 0x9e3779b9 ^ part, acc: new Float64Array(16) };
}

/** Advance `s` by step `step` (a little work per step, so a run takes a while). */
export function advance(s: SimState, step: number): void {
  let x = s.x;
  for (let k = 0; k < 2000; k++) x = (Math.imul(x, 1103515245) + 12345 + k) >>> 0;
  s.x = x;
  s.acc[step % 16]! += x / 2 ** 32;
}

/** A printable digest of a state. */
export function digest(s: SimState): string {
  return `${s.x.toString(16)}:${[...s.acc].map((v) => v.toFixed(6)).join(',')}`;
}

/** The uninterrupted result of part `part` after `steps` steps. */
export function reference(part: number, steps: number): string {
  const s = initial(part);
  for (let step = 0; step < steps; step++) advance(s, step);
  return digest(s);
}
