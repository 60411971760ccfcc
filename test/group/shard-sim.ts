/**
 * @module test/group/shard-sim
 *
 * The computation of the resharding tests, one cell and one account at a
 * time, so the test can compute the uninterrupted result on its own.
 */

/** A cell's value before step 0. */
export function initialCell(index: number): number {
  return (index * 7) % 101;
}

/** A cell after `step`, from its value, its global index and the step. */
export function cellStep(value: number, index: number, step: number): number {
  return (value * 31 + index + step) % 1_000_003;
}

/** An account after `step`. */
export function accountStep(value: number, key: string, step: number): number {
  return (value * 17 + key.length + step) % 1_000_003;
}

/** The uninterrupted result: every cell and account after `steps` steps. */
export function expected(total: number, keys: number, steps: number): { cells: number[]; accounts: Map<string, number> } {
  const cells = Array.from({ length: total }, (_, i) => {
    let v = initialCell(i);
    for (let s = 0; s < steps; s++) v = cellStep(v, i, s);
    return v;
  });
  const accounts = new Map<string, number>();
  for (let k = 0; k < keys; k++) {
    const key = `acct-${String(k)}`;
    let v = k;
    for (let s = 0; s < steps; s++) v = accountStep(v, key, s);
    accounts.set(key, v);
  }
  return { cells, accounts };
}
