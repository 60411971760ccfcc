/**
 * @module test/incremental/kill-sim
 *
 * The deterministic state of the incremental kill test: {@link stateAt}(s)
 * is the state after step s (clustered changes on even steps, scattered ones
 * on odd steps, a few records every third step), so any image can be checked
 * against the state it was taken from by its step alone.
 */
import { dirtyClustered, dirtyRecords, dirtyScattered, makeState, type AppState } from './helpers.js';
import type { EncryptionOptions } from '../../src/index.js';

/** Field segments (64 KiB each) of the simulated state. */
export const SEGMENTS = 12;

/** The keys of the encrypted runs (CKPT_ENCRYPT=1): a fixed test key. */
export const KILL_KEYS: EncryptionOptions = { keys: { kill: new Uint8Array(32).fill(0x5c) }, current: 'kill' };

/** Advance `s` by one step (to step `s.counter.step + 1`). */
export function advance(s: AppState): void {
  const k = s.counter.step + 1;
  if (k % 2 === 0) dirtyClustered(s, (k * 0.29) % 1, k);
  else dirtyScattered(s, k);
  if (k % 3 === 0) dirtyRecords(s, k);
  s.counter.step = k;
}

/** The state after step `step`. */
export function stateAt(step: number): AppState {
  const s = makeState(SEGMENTS, 500);
  while (s.counter.step < step) advance(s);
  return s;
}
