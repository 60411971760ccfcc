// `ckpt diff`, `ckpt convert` and `ckpt export`: differences by provider and
// path, atomic conversion between format versions (checked by reading the
// result), and exports that round-trip every value kind exactly.
import { createHash } from 'node:crypto';
import { copyFile, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageFile } from '../../src/format/index.js';
import { classesState, largeState, Particle, valuesState } from '../fixtures/images/expected.js';
import { deepDiff } from '../helpers/deep-equal.js';
import { cleanupDirs, ensureBuilt, golden, imagePath, json, makeStore, runCli, runCliBuffer, tempDir } from './helpers.js';

beforeAll(ensureBuilt);
afterAll(cleanupDirs);

interface DiffJson {
  same: boolean;
  manifest: { field: string; a: unknown; b: unknown }[];
  providers: { id: string; status: string; a: { rawBytes: number } | null; b: { rawBytes: number } | null; differences: { path: string; a: string; b: string; note?: string }[]; truncated: boolean }[];
}

describe('ckpt diff', () => {
  it('changed providers, bytes per provider and the first differing paths; exit 6', async () => {
    const dir = await tempDir();
    const ids = await makeStore(dir, 3);
    const r = await runCli(['diff', imagePath(dir, ids[1]!), imagePath(dir, ids[2]!), '--json']);
    expect(r.code).toBe(6);
    const j = json<DiffJson>(r);
    expect(j.same).toBe(false);
    expect(j.manifest.map((m) => m.field)).toEqual(['imageId', 'createdAt', 'step', 'label']);
    const [grid, config] = j.providers;
    expect(grid).toMatchObject({ id: 'grid', status: 'changed' });
    expect(grid!.differences[0]).toMatchObject({ path: 'grid[0]', note: expect.stringMatching(/^\d+ of 20000 elements of grid differ$/) as unknown });
    expect(grid!.differences[1]).toEqual({ path: 'step', a: '200', b: '300' });
    expect(config).toMatchObject({ id: 'config', status: 'changed', differences: [{ path: 'rate', a: '0.5', b: '0.75' }] });
    const human = await runCli(['diff', imagePath(dir, ids[1]!), imagePath(dir, ids[2]!)]);
    expect(human.stdout).toMatch(/^ {2}~\s+config\s+changed\s+v2\s+raw 3\d B, stored \d+ B$/m);
    expect(human.stdout).toContain('      rate: 0.5 → 0.75');
    expect(human.stdout).toContain('2 of 2 providers differ');
  });

  it('equal state: exit 0, even across format versions (only the manifest differs)', async () => {
    const dir = await tempDir();
    await copyFile(golden(2, 'large'), join(dir, 'copy.image'));
    const [same, v1v2] = await Promise.all([runCli(['diff', golden(2, 'large'), join(dir, 'copy.image')]), runCli(['diff', golden(1, 'values'), golden(2, 'values'), '--json'])]);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('no provider state differs (1 provider)');
    expect(v1v2.code).toBe(0);
    const j = json<DiffJson>(v1v2);
    expect(j.same).toBe(true);
    expect(j.manifest).toEqual(expect.arrayContaining([{ field: 'hostname', a: null, b: 'golden-host' }, { field: 'formatVersion', a: 1, b: 2 }]));
  });

  it('providers only in one image, and --paths limits the paths shown', async () => {
    const [r, limited] = await Promise.all([runCli(['diff', golden(2, 'values'), golden(2, 'multi'), '--json']), runCli(['diff', golden(2, 'classes'), golden(2, 'values'), '--json'])]);
    expect(r.code).toBe(6);
    expect(json<DiffJson>(r).providers.map((p) => [p.id, p.status])).toEqual([
      ['values', 'removed'],
      ['counter', 'added'],
      ['old-name', 'added'],
      ['records', 'added'],
    ]);
    expect(limited.code).toBe(6);
    const dir = await tempDir();
    const ids = await makeStore(dir, 2);
    const few = json<DiffJson>(await runCli(['diff', imagePath(dir, ids[0]!), imagePath(dir, ids[1]!), '--paths', '1', '--json']));
    expect(few.providers[0]!.differences).toHaveLength(1);
    expect(few.providers[0]!.truncated).toBe(true);
  });

  it('bad input: a damaged image is exit 2, a missing one exit 4', async () => {
    const [bad, missing] = await Promise.all([runCli(['diff', golden(2, 'values'), golden(2, 'broken-checksum')]), runCli(['diff', golden(2, 'values'), '/nonexistent/x.ckpt'])]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ckpt: .*segment 0 checksum mismatch/);
    expect(missing.code).toBe(4);
  });
});

const sha = async (p: string): Promise<string> => createHash('sha256').update(await readFile(p)).digest('hex');

