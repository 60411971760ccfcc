// The deterministic simulation run by child-loop.ts, shared with the tests so
// they can compute the uninterrupted result in-process: a Float64Array field
// and a running sum, advanced once per step (the step number feeds the update,
// so resuming at the wrong step changes the result).
import { createHash } from 'node:crypto';

/** The simulation's state, as saved by the child's provider. */
export interface SimState {
  field: Float64Array;
  sum: number;
  /** Completed steps when the state was saved (checked against the loop's step on restore). */
  step: number | null;
}

export function initialState(size: number): SimState {
  return { field: new Float64Array(size).map((_, i) => Math.cos(i)), sum: 0, step: 0 };
}

/** Advance `s` by iteration number `step` (0-based). */
export function advance(s: SimState, step: number): void {
  const f = s.field;
  for (let i = 1; i < f.length; i++) f[i] = f[i]! * 0.999 + f[i - 1]! * 0.001 + step * 1e-9;
  s.sum += f[step % f.length]!;
}

export function hashState(s: SimState, steps: number): string {
  return createHash('sha256')
    .update(new Uint8Array(s.field.buffer, s.field.byteOffset, s.field.byteLength))
    .update(`${s.sum}:${steps}`)
    .digest('hex');
}

/** The result of an uninterrupted run of `steps` iterations. */
export function referenceHash(size: number, steps: number): string {
  const s = initialState(size);
  for (let i = 0; i < steps; i++) advance(s, i);
  return hashState(s, steps);
}
