// `ckpt inspect` against the golden images of every format version, and
// every kind of bad input (missing, directory, not an image, truncated,
// damaged, newer) with its exit code and one-line message.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classesState, largeState } from '../fixtures/images/expected.js';
import { cleanupDirs, ensureBuilt, golden, hasStack, json, makeStore, ROOT, runCli, tempDir } from './helpers.js';

beforeAll(ensureBuilt);
afterAll(cleanupDirs);

describe.each([1, 2] as const)('inspect, format %i golden images', (v) => {
  it('shows header, manifest, providers and segments', async () => {
    const r = await runCli(['inspect', golden(v, 'values')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`format\\s+${v} \\(${v === 2 ? 'current' : "current is 2; 'ckpt convert' upgrades it"}\\)`));
    expect(r.stdout).toMatch(/step\s+100/);
    expect(r.stdout).toMatch(/label\s+values/);
    expect(r.stdout).toMatch(/app\s+golden/);
    expect(r.stdout).toMatch(v === 2 ? /hostname\s+golden-host/ : /hostname\s+-/);
    expect(r.stdout).toMatch(v === 2 ? /meta\s+purpose="golden", n=1/ : /meta\s+-/);
    expect(r.stdout).toMatch(/^ {2}values\s+1\s+identity\s+/m);
    expect(r.stdout).toMatch(/segments \(1\): .* raw, .* stored, ratio \d+\.\d\dx/);
  });

  it('--json: the same facts, machine-readable', async () => {
    const r = await runCli(['inspect', golden(v, 'multi'), '--json']);
    expect(r.code).toBe(0);
    const j = json<{
      header: { formatVersion: number };
      manifest: { step: number; label: string; hostname: string | null };
      providers: { id: string; version: number; tree: boolean; rawBytes: number; storedBytes: number; ratio: number }[];
      segments: { count: number; rawBytes: number; storedBytes: number };
      index: { offset: number; length: number };
      bytes: number;
    }>(r);
    expect(j.header.formatVersion).toBe(v);
    expect(j.manifest).toMatchObject({ step: 100, label: 'multi', hostname: v === 2 ? 'golden-host' : null });
    expect(j.providers.map((p) => [p.id, p.version, p.tree])).toEqual([
      ['counter', 1, false],
      ['old-name', 2, false],
      ['records', 3, true],
    ]);
    expect(j.segments.count).toBe(3);
    expect(j.segments.rawBytes).toBe(j.providers.reduce((n, p) => n + p.rawBytes, 0));
    expect(j.index.offset + j.index.length + 40).toBe(j.bytes);
  });

  it('--segments lists every segment with its owner', async () => {
    const r = await runCli(['inspect', golden(v, 'large'), '--segments', '--json']);
    const list = json<{ segments: { count: number; list: { n: number; provider: string; run: string; codec: string }[] } }>(r).segments;
    expect(list.count).toBe(9);
    expect(list.list[0]).toMatchObject({ n: 0, provider: 'large', run: 'stream' });
    expect(list.list.slice(1).every((s) => s.run === 'blob 0')).toBe(true);
    const human = await runCli(['inspect', golden(v, 'large'), '--segments']);
    expect(human.stdout).toMatch(/^ {2}8\s+\d+\s+\d+\s+262144\s+zstd\s+[0-9a-f]{8}\s+large blob 0$/m);
  });

  it('--provider prints decoded state readably: every value kind', async () => {
    const r = await runCli(['inspect', golden(v, 'values'), '--provider', 'values']);
    expect(r.code).toBe(0);
    for (const s of ['-0', 'NaN', '-Infinity', '18446744073709551616n', 'Date(Invalid)', 'Map(4) {', 'NaN => "nan"', 'Set(3) ["a", 1, null]', '/ab+c/gi', '<hole>', '<3 holes>', '[null prototype] { k: "v" }', '"__proto__": "plain"', 'Int8Array(3) [-128, 0, 127]', 'Buffer(12) <62 75 66', 'ArrayBuffer(4) <01 02 03 04>', 'DataView(3) <09 08 07>', '…" (300 chars)']) {
      expect(r.stdout).toContain(s);
    }
  });

  it('--provider shows shared references, cycles and class names', async () => {
    const r = await runCli(['inspect', golden(v, 'classes'), '-p', 'classes']);
    expect(r.stdout).toContain('right: <ref → left>');
    expect(r.stdout).toContain('a: <cycle → cycle>');
    expect(r.stdout).toContain('fixture.Particle { x: 3, y: 4, tag: "p1" }');
    expect(r.stdout).toContain('<ref → particles[0]>');
    expect(classesState()['self']).toBeNull();
  });

});

