// `ckpt verify` of single images and whole stores: every problem is reported
// (not just the first), with its code and place; `--deep --app` plans the
// restore against the app's providers and runs the migrations in a dry run.
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDirs, damageSegment, type CliResult, ensureBuilt, golden, hasStack, imagePath, json, makeStore, runCli, tempDir, truncateFile } from './helpers.js';

beforeAll(ensureBuilt);
afterAll(cleanupDirs);

interface VerifyJson {
  ok: boolean;
  exitCode: number;
  kind: 'image' | 'store';
  restorePick?: string | null;
  images: {
    id: string;
    ok: boolean;
    status: string;
    segmentsChecked: number;
    providersDecoded: number;
    problems: { code: string; where: string; message: string }[];
    deep?: { ok: boolean; providers: { id: string; savedId: string | null; action: string; from: number | null; to: number | null; steps: number[]; ok: boolean; error: { code: string } | null }[] };
  }[];
}

describe('verify one image', () => {
  it('every good golden image of every format verifies (exit 0)', async () => {
    const names = ['values', 'classes', 'large', 'multi'];
    const runs = await Promise.all(([1, 2] as const).flatMap((v) => names.map((n) => runCli(['verify', golden(v, n)]))));
    for (const r of runs) {
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/: ok \(\d+ segments? checked, (\d+) of \1 providers? decoded\)/);
    }
    const j = json<VerifyJson>(await runCli(['verify', golden(1, 'large'), '--json']));
    expect(j).toMatchObject({ ok: true, exitCode: 0, kind: 'image' });
    expect(j.images[0]).toMatchObject({ ok: true, status: 'ok', segmentsChecked: 9, providersDecoded: 1, problems: [] });
  });

  it('a damaged segment: exit 2 and the problem as { code, where, message }', async () => {
    const r = await runCli(['verify', golden(2, 'broken-checksum'), '--json']);
    expect(r.code).toBe(2);
    const j = json<VerifyJson>(r);
    expect(j.ok).toBe(false);
    expect(j.images[0]!.problems).toEqual([{ code: 'CKPT_ERR_CORRUPT', where: 'segment 0', message: expect.stringContaining('segment 0 checksum mismatch') as unknown }]);
    const human = await runCli(['verify', golden(2, 'broken-checksum')]);
    expect(human.stdout).toContain('DAMAGED — 1 problem');
    expect(human.stdout).toMatch(/^ {2}CKPT_ERR_CORRUPT {2}segment 0: /m);
  });

  it('reports every problem, not just the first', async () => {
    const dir = await tempDir();
    const [id] = await makeStore(dir, 1);
    const path = imagePath(dir, id!);
    for (const n of [1, 2, 4]) await damageSegment(path, n);
    const r = await runCli(['verify', path, '--json']);
    expect(r.code).toBe(2);
    const img = json<VerifyJson>(r).images[0]!;
    expect(img.problems.map((p) => [p.code, p.where])).toEqual([
      ['CKPT_ERR_CORRUPT', 'segment 1'],
      ['CKPT_ERR_CORRUPT', 'segment 2'],
      ['CKPT_ERR_CORRUPT', 'segment 4'],
    ]);
    expect(img.providersDecoded).toBe(0);
  });

  it('unreadable images: truncated → 2, newer format or feature → 3, each with its problem', async () => {
    const runs = await Promise.all([golden(1, 'broken-truncated'), golden(1, 'broken-newer-format'), golden(2, 'broken-unknown-flag')].map((p) => runCli(['verify', p, '--json'])));
    expect(runs.map((r) => r.code)).toEqual([2, 3, 3]);
    expect(runs.map((r) => json<VerifyJson>(r).images[0]!.problems[0]!.code)).toEqual(['CKPT_ERR_CORRUPT', 'CKPT_ERR_FORMAT_NEWER', 'CKPT_ERR_UNSUPPORTED_FEATURE']);
    expect(runs.map((r) => json<VerifyJson>(r).images[0]!.status)).toEqual(['damaged', 'newer', 'newer']);
  });
});