describe('ckpt convert', () => {
  it('format 1 → 2 and back: atomic new file, original untouched, result verifies and equals', async () => {
    const dir = await tempDir();
    const out2 = join(dir, 'large-v2.ckpt');
    const before = await sha(golden(1, 'large'));
    const r = await runCli(['convert', golden(1, 'large'), out2]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^converted .*large\.image \(format 1\) → .*large-v2\.ckpt \(format 2\): 1\.90 MiB written$/m);
    expect(r.stdout).toContain('9 segments verified and copied unchanged');
    expect(await sha(golden(1, 'large'))).toBe(before);
    expect((await readdir(dir)).sort()).toEqual(['large-v2.ckpt']);
    const img = await openImageFile(out2);
    expect(img.header.formatVersion).toBe(2);
    await img.close();
    const [verify, diff] = await Promise.all([runCli(['verify', out2]), runCli(['diff', golden(1, 'large'), out2])]);
    expect(verify.code).toBe(0);
    expect(diff.code).toBe(0);
    const back = join(dir, 'back-v1.ckpt');
    const j = json<{ from: number; to: number; bytes: number; segments: number; dryRun: boolean }>(await runCli(['convert', out2, back, '--to', '1', '--json']));
    expect(j).toMatchObject({ from: 2, to: 1, segments: 9, dryRun: false });
    expect(j.bytes).toBe((await stat(back)).size);
  });

  it('--dry-run reports the changes and writes nothing', async () => {
    const dir = await tempDir();
    const r = await runCli(['convert', golden(1, 'values'), join(dir, 'out.ckpt'), '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^dry run: .*values\.image is format 1; converting it to format 2 would:$/m);
    expect(r.stdout).toContain('nothing was written');
    expect(await readdir(dir)).toEqual([]);
    const noOut = json<{ changes: string[]; output: null }>(await runCli(['convert', golden(1, 'values'), '--dry-run', '--json']));
    expect(noOut.changes.length).toBeGreaterThan(0);
    expect(noOut.output).toBeNull();
  });

  it('refuses: an existing output (1), a version it cannot write (1), a missing output (1), a damaged input (2)', async () => {
    const dir = await tempDir();
    const cases: [string[], number, RegExp][] = [
      [[golden(1, 'values'), golden(2, 'values')], 1, /already exists; choose another output path/],
      [[golden(1, 'values'), join(dir, 'x.ckpt'), '--to', '9'], 1, /--to 9: this ckpt writes format versions 1, 2, 3/],
      [[golden(1, 'values')], 1, /missing output file/],
      [[golden(1, 'broken-checksum'), join(dir, 'y.ckpt')], 2, /segment 0 checksum mismatch/],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(['convert', ...args])));
    runs.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(cases[i]![1]);
      expect(r.stderr).toMatch(cases[i]![2]);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    });
    expect(await readdir(dir)).toEqual([]);
  });
});

/** Rebuild the values an export describes (the inverse of docs/cli.md "Export format"). */
function revive(root: unknown, classes: Record<string, object> = {}): unknown {
  const byPath = new Map<string, unknown>();
  const key = (p: string, k: string | number): string => (typeof k === 'number' ? `${p}[${k}]` : /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? `${p}.${k}` : `${p}[${JSON.stringify(k)}]`);
  const num = (v: unknown): number => (typeof v === 'number' ? v : Number((v as { value: string }).value === '-0' ? -0 : (v as { value: string }).value));
  const fill = (target: Record<string, unknown>, fields: Record<string, unknown>, p: string): void => {
    for (const [k, v] of Object.entries(fields)) Object.defineProperty(target, k, { value: walk(v, key(p, k)), enumerable: true, writable: true, configurable: true });
  };
  const walk = (v: unknown, p: string): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      byPath.set(p, out);
      out.length = v.length;
      v.forEach((x, i) => {
        if (!(typeof x === 'object' && x !== null && (x as { $type?: string }).$type === 'hole')) out[i] = walk(x, key(p, i));
      });
      return out;
    }
    const o = v as Record<string, unknown> & { $type?: string; $ref?: string };
    if (o.$ref !== undefined) return byPath.get(o.$ref);
    const typed: Record<string, new (n: number) => ArrayLike<number | bigint>> = {
      Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
    };
    switch (o.$type) {
      case undefined: {
        const out: Record<string, unknown> = {};
        byPath.set(p, out);
        fill(out, o, p);
        return out;
      }
      case 'Object': {
        const out = (o['nullPrototype'] === true ? Object.create(null) : {}) as Record<string, unknown>;
        byPath.set(p, out);
        fill(out, o['value'] as Record<string, unknown>, key(p, 'value'));
        return out;
      }
      case 'undefined':
        return undefined;
      case 'number':
        return num(o);
      case 'bigint':
        return BigInt(o['value'] as string);
      case 'Date':
        return new Date(o['value'] === null ? NaN : (o['value'] as string));
      case 'RegExp':
        return new RegExp(o['source'] as string, o['flags'] as string);
      case 'Map': {
        const m = new Map();
        byPath.set(p, m);
        (o['entries'] as unknown[][]).forEach((e, i) => m.set(walk(e[0], `${p}.entries[${i}][0]`), walk(e[1], `${p}.entries[${i}][1]`)));
        return m;
      }
      case 'Set': {
        const s = new Set();
        byPath.set(p, s);
        (o['values'] as unknown[]).forEach((x, i) => s.add(walk(x, `${p}.values[${i}]`)));
        return s;
      }
      case 'class': {
        const out = Object.create(classes[o['class'] as string] ?? null) as Record<string, unknown>;
        byPath.set(p, out);
        fill(out, o['fields'] as Record<string, unknown>, key(p, 'fields'));
        return out;
      }
      case 'Buffer':
        return Buffer.from(o['base64'] as string, 'base64');
      case 'ArrayBuffer':
        return new Uint8Array(Buffer.from(o['base64'] as string, 'base64')).buffer;
      case 'DataView':
        return new DataView(new Uint8Array(Buffer.from(o['base64'] as string, 'base64')).buffer);
      default: {
        const Ctor = typed[o.$type]!;
        const values = o['values'] as unknown[];
        const arr = new Ctor(values.length) as unknown as (number | bigint)[];
        values.forEach((x, i) => (arr[i] = typeof x === 'string' ? BigInt(x) : num(x)));
        byPath.set(p, arr);
        return arr;
      }
    }
  };
  return walk(root, '$');
}

