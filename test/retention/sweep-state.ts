/** The state of the retention kill test at `step`: 4 segments of 64 KiB, one changed per step. */
export function gridAt(step: number): Float64Array {
  const g = new Float64Array(4 * 8192);
  for (let s = 1; s <= step; s++) g.fill(s, (s % 4) * 8192, (s % 4) * 8192 + 50);
  return g;
}
