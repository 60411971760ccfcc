/**
 * States the library accepts must print, diff and export whatever their
 * depth (the walkers are iterative); huge BigInts must not hang; output is
 * all or nothing; text from an image is escaped on the terminal.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpointer } from '../../src/index.js';
import { cleanupDirs, ensureBuilt, imagePath, runCli, tempDir } from './helpers.js';

/** A chain `depth` containers deep, cycling through array, object, Map and Set. */
function deepState(depth: number, leaf: unknown): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) {
    switch (i % 4) {
      case 0:
        v = [v];
        break;
      case 1:
        v = { k: v };
        break;
      case 2:
        v = new Map([['m', v]]);
        break;
      default:
        v = new Set([v]);
    }
  }
  return v;
}

async function writeImage(dir: string, states: Record<string, unknown>, manifest: { label?: string; meta?: Record<string, string> } = {}): Promise<string> {
  const ckpt = new Checkpointer({ store: dir, app: 'deep-test', signals: false });
  for (const [id, state] of Object.entries(states)) ckpt.register({ id, version: 1, snapshot: () => state, restore: () => undefined });
  const info = await ckpt.checkpoint({ step: 1, ...(manifest.label === undefined ? {} : { label: manifest.label }), ...(manifest.meta === undefined ? {} : { meta: manifest.meta }) });
  await ckpt.close();
  return imagePath(dir, info.id);
}

const DEPTH = 1400;
let deepA: string;
let deepB: string;

beforeAll(async () => {
  await ensureBuilt();
  deepA = await writeImage(await tempDir(), { s: deepState(DEPTH, 1) });
  deepB = await writeImage(await tempDir(), { s: deepState(DEPTH, 2) });
}, 60_000);
afterAll(cleanupDirs);

describe(`states ${DEPTH} containers deep`, () => {
  it('export prints complete JSON that parses back', async () => {
    const r = await runCli(['export', deepA]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    let v: unknown = JSON.parse(r.stdout);
    let levels = 0;
    while (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      v = Array.isArray(o) ? o[0] : o['$type'] === 'Map' ? (o['entries'] as unknown[][])[0]![1] : o['$type'] === 'Set' ? (o['values'] as unknown[])[0] : o['k'];
      levels++;
    }
    expect(levels).toBe(DEPTH);
    expect(v).toBe(1);
  });

  it('export -o writes the whole file', async () => {
    const dir = await tempDir();
    const target = join(dir, 'out.json');
    const r = await runCli(['export', deepA, '-o', target]);
    expect(r.code).toBe(0);
    expect(() => JSON.parse(r.stdout === '' ? '{}' : '{}') as unknown).not.toThrow();
    expect(JSON.parse(await readFile(target, 'utf8'))).toBeTypeOf('object');
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('inspect --provider prints the state, and --json is complete', async () => {
    const r = await runCli(['inspect', deepA, '--provider', 's']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('Map(1)').length - 1).toBe(DEPTH / 4);
    const j = await runCli(['inspect', deepA, '--provider', 's', '--json']);
    expect(j.code).toBe(0);
    expect((JSON.parse(j.stdout) as { state: unknown }).state).toBeTypeOf('object');
  });

  it('diff finds the one differing leaf at the bottom', async () => {
    const r = await runCli(['diff', deepA, deepB, '--json']);
    expect(r.code).toBe(6);
    expect(r.stdout).toContain('"a": "1"');
    expect(r.stdout).toContain('"b": "2"');
  });
});

describe('huge BigInts', () => {
  it('export writes them as hex, inspect and diff show them cut', async () => {
    const big = (1n << 200_000n) + 12345n;
    const a = await writeImage(await tempDir(), { s: { big } });
    const b = await writeImage(await tempDir(), { s: { big: big + 1n } });
    const e = await runCli(['export', a]);
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout)).toEqual({ big: { $type: 'bigint', hex: big.toString(16) } });
    const i = await runCli(['inspect', a, '--provider', 's']);
    expect(i.code).toBe(0);
    expect(i.stdout).toContain('0x1000000000000000…n (200001 bits)');
    const d = await runCli(['diff', a, b]);
    expect(d.code).toBe(6);
    expect(d.stdout).toContain('(200001 bits)');
  });
});

describe('terminal escapes from an image', () => {
  const hostile = 'x\u001b]0;pwned\u0007\u001b[2J\nOK fake\u009b\u202e\u2028';
  it('ls, inspect, inspect --provider and diff escape labels, meta, keys and strings', async () => {
    const dir = await tempDir();
    const path = await writeImage(dir, { p: { [`k${hostile}`]: `v${hostile}` } }, { label: `l${hostile}`, meta: { [`m${hostile}`]: `v${hostile}` } });
    const other = await writeImage(await tempDir(), { p: { [`k${hostile}`]: 'plain' } });
    for (const args of [['ls', dir], ['inspect', path], ['inspect', path, '--provider', 'p'], ['diff', path, other]]) {
      const r = await runCli(args);
      // eslint-disable-next-line no-control-regex
      expect(r.stdout + r.stderr, args[0]).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202e]/);
      expect(r.stdout, args[0]).not.toMatch(/^OK fake/m);
      expect(r.stdout, args[0]).toMatch(/\\(x1b|u001b)/);
    }
    // JSON stays exact.
    const j = await runCli(['inspect', path, '--json']);
    expect((JSON.parse(j.stdout) as { manifest: { label: string } }).manifest.label).toBe(`l${hostile}`);
  });
});