describe('ckpt export', () => {
  it('JSON round-trips every value kind exactly (format 1 and 2)', async () => {
    const runs = await Promise.all(([1, 2] as const).map((v) => runCli(['export', golden(v, 'values'), '--provider', 'values'])));
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(deepDiff(revive(JSON.parse(r.stdout)), valuesState())).toBeUndefined();
    }
  });

  it('JSON keeps shared references and cycles as $ref, and classes by name', async () => {
    const r = await runCli(['export', golden(2, 'classes'), '--pretty']);
    const parsed = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(parsed['right']).toEqual({ $ref: '$.left' });
    const back = revive(parsed, { 'fixture.Particle': Particle.prototype }) as Record<string, unknown>;
    expect(deepDiff(back, classesState())).toBeUndefined();
    expect(back['left']).toBe(back['right']);
  });

  it('large typed arrays stream out whole; msgpack gives native bytes', async () => {
    const want = largeState();
    const [j, m] = await Promise.all([runCli(['export', golden(1, 'large')]), runCliBuffer(['export', golden(1, 'large'), '--format', 'msgpack'])]);
    const field = (JSON.parse(j.stdout) as { field: { $type: string; values: number[] } }).field;
    expect(field.$type).toBe('Float64Array');
    expect(Float64Array.from(field.values)).toEqual(want.field);
    expect(m.code).toBe(0);
    const mp = unpack(m.stdout) as { field: { $type: string; length: number; bytes: Uint8Array }; meta: { $type: string; entries: unknown[][] } };
    expect(mp.field).toMatchObject({ $type: 'Float64Array', length: 262_144 });
    expect(Buffer.from(mp.field.bytes).equals(Buffer.from(want.field.buffer))).toBe(true);
    expect(mp.meta).toEqual({ $type: 'Map', entries: [['n', 262_144]] });
  });

  it('-o writes a new file (never overwrites); --json then prints a summary', async () => {
    const dir = await tempDir();
    const out = join(dir, 'counter.json');
    const r = await runCli(['export', golden(2, 'multi'), '-p', 'counter', '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ provider: 'counter', format: 'json', output: out });
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual({ count: 42 });
    const again = await runCli(['export', golden(2, 'multi'), '-p', 'counter', '-o', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists; choose another output file/);
    expect(await readdir(dir)).toEqual(['counter.json']);
  });

  it('needs --provider when the image holds several; names them', async () => {
    const r = await runCli(['export', golden(2, 'multi')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ckpt: ${golden(2, 'multi')} holds 3 providers (counter, old-name, records); choose one with --provider <id>\n`);
  });

  it('exports from a fresh store image', async () => {
    const dir = await tempDir();
    const ids = await makeStore(dir, 1);
    const r = await runCli(['export', imagePath(dir, ids[0]!), '-p', 'config']);
    expect(JSON.parse(r.stdout)).toEqual({ rate: 0.5, name: 'heat', tags: ['a', 'b'] });
  });
});