describe('verify a store directory', () => {
  it('checks every image; the exit code is the most serious problem', async () => {
    const dir = await tempDir();
    const ids = await makeStore(dir, 4);
    await damageSegment(imagePath(dir, ids[3]!), 1);
    await truncateFile(imagePath(dir, ids[2]!), 500);
    await copyFile(golden(2, 'broken-newer-format'), imagePath(dir, '000000000009'));
    await writeFile(join(dir, '.tmp-000000000010-1-abcd.partial'), 'half');
    const r = await runCli(['verify', dir, '--json']);
    expect(r.code).toBe(2);
    const j = json<VerifyJson & { leftovers: string[] }>(r);
    expect(j.kind).toBe('store');
    expect(j.images.map((i) => [i.id, i.status])).toEqual([
      ['000000000009', 'newer'],
      [ids[3], 'damaged'],
      [ids[2], 'damaged'],
      [ids[1], 'ok'],
      [ids[0], 'ok'],
    ]);
    // restore() stops at an image newer than this ckpt instead of falling back.
    expect(j.restorePick).toBeNull();
    expect(j.leftovers).toEqual(['.tmp-000000000010-1-abcd.partial']);
    const human = await runCli(['verify', dir]);
    expect(human.stdout).toContain('2 ok, 3 with problems');
    expect(human.stdout).toContain('1 leftover temporary file');
  });

  it('an empty store verifies; a directory that is no store does not', async () => {
    const empty = await tempDir();
    const other = await tempDir();
    await writeFile(join(other, 'notes.txt'), 'x');
    const [e, o] = await Promise.all([runCli(['verify', empty]), runCli(['verify', other])]);
    expect(e.code).toBe(0);
    expect(e.stdout).toContain('0 images');
    expect(o.code).toBe(4);
    expect(o.stderr).toMatch(/^ckpt: .* is not a ckpt store: it holds no committed images/);
    expect(hasStack(o.stderr)).toBe(false);
  });
});

const APP_OK = `
export default function (ckpt) {
  ckpt.register({ id: 'counter', version: 2, migrations: { 2: (s) => ({ ...s, migrated: true }) }, snapshot: () => 0, restore: () => {} });
  ckpt.register({ id: 'labels', version: 2, aliases: ['old-name'], snapshot: () => 0, restore: () => {} });
  ckpt.register({ id: 'records', version: 3, tree: true, snapshot: () => 0, restore: () => {} });
}
`;

const APP_MIGRATION_THROWS = `
export function register(ckpt) {
  ckpt.register({ id: 'counter', version: 2, migrations: { 2: (s) => { if (s.count === 42) throw new Error('count 42 is not allowed'); return s; } }, snapshot: () => 0, restore: () => {} });
  ckpt.register({ id: 'labels', version: 2, aliases: ['old-name'], snapshot: () => 0, restore: () => {} });
  ckpt.register({ id: 'records', version: 3, tree: true, snapshot: () => 0, restore: () => {} });
}
`;

const APP_NO_STEP = `
export default async function (ckpt) {
  ckpt.register({ id: 'counter', version: 3, migrations: { 3: (s) => s }, snapshot: () => 0, restore: () => {} });
  ckpt.register({ id: 'labels', version: 2, aliases: ['old-name'], snapshot: () => 0, restore: () => {} });
  ckpt.register({ id: 'records', version: 3, tree: true, snapshot: () => 0, restore: () => {} });
}
export const options = { missingProviders: 'allow' };
`;

const APP_ROLLED_BACK = `
export default function (ckpt) {
  ckpt.register({ id: 'counter', version: 1, snapshot: () => 0, restore: () => {} });
  ckpt.register({ id: 'labels', version: 2, aliases: ['old-name'], snapshot: () => 0, restore: () => {} });
  ckpt.register({ id: 'records', version: 2, tree: true, snapshot: () => 0, restore: () => {} });
}
`;

