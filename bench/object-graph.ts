/**
 * Scenario "object graph": many small records (strings, numbers, nested
 * arrays, a Map on every 10th), checkpointed durably and restored by ckpt —
 * identity-preserving (default) and declared tree (`tree: true`) — against
 * what users would write instead: JSON.stringify + gzip and v8.serialize +
 * gzip, each written as durably as ckpt writes (temp file, fsync, rename,
 * fsync of the directory).
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Checkpointer } from 'ckpt';
import { records, type Rec } from './lib/data.js';
import { durableWrite } from './lib/machine.js';
import { fmt, interleave, med, MiB, type Variant } from './lib/stats.js';
import type { Row } from './typed-arrays.js';

export interface ObjectOptions {
  readonly records: number;
  readonly reps: number;
  readonly dir: string;
  readonly log: (s: string) => void;
}

/** JSON has no Map: the fastest conversion a user would write for this state (only the records that hold one). */
function toJson(state: Rec[]): string {
  return JSON.stringify(state.map((r) => (r.attrs === undefined ? r : { ...r, attrs: [...r.attrs] })));
}

function fromJson(text: string): Rec[] {
  const state = JSON.parse(text) as (Omit<Rec, 'attrs'> & { attrs?: [string, string | number][] })[];
  for (const r of state) if (r.attrs !== undefined) (r as unknown as Rec).attrs = new Map(r.attrs);
  return state as unknown as Rec[];
}

function same(a: Rec[], b: Rec[] | undefined): boolean {
  if (b === undefined || a.length !== b.length) return false;
  for (const i of [0, 1, 10, a.length >> 1, a.length - 1]) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.score !== y.score || x.pos[1] !== y.pos[1] || x.tags[1] !== y.tags[1]) return false;
    if ((x.attrs === undefined) !== (y.attrs === undefined) || (x.attrs !== undefined && x.attrs.get('zone') !== y.attrs!.get('zone'))) return false;
  }
  return true;
}