describe('inspect --provider of large state', () => {
  it('summarises typed arrays; --full prints every element', async () => {
    const v = 1;
    const want = largeState().field;
    const [sum, full, j] = await Promise.all([
      runCli(['inspect', golden(v, 'large'), '-p', 'large']),
      runCli(['inspect', golden(v, 'large'), '-p', 'large', '--full']),
      runCli(['inspect', golden(v, 'large'), '-p', 'large', '--json']),
    ]);
    expect(sum.stdout).toMatch(/field: Float64Array\(262144\) \{ min: -299\.99\d*, max: 300\.15\d*, first: \[0, 0\.30999\d*, .*, …\] \}/);
    expect(sum.stdout.length).toBeLessThan(2000);
    expect(full.stdout.length).toBeGreaterThan(262_144 * 4);
    expect(full.stdout).toContain(String(want[262_143]));
    const state = json<{ state: { field: { $type: string; length: number; min: number; max: number; first: number[]; summary: boolean } } }>(j).state;
    expect(state.field).toMatchObject({ $type: 'Float64Array', length: 262_144, summary: true });
    expect(state.field.first).toEqual(Array.from(want.subarray(0, 8)));
  });
});

describe('inspect: bad input', () => {
  it('an unknown provider: exit 1, names the providers there', async () => {
    const r = await runCli(['inspect', golden(2, 'multi'), '-p', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ckpt: ${golden(2, 'multi')} has no provider "nope"; it holds: counter, old-name, records\n`);
  });

  it('each bad input gets one line, its exit code and no stack trace', async () => {
    const dir = await tempDir();
    await makeStore(dir, 2);
    const cases: [string[], number, RegExp][] = [
      [['inspect', join(dir, 'missing.ckpt')], 4, /missing\.ckpt: no such file or directory; check the image path/],
      [['inspect', dir], 1, /is a directory; 'ckpt inspect' takes one image file, e\.g\. .*000000000002\.ckpt \(the newest image there\)/],
      [['inspect', join(ROOT, 'package.json')], 2, /package\.json is not a ckpt image .*; pass an image file written by ckpt/],
      [['inspect', golden(1, 'broken-truncated')], 2, /truncated or was not completely written; restore\(\) skips damaged images; 'ckpt verify' lists every problem/],
      [['inspect', golden(2, 'broken-newer-format')], 3, /format version 99, but this ckpt reads format versions up to 5; upgrade ckpt/],
      [['inspect', golden(2, 'broken-unknown-flag')], 3, /required flags 0x80\); upgrade ckpt/],
      [['inspect', golden(2, 'broken-checksum'), '-p', 'values'], 2, /segment 0 checksum mismatch; the image is damaged/],
      [['inspect', golden(2, 'values'), '--full'], 1, /--full needs --provider/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => {
      const [args, code, re] = cases[i]!;
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^ckpt: /);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
      expect(hasStack(r.stderr)).toBe(false);
    });
  });

  it('a damaged segment does not stop inspect (it reads only metadata)', async () => {
    const r = await runCli(['inspect', golden(2, 'broken-checksum')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/label\s+values/);
  });

  it('--json on a bad input: error document on stdout, line on stderr', async () => {
    const r = await runCli(['inspect', golden(2, 'broken-newer-format'), '--json']);
    expect(r.code).toBe(3);
    expect(json(r)).toMatchObject({ error: { code: 'CKPT_ERR_FORMAT_NEWER', exitCode: 3 } });
    expect(r.stderr).toMatch(/^ckpt: .*format version 99/);
  });
});