describe('verify --deep --app', () => {
  it('plans the restore and runs migrations in a dry run (relative module path, from cwd)', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'providers.mjs'), APP_OK);
    const r = await runCli(['verify', golden(1, 'multi'), '--deep', '--app', './providers.mjs', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const deep = json<VerifyJson>(r).images[0]!.deep!;
    expect(deep.ok).toBe(true);
    expect(deep.providers.map((p) => [p.id, p.savedId, p.action, p.from, p.to, p.steps, p.ok])).toEqual([
      ['counter', 'counter', 'migrate', 1, 2, [2], true],
      ['labels', 'old-name', 'restore', 2, 2, [], true],
      ['records', 'records', 'restore', 3, 3, [], true],
    ]);
    const human = await runCli(['verify', golden(2, 'multi'), '--app', 'providers.mjs'], { cwd: dir });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('plan counter: migrate 1 → 2 (step 2) ok');
    expect(human.stdout).toContain('plan labels (saved as "old-name"): restore at version 2 ok');
  });

  it('app-level problems: failed migration and missing step → 7, state newer than the code → 3', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'throws.mjs'), APP_MIGRATION_THROWS);
    await writeFile(join(dir, 'nostep.mjs'), APP_NO_STEP);
    await writeFile(join(dir, 'rolledback.mjs'), APP_ROLLED_BACK);
    const run = (m: string): Promise<CliResult> => runCli(['verify', golden(2, 'multi'), '--deep', '--app', `${m}.mjs`, '--json'], { cwd: dir });
    const [throws, nostep, rolled] = await Promise.all([run('throws'), run('nostep'), run('rolledback')]);
    expect(throws.code).toBe(7);
    const t = json<VerifyJson>(throws).images[0]!;
    expect(t.problems).toEqual([{ code: 'CKPT_ERR_MIGRATION_FAILED', where: 'provider "counter"', message: expect.stringContaining('count 42 is not allowed') as unknown }]);
    expect(t.deep!.providers[0]).toMatchObject({ id: 'counter', action: 'migrate', ok: false });
    expect(nostep.code).toBe(7);
    expect(json<VerifyJson>(nostep).images[0]!.problems.map((p) => p.code)).toEqual(['CKPT_ERR_NO_MIGRATION']);
    expect(rolled.code).toBe(3);
    expect(json<VerifyJson>(rolled).images[0]!.problems.map((p) => [p.code, p.where])).toEqual([['CKPT_ERR_VERSION_NEWER', 'provider "records"']]);
  });

  it('a store: classes the app does not register are found by decoding with the app', async () => {
    const dir = await tempDir();
    const store = join(dir, 'store');
    await makeStore(store, 2);
    await writeFile(
      join(dir, 'app.mjs'),
      `export default (ckpt) => { ckpt.register({ id: 'grid', snapshot: () => 0, restore: () => {} }); ckpt.register({ id: 'config', version: 2, snapshot: () => 0, restore: () => {} }); };`,
    );
    const ok = await runCli(['verify', store, '--app', 'app.mjs', '--json'], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(json<VerifyJson>(ok).images.every((i) => i.deep?.ok === true)).toBe(true);
    const cls = await runCli(['verify', golden(2, 'classes'), '--app', 'app.mjs', '--json'], { cwd: dir });
    expect(cls.code).toBe(7);
    expect(json<VerifyJson>(cls).images[0]!.problems.map((p) => p.code)).toEqual(['CKPT_ERR_UNKNOWN_CLASS', 'CKPT_ERR_UNKNOWN_PROVIDER', 'CKPT_ERR_MISSING_PROVIDER']);
  });

  it('the module may be .js (ES syntax) or CommonJS .cjs', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'providers.js'), APP_OK);
    await writeFile(
      join(dir, 'providers.cjs'),
      `module.exports = function (ckpt) {\n${APP_OK.split('\n').filter((l) => l.startsWith('  ckpt.')).join('\n')}\n};\n`,
    );
    const runs = await Promise.all(['./providers.js', 'providers.cjs'].map((m) => runCli(['verify', golden(1, 'multi'), '--app', m], { cwd: dir })));
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('plan counter: migrate 1 → 2 (step 2) ok');
    }
  });

  it('bad --app modules: one line each, exit 7; --deep without --app is a usage error', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'none.mjs'), 'export const x = 1;');
    await writeFile(join(dir, 'throws.mjs'), 'throw new Error("cannot reach the database");');
    await writeFile(join(dir, 'empty.mjs'), 'export default () => {};');
    const cases: [string[], number, RegExp][] = [
      [['--app', 'missing.mjs'], 7, /--app missing\.mjs: no such file \(resolved to .*missing\.mjs\); the path is relative to the current directory/],
      [['--app', 'none.mjs'], 7, /--app none\.mjs: it must export a function that registers providers, e\.g\. export default function \(ckpt\)/],
      [['--app', 'throws.mjs'], 7, /--app throws\.mjs failed to load: cannot reach the database/],
      [['--app', 'empty.mjs'], 7, /--app empty\.mjs registered no provider/],
      [['--deep'], 1, /--deep needs --app <module>/],
    ];
    const runs = await Promise.all(cases.map(([extra]) => runCli(['verify', golden(2, 'multi'), ...extra], { cwd: dir })));
    runs.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(cases[i]![1]);
      expect(r.stderr).toMatch(cases[i]![2]);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(hasStack(r.stderr)).toBe(false);
    });
  });
});