export async function runObjects(o: ObjectOptions): Promise<{ rows: Row[]; summary: Record<string, number>; samples: Record<string, Record<string, number>[]>; sizeNote: string }> {
  const log = o.log;
  log(`object graph: generating ${o.records} records…`);
  const state = records(o.records);
  let restored: Rec[] | undefined;
  const identity = new Checkpointer({ store: join(o.dir, 'identity'), retention: { keepLast: 1 }, signals: false });
  const tree = new Checkpointer({ store: join(o.dir, 'tree'), retention: { keepLast: 1 }, signals: false });
  identity.register({ id: 'records', snapshot: () => state, restore: (s: Rec[]) => void (restored = s) });
  tree.register({ id: 'records', tree: true, snapshot: () => state, restore: (s: Rec[]) => void (restored = s) });
  const jsonPath = join(o.dir, 'state.json.gz');
  const v8Path = join(o.dir, 'state.v8.gz');

  // Warm-up (untimed) and a correctness check of every path.
  log('object graph: warm-up…');
  for (const ck of [identity, tree]) {
    await ck.checkpoint({ step: 0 });
    await ck.restore();
    if (!same(state, restored)) throw new Error('object graph: ckpt restored a different state');
  }
  await durableWrite(jsonPath, gzipSync(toJson(state)));
  if (!same(state, fromJson(gunzipSync(await readFile(jsonPath)).toString()))) throw new Error('object graph: JSON path differs');
  await durableWrite(v8Path, gzipSync(serialize(state)));
  if (!same(state, deserialize(gunzipSync(await readFile(v8Path))) as Rec[])) throw new Error('object graph: v8 path differs');
  restored = undefined;

  let step = 1;
  const sizes = new Map<string, number>();
  const timed = async (fn: () => Promise<unknown>): Promise<{ ms: number }> => {
    const t0 = performance.now();
    await fn();
    return { ms: performance.now() - t0 };
  };
  const variants: Variant[] = [
    {
      name: 'ckpt checkpoint (identity, default)',
      run: async () => {
        const t0 = performance.now();
        const info = await identity.checkpoint({ step: step++ });
        sizes.set('identity', info.bytes);
        return { ms: performance.now() - t0, pauseMs: info.pauseMs, bytes: info.bytes };
      },
    },
    {
      name: 'ckpt checkpoint (tree: true)',
      run: async () => {
        const t0 = performance.now();
        const info = await tree.checkpoint({ step: step++ });
        sizes.set('tree', info.bytes);
        return { ms: performance.now() - t0, pauseMs: info.pauseMs, bytes: info.bytes };
      },
    },
    { name: 'JSON.stringify + gzip + durable write', run: () => timed(() => durableWrite(jsonPath, gzipSync(toJson(state)))) },
    { name: 'v8.serialize + gzip + durable write', run: () => timed(() => durableWrite(v8Path, gzipSync(serialize(state)))) },
    { name: 'ckpt restore (identity)', run: () => timed(async () => ((await identity.restore()) === undefined ? undefined : (restored = undefined))) },
    { name: 'ckpt restore (tree)', run: () => timed(async () => ((await tree.restore()) === undefined ? undefined : (restored = undefined))) },
    { name: 'read + gunzip + JSON.parse', run: () => timed(async () => fromJson(gunzipSync(await readFile(jsonPath)).toString()).length) },
    { name: 'read + gunzip + v8.deserialize', run: () => timed(async () => (deserialize(gunzipSync(await readFile(v8Path))) as Rec[]).length) },
  ];
  const samples = await interleave(variants, o.reps, log);
  const jsonBytes = (await stat(jsonPath)).size;
  const v8Bytes = (await stat(v8Path)).size;
  // Image size by zstd level (one untimed checkpoint each): what a level buys against gzip.
  const bySize: Record<string, number> = {};
  for (const level of [1, 3, 6, 9]) {
    const ck = new Checkpointer({ store: join(o.dir, `level-${level}`), compression: { level }, signals: false });
    ck.register({ id: 'records', tree: true, snapshot: () => state, restore: () => undefined });
    bySize[`level${level}`] = (await ck.checkpoint()).bytes;
    await ck.close();
  }
  await identity.close();
  await tree.close();
  await rm(o.dir, { recursive: true, force: true });

  const m = (name: string, key = 'ms'): number => med(samples, name, key);
  const [ckI, ckT, json, v8, rsI, rsT, rJson, rV8] = variants.map((v) => m(v.name)) as [number, number, number, number, number, number, number, number];
  const idBytes = sizes.get('identity')!;
  const treeBytes = sizes.get('tree')!;
  const vs = (x: number): string => `${fmt(json / x, 1)}× faster than JSON, ${fmt(v8 / x, 1)}× than v8`;
  const vsR = (x: number): string => `${fmt(rJson / x, 1)}× faster than JSON, ${fmt(rV8 / x, 1)}× than v8`;
  const mb = (b: number): string => `${fmt(b / MiB, 2)} MiB`;
  const rows: Row[] = [
    { name: variants[0]!.name, ms: ckI, note: `**${vs(ckI)}**; image ${mb(idBytes)}; pause ${fmt(m(variants[0]!.name, 'pauseMs'))} ms` },
    { name: variants[1]!.name, ms: ckT, note: `**${vs(ckT)}**; image ${mb(treeBytes)}; pause ${fmt(m(variants[1]!.name, 'pauseMs'))} ms` },
    { name: variants[2]!.name, ms: json, note: `file ${mb(jsonBytes)}` },
    { name: variants[3]!.name, ms: v8, note: `file ${mb(v8Bytes)}` },
    { name: variants[4]!.name, ms: rsI, note: `**${vsR(rsI)}**` },
    { name: variants[5]!.name, ms: rsT, note: `**${vsR(rsT)}**` },
    { name: variants[6]!.name, ms: rJson, note: '' },
    { name: variants[7]!.name, ms: rV8, note: '' },
  ];
  const summary = {
    records: o.records,
    identityCheckpointMs: ckI,
    treeCheckpointMs: ckT,
    jsonWriteMs: json,
    v8WriteMs: v8,
    identityVsJson: json / ckI,
    identityVsV8: v8 / ckI,
    treeVsJson: json / ckT,
    treeVsV8: v8 / ckT,
    identityRestoreMs: rsI,
    treeRestoreMs: rsT,
    jsonReadMs: rJson,
    v8ReadMs: rV8,
    identityRestoreVsJson: rJson / rsI,
    identityRestoreVsV8: rV8 / rsI,
    treeRestoreVsJson: rJson / rsT,
    treeRestoreVsV8: rV8 / rsT,
    identityImageBytes: idBytes,
    treeImageBytes: treeBytes,
    jsonGzBytes: jsonBytes,
    v8GzBytes: v8Bytes,
    ...Object.fromEntries(Object.entries(bySize).map(([k, v]) => [`imageBytes_${k}`, v])),
  };
  const sizeNote = `image size by zstd level (tree mode): ${Object.entries(bySize).map(([k, v]) => `${k.replace('level', 'L')} ${mb(v)}`).join(', ')}; JSON+gzip ${mb(jsonBytes)}, v8+gzip ${mb(v8Bytes)}`;
  return { rows, summary, samples: Object.fromEntries(samples), sizeNote };
}
