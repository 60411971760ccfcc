/**
 * Object graphs of several record shapes (bench/lib/shapes.ts: mixed, flat,
 * deep, arrays, strings, maps) and sizes, checkpointed durably and restored
 * by ckpt — identity-preserving (the default) and `tree: true` — against
 * JSON.stringify + gzip and v8.serialize + gzip, each written as durably as
 * ckpt writes, and read + gunzip + JSON.parse / v8.deserialize. Every figure
 * of one shape and size comes from the same run, interleaved over the
 * repetitions; the table gives the ratios per shape.
 *
 * Modes: --smoke (CI: 2,000 records, 1 rep; numbers meaningless), --quick
 * (default: 10,000 and 100,000 records, 3 reps), --full (10,000, 200,000,
 * 1,000,000 and 2,000,000 records, 3 reps). Options: --records N
 * (repeatable), --shape NAME (repeatable), --reps N, --dir PATH.
 *
 * Run: npm run build && node --expose-gc --import tsx bench/object-shapes.ts [--full]
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { deserialize, serialize } from 'node:v8';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Checkpointer, LIBRARY_VERSION } from 'ckpt';
import { durableWrite } from './lib/machine.js';
import { SHAPES, shapeByName, type Shape } from './lib/shapes.js';
import { fmt, interleave, machine, med, MiB, writeResults, type Variant } from './lib/stats.js';

/** One shape at one size: medians and ratios. */
export interface ShapeResult {
  shape: string;
  records: number;
  identityMs: number;
  treeMs: number;
  jsonMs: number;
  v8Ms: number;
  restoreIdentityMs: number;
  restoreTreeMs: number;
  jsonReadMs: number;
  v8ReadMs: number;
  identityBytes: number;
  treeBytes: number;
  jsonBytes: number;
  v8Bytes: number;
}

/** Options of {@link runShape}. */
export interface ShapeOptions {
  readonly reps: number;
  readonly dir: string;
  readonly log: (s: string) => void;
}

/** JSON.stringify throws a RangeError past V8's longest string: that baseline is then not measurable. */
function tryJson(shape: Shape, state: unknown[]): string | undefined {
  try {
    return shape.toJson(state);
  } catch (err) {
    if (err instanceof RangeError) return undefined;
    throw err;
  }
}

function check(what: string, state: unknown[], back: unknown): void {
  const b = back as unknown[] | undefined;
  if (b === undefined || b.length !== state.length) throw new Error(`${what}: restored ${String(b?.length)} records, not ${String(state.length)}`);
  for (const i of [0, 1, 10, state.length >> 1, state.length - 1]) {
    if (!isDeepStrictEqual(state[i], b[i])) throw new Error(`${what}: record ${String(i)} differs after the round trip`);
  }
}

