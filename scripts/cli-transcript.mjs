#!/usr/bin/env node
/**
 * Regenerates the session transcript in docs/cli.md (between the
 * `<!-- transcript:start -->` and `<!-- transcript:end -->` markers) by
 * running the built `ckpt` command for real: it makes a store with a
 * Checkpointer from dist/, runs every command against it (including the
 * failure cases) and writes what they printed and how they exited.
 *
 *   npm run docs:cli      # = npm run build && node scripts/cli-transcript.mjs
 *   node scripts/cli-transcript.mjs --check   # exit 1 if docs/cli.md is out of date
 *
 * The store is written with a fixed clock (images are created one minute
 * apart from 2026-01-05 09:00 UTC), so the transcript only changes when the
 * tool's behaviour does. Everything else is real output.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(ROOT, 'dist/cli/main.js');
const DOC = join(ROOT, 'docs/cli.md');
const START = '<!-- transcript:start -->';
const END = '<!-- transcript:end -->';

if (!existsSync(MAIN)) {
  console.error('scripts/cli-transcript.mjs: dist/cli/main.js is missing; run `npm run build` first (or `npm run docs:cli`)');
  process.exit(1);
}

// A fixed clock for the images' createdAt (only in this process, not in the CLI).
const RealDate = Date;
let tick = 0;
const BASE = RealDate.UTC(2026, 0, 5, 9, 0, 0);
globalThis.Date = class extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(BASE + 60_000 * tick++);
    else super(...args);
  }
  static now() {
    return BASE + 60_000 * tick;
  }
};

const { Checkpointer } = await import(join(ROOT, 'dist/index.js'));
const { openImageFile } = await import(join(ROOT, 'dist/format/index.js'));

const work = await mkdtemp(join(tmpdir(), 'ckpt-transcript-'));
try {
  const store = join(work, 'checkpoints');
  await mkdir(store);

  // The application: a small heat simulation with a config provider.
  const sim = { grid: new Float64Array(50_000), step: 0, rng: Uint32Array.of(1, 2, 3, 4) };
  let config = { rate: 0.25, name: 'heat', boundary: 'fixed' };
  const ckpt = new Checkpointer({ store, app: 'heat-sim', signals: false });
  ckpt.register({ id: 'sim', version: 1, snapshot: () => sim, restore: () => {} });
  ckpt.register({ id: 'config', version: 1, snapshot: () => config, restore: () => {} });
  for (let i = 1; i <= 4; i++) {
    sim.step = i * 1000;
    for (let j = 0; j < sim.grid.length; j++) sim.grid[j] = Math.round(1000 * Math.sin(j / 400) * Math.exp(-i / 10)) / 1000;
    sim.rng[0] = i * 7;
    if (i === 4) config = { ...config, rate: 0.5 };
    await ckpt.checkpoint({ step: sim.step, ...(i === 2 ? { label: 'before-deploy' } : {}) });
  }
  await ckpt.close();

  // The next release of the app: sim state version 2 adds `dt`.
  await writeFile(
    join(work, 'providers.mjs'),
    `// What the app registers (the module --app loads)
export default function (ckpt) {
  ckpt.register({
    id: 'sim',
    version: 2,
    migrations: { 2: (s) => ({ ...s, dt: 0.01 }) },
    snapshot: () => undefined,
    restore: () => {},
  });
  ckpt.register({ id: 'config', version: 1, snapshot: () => undefined, restore: () => {} });
}
`,
  );
  await writeFile(join(work, 'notes.txt'), 'not an image\n');
  await mkdir(join(work, 'logs'));
  await writeFile(join(work, 'logs', 'run.log'), 'x\n');

  const blocks = [];
  const run = (args, note) => {
    let stdout = '';
    let stderr = '';
    let code = 0;
    try {
      stdout = execFileSync(process.execPath, [MAIN, ...args], { cwd: work, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    } catch (err) {
      if (typeof err.status !== 'number') throw err;
      code = err.status;
      stdout = err.stdout ?? '';
      stderr = err.stderr ?? '';
    }
    const text = `${stdout}${stderr}`.replaceAll(work, '/home/me/sim').replace(/\s+$/, '');
    blocks.push({ note, command: `$ ckpt ${args.join(' ')}`, text, code });
  };
  const section = (title, intro) => blocks.push({ title, intro });

  section('Look at a store', 'A store directory as a Checkpointer left it: four images, newest first. `*` marks what `restore()` would pick.');
  run(['ls', 'checkpoints']);
  run(['inspect', 'checkpoints/000000000004.ckpt']);
  run(['inspect', 'checkpoints/000000000004.ckpt', '--provider', 'sim']);
  section('Compare two images');
  run(['diff', 'checkpoints/000000000003.ckpt', 'checkpoints/000000000004.ckpt']);
  section('Check images', 'A disk error flips bytes in the middle of the newest image (this script does it on purpose).');
  const newest = join(store, '000000000004.ckpt');
  const img = await openImageFile(newest);
  const seg = img.index.segments[1];
  await img.close();
  const fh = await open(newest, 'r+');
  await fh.write(Buffer.from([0xde, 0xad]), 0, 2, seg.offset + Math.floor(seg.storedLength / 2));
  await fh.close();
  run(['ls', 'checkpoints']);
  run(['verify', 'checkpoints']);
  run(['verify', 'checkpoints/000000000003.ckpt', '--deep', '--app', './providers.mjs']);
  run(['verify', 'checkpoints/000000000003.ckpt', '--json']);
  section('Convert and export');
  run(['convert', 'checkpoints/000000000001.ckpt', 'first-v1.ckpt', '--to', '1']);
  run(['convert', 'first-v1.ckpt', '--dry-run']);
  run(['export', 'checkpoints/000000000003.ckpt', '--provider', 'config']);
  section('Clean up', 'Keeping only the last image would keep just the damaged one: the newest valid image survives in addition.');
  run(['prune', 'checkpoints', '--keep-last', '1', '--dry-run']);
  run(['prune', 'checkpoints', '--keep-last', '1']);
  // An incremental store: each checkpoint changes one block of the grid, so
  // later images refer to the unchanged segments held by older ones.
  {
    const field = new Float64Array(4 * 8192);
    let seed = 1;
    for (let j = 0; j < field.length; j++) field[j] = (seed = (seed * 48271) % 2147483647) / 2147483647; // noise: segments do not compress away
    let step = 0;
    const incr = new Checkpointer({ store: join(work, 'incremental'), app: 'heat-sim', incremental: { fullEvery: 8 }, segmentSize: 64 * 1024, signals: false });
    incr.register({ id: 'field', version: 1, snapshot: () => ({ step, field }), restore: () => {} });
    for (let i = 1; i <= 4; i++) {
      step = i * 1000;
      field.fill(i, (i % 4) * 8192, (i % 4) * 8192 + 500);
      await incr.checkpoint({ step });
    }
    await incr.close();
  }
  section(
    'Incremental images',
    'A store written with `incremental: true`: `incr` images refer to unchanged segments held by older images. Retention keeps (pins) what a kept image refers to; `compact` writes a full image so the older ones can go (see retention.md).',
  );
  run(['ls', 'incremental']);
  run(['prune', 'incremental', '--keep-last', '1', '--dry-run', '--explain']);
  run(['compact', 'incremental']);
  run(['prune', 'incremental', '--keep-last', '1']);
  section('Bad input', 'One line on stderr saying what is wrong and what to do; the exit code says what kind of problem it is.');
  run(['inspect', 'checkpoint/000000000003.ckpt']);
  run(['inspect', 'checkpoints']);
  run(['inspect', 'notes.txt']);
  run(['ls', 'logs']);
  run(['verify', 'checkpoints/000000000004.ckpt', '--deep']);
  run(['prune', 'checkpoints', '--keep-last', 'two']);

  let md = '';
  for (const b of blocks) {
    if (b.title !== undefined) {
      md += `### ${b.title}\n\n${b.intro === undefined ? '' : `${b.intro}\n\n`}`;
      continue;
    }
    md += '```console\n' + b.command + '\n' + (b.text === '' ? '' : `${b.text}\n`) + (b.code === 0 ? '' : `[exit ${b.code}]\n`) + '```\n\n';
  }
  const doc = await readFile(DOC, 'utf8');
  const s = doc.indexOf(START);
  const e = doc.indexOf(END);
  if (s === -1 || e === -1 || e < s) throw new Error(`docs/cli.md has no ${START} … ${END} section`);
  const next = `${doc.slice(0, s + START.length)}\n<!-- generated by scripts/cli-transcript.mjs (npm run docs:cli); do not edit by hand -->\n\n${md.trimEnd()}\n\n${doc.slice(e)}`;
  if (process.argv.includes('--check')) {
    if (next !== doc) {
      console.error('docs/cli.md is out of date: run `npm run docs:cli`');
      process.exitCode = 1;
    } else console.log('docs/cli.md transcript is up to date');
  } else {
    await writeFile(DOC, next);
    console.log(`docs/cli.md: transcript of ${blocks.filter((b) => b.command !== undefined).length} commands written`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
