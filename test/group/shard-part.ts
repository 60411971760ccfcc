/**
 * @module test/group/shard-part
 *
 * The part program of the resharding tests (a worker thread, or a child
 * process when it has no parentPort): a part of a computation
 * over one array of `total` cells and a map of `keys` accounts, split across
 * the parts — cells by `ckpt.rangeOf()` (a `range` shard), accounts by
 * `ckpt.owns()` (a `keyed` shard). Every step updates each cell from its
 * global index and each account from its key, so the result does not depend
 * on how many parts computed it. Reports what it restored and, when done,
 * its cells (with their first global index) and accounts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { joinGroup, type ShardRestoreInfo } from '../../src/index.js';
import { cellStep, accountStep, initialCell } from './shard-sim.js';

const { total, keys, until } = (parentPort !== null ? workerData : JSON.parse(process.argv[2]!)) as { total: number; keys: number; until: number };
const post = (m: Record<string, unknown>): void => {
  if (parentPort !== null) parentPort.postMessage(m);
  else process.send!({ report: m });
};
const ckpt = await joinGroup();
let start = ckpt.rangeOf(total).start;
let cells: Float64Array = Float64Array.from({ length: ckpt.rangeOf(total).end - start }, (_, k) => initialCell(start + k));
let accounts = new Map<string, number>();
for (let k = 0; k < keys; k++) if (ckpt.owns(`acct-${String(k)}`)) accounts.set(`acct-${String(k)}`, k);
let restoredShard: ShardRestoreInfo | undefined;

ckpt.register<Float64Array>({
  id: 'cells',
  shard: { kind: 'range', length: () => cells.length },
  snapshot: () => cells,
  restore: (s, ctx) => {
    cells = s;
    start = ctx.shard!.start;
    restoredShard = ctx.shard;
  },
});
ckpt.register<Map<string, number>>({ id: 'accounts', tree: true, shard: { kind: 'keyed' }, snapshot: () => accounts, restore: (s) => (accounts = s) });

const step0 = await ckpt.restore();
post({ part: ckpt.index, type: 'restored', step: step0, shard: restoredShard ?? null, cells: cells.length, accounts: accounts.size });
for await (const step of ckpt.loop({ until })) {
  for (let k = 0; k < cells.length; k++) cells[k] = cellStep(cells[k]!, start + k, step);
  for (const [key, v] of accounts) accounts.set(key, accountStep(v, key, step));
}
if (!ckpt.stopped) post({ part: ckpt.index, type: 'done', start, cells: [...cells], accounts: [...accounts] });