/** Measure one shape at `n` records. */
export async function runShape(shape: Shape, n: number, o: ShapeOptions): Promise<ShapeResult> {
  const log = o.log;
  log(`${shape.name} × ${n.toLocaleString('en-US')}: generating…`);
  const state = shape.make(n);
  const dir = await mkdtemp(join(o.dir, `${shape.name}-`));
  let restored: unknown;
  const identity = new Checkpointer({ store: join(dir, 'identity'), retention: { keepLast: 1 }, signals: false });
  const tree = new Checkpointer({ store: join(dir, 'tree'), retention: { keepLast: 1 }, signals: false });
  identity.register({ id: 'records', snapshot: () => state, restore: (s: unknown[]) => void (restored = s) });
  tree.register({ id: 'records', tree: true, snapshot: () => state, restore: (s: unknown[]) => void (restored = s) });
  const jsonPath = join(dir, 'state.json.gz');
  const v8Path = join(dir, 'state.v8.gz');
  try {
    log(`${shape.name} × ${n.toLocaleString('en-US')}: warm-up and round-trip checks…`);
    for (const [name, ck] of [['identity', identity], ['tree', tree]] as const) {
      await ck.checkpoint();
      await ck.restore();
      check(`ckpt ${name}`, state, restored);
      restored = undefined;
    }
    const json0 = tryJson(shape, state);
    if (json0 !== undefined) {
      await durableWrite(jsonPath, gzipSync(json0));
      check('JSON', state, shape.fromJson(gunzipSync(await readFile(jsonPath)).toString()));
    } else {
      log(`${shape.name} × ${n}: JSON.stringify fails (longer than V8's longest string): JSON baseline not measured`);
    }
    await durableWrite(v8Path, gzipSync(serialize(state)));
    check('v8', state, deserialize(gunzipSync(await readFile(v8Path))));

    const sizes = { identity: 0, tree: 0 };
    const timed = async (fn: () => Promise<unknown>): Promise<{ ms: number }> => {
      const t0 = performance.now();
      await fn();
      return { ms: performance.now() - t0 };
    };
    const variants: Variant[] = [
      { name: 'identity', run: () => timed(async () => (sizes.identity = (await identity.checkpoint()).bytes)) },
      { name: 'tree', run: () => timed(async () => (sizes.tree = (await tree.checkpoint()).bytes)) },
      { name: 'v8', run: () => timed(() => durableWrite(v8Path, gzipSync(serialize(state)))) },
      { name: 'restore identity', run: () => timed(async () => ((await identity.restore()) === undefined ? undefined : (restored = undefined))) },
      { name: 'restore tree', run: () => timed(async () => ((await tree.restore()) === undefined ? undefined : (restored = undefined))) },
      { name: 'v8 read', run: () => timed(async () => (deserialize(gunzipSync(await readFile(v8Path))) as unknown[]).length) },
    ];
    if (json0 !== undefined) {
      variants.push(
        { name: 'json', run: () => timed(() => durableWrite(jsonPath, gzipSync(shape.toJson(state)))) },
        { name: 'json read', run: () => timed(async () => shape.fromJson(gunzipSync(await readFile(jsonPath)).toString()).length) },
      );
    }
    const samples = await interleave(variants, o.reps, (s) => log(`  ${shape.name} × ${n}${s}`));
    const m = (name: string): number => med(samples, name);
    return {
      shape: shape.name,
      records: n,
      identityMs: m('identity'),
      treeMs: m('tree'),
      jsonMs: json0 === undefined ? Number.NaN : m('json'),
      v8Ms: m('v8'),
      restoreIdentityMs: m('restore identity'),
      restoreTreeMs: m('restore tree'),
      jsonReadMs: json0 === undefined ? Number.NaN : m('json read'),
      v8ReadMs: m('v8 read'),
      identityBytes: sizes.identity,
      treeBytes: sizes.tree,
      jsonBytes: json0 === undefined ? Number.NaN : (await stat(jsonPath)).size,
      v8Bytes: (await stat(v8Path)).size,
    };
  } finally {
    await identity.close();
    await tree.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The markdown table of one size: a row per shape, ratios > 1 where ckpt is faster or smaller. */
export function shapeTable(results: readonly ShapeResult[]): string[] {
  const x = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${fmt(a / b, 1)}×` : '—');
  const lines = [
    '| shape | ckpt identity ms | identity vs JSON+gzip / v8+gzip | tree vs JSON / v8 | restore identity ms | restore identity vs JSON / v8 | restore tree vs JSON / v8 | image MiB | image / smaller baseline |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    const smaller = Number.isFinite(r.jsonBytes) ? Math.min(r.jsonBytes, r.v8Bytes) : r.v8Bytes;
    lines.push(
      `| ${r.shape} | ${fmt(r.identityMs)} | ${x(r.jsonMs, r.identityMs)} / ${x(r.v8Ms, r.identityMs)} | ${x(r.jsonMs, r.treeMs)} / ${x(r.v8Ms, r.treeMs)} | ${fmt(r.restoreIdentityMs)} | ${x(r.jsonReadMs, r.restoreIdentityMs)} / ${x(r.v8ReadMs, r.restoreIdentityMs)} | ${x(r.jsonReadMs, r.restoreTreeMs)} / ${x(r.v8ReadMs, r.restoreTreeMs)} | ${fmt(r.identityBytes / MiB, 2)} | ${fmt(r.identityBytes / smaller, 2)} |`,
    );
  }
  return lines;
}

/** Run every selected shape at every size; returns the markdown and the results. */
export async function runShapes(o: ShapeOptions & { readonly sizes: readonly number[]; readonly shapes: readonly Shape[] }): Promise<{ markdown: string[]; results: ShapeResult[] }> {
  const markdown: string[] = [];
  const results: ShapeResult[] = [];
  for (const n of o.sizes) {
    const atSize: ShapeResult[] = [];
    for (const shape of o.shapes) atSize.push(await runShape(shape, n, o));
    results.push(...atSize);
    markdown.push('', `### Object shapes: ${n.toLocaleString('en-US')} records, ckpt at its default zstd level 3, gzip at its default level`, '', ...shapeTable(atSize));
  }
  return { markdown, results };
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop() ?? '');
if (isMain) {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      full: { type: 'boolean', default: false },
      reps: { type: 'string' },
      records: { type: 'string', multiple: true },
      shape: { type: 'string', multiple: true },
      dir: { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
  });
  const mode = values.full ? 'full' : values.smoke ? 'smoke' : 'quick';
  const preset = { smoke: { reps: 1, sizes: [2000] }, quick: { reps: 3, sizes: [10_000, 100_000] }, full: { reps: 3, sizes: [10_000, 200_000, 1_000_000, 2_000_000] } }[mode];
  const sizes = values.records?.map(Number) ?? preset.sizes;
  const shapes = values.shape?.map(shapeByName) ?? SHAPES;
  const reps = Number(values.reps ?? preset.reps);
  const log = (s: string): void => {
    if (values.verbose || !s.includes(' rep ')) process.stderr.write(`${s}\n`);
  };
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function') log('note: run with node --expose-gc for steadier figures (a GC between measurements)');
  const command = `node ${process.execArgv.join(' ')} bench/object-shapes.ts ${process.argv.slice(2).join(' ')}`.replace(/\s+/g, ' ').trim();
  const head = [`ckpt ${LIBRARY_VERSION} — object shapes (${mode}), medians of ${String(reps)} interleaved repetitions`, `machine: ${machine()}`, `command: ${command}`];
  for (const l of head) console.log(l);
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'ckpt-bench-shapes-'));
  try {
    const { markdown, results } = await runShapes({ sizes, shapes, reps, dir, log });
    for (const l of markdown) console.log(l);
    if (mode === 'smoke') console.log('\n(--smoke: checks that the benchmark works; the numbers are not meaningful)');
    console.log(`\nresults: ${writeResults(`object-shapes-${mode}`, { bench: 'object-shapes', mode, library: LIBRARY_VERSION, date: new Date().toISOString(), command, machine: machine(), reps, results, markdown: [...head, ...markdown].join('\n') })}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
