#!/usr/bin/env node
// `npm run check:tarball`: what a user installs works. Packs the package
// (npm pack; build first), unpacks it into a scratch app whose other
// dependencies link to this checkout's node_modules (no network), then:
// relative links in the packed markdown resolve inside the tarball; the
// package imports from ESM and (Node ≥ 20.19) requires from CommonJS; the
// README quick start runs uninterrupted, and again killed with SIGKILL after
// its second checkpoint and resumed — both final lines must match.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const problems = [];

function sh(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

async function mdFiles(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'node_modules') out.push(...(await mdFiles(p)));
    else if (e.name.endsWith('.md')) out.push(p);
  }
  return out;
}

function runQuickStart(app, file, killAfterCheckpoints) {
  return new Promise((done) => {
    const child = spawn(process.execPath, [file], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let seen = 0;
    child.stdout.on('data', (d) => {
      out += d;
      seen = (out.match(/^checkpoint at step/gm) ?? []).length;
      if (killAfterCheckpoints !== undefined && seen >= killAfterCheckpoints) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('close', (code, signal) => { clearTimeout(timer); done({ code, signal, out }); });
  });
}

const work = await mkdtemp(join(tmpdir(), 'ckpt-tarball-'));
try {
  const [{ filename }] = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', work], root));
  const app = join(work, 'app');
  const pkg = join(app, 'node_modules', 'ckpt');
  await mkdir(pkg, { recursive: true });
  sh('tar', ['-xzf', join(work, filename), '-C', pkg, '--strip-components=1'], work);

  // Relative links in the packed docs must resolve inside the package.
  for (const md of await mdFiles(pkg)) {
    const text = await readFile(md, 'utf8');
    for (const m of text.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)) {
      const target = m[1];
      if (/^[a-z]+:/i.test(target)) continue;
      if (!existsSync(resolve(dirname(md), target))) problems.push(`${md.slice(pkg.length + 1)}: link ${target} does not resolve inside the package`);
    }
  }

  // Dependencies from this checkout's install (offline).
  const manifest = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8'));
  for (const dep of Object.keys(manifest.dependencies ?? {})) {
    await mkdir(dirname(join(app, 'node_modules', dep)), { recursive: true });
    await symlink(join(root, 'node_modules', dep), join(app, 'node_modules', dep), 'dir');
  }
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }));

  const esm = spawnSync(process.execPath, ['--input-type=module', '-e', "import { Checkpointer } from 'ckpt'; import { openImageFile } from 'ckpt/format'; import { runStoreConformance } from 'ckpt/testing'; console.log(typeof Checkpointer, typeof openImageFile, typeof runStoreConformance);"], { cwd: app, encoding: 'utf8' });
  if (esm.stdout.trim() !== 'function function function') problems.push(`ESM import failed: ${esm.stderr}`);
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19)) {
    const cjs = spawnSync(process.execPath, ['--input-type=commonjs', '-e', "const { Checkpointer } = require('ckpt'); console.log(typeof Checkpointer);"], { cwd: app, encoding: 'utf8' });
    if (cjs.stdout.trim() !== 'function') problems.push(`require('ckpt') failed on Node ${process.versions.node}: ${cjs.stderr}`);
  }

  // The README quick start, as packed, run to the end and killed-and-resumed.
  const quick = sh(process.execPath, [join(root, 'scripts', 'check-snippets.mjs'), '--files', join(pkg, 'README.md'), '--print', 'quick-start'], root);
  const js = ts.transpileModule(quick, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  for (const name of ['a', 'b']) {
    await mkdir(join(app, name));
    await writeFile(join(app, name, 'quick-start.mjs'), js);
  }
  const ref = await runQuickStart(join(app, 'a'), 'quick-start.mjs');
  const killed = await runQuickStart(join(app, 'b'), 'quick-start.mjs', 2);
  const resumed = await runQuickStart(join(app, 'b'), 'quick-start.mjs');
  const last = (r) => r.out.trim().split('\n').at(-1);
  if (ref.code !== 0) problems.push(`quick start failed: ${ref.out}`);
  if (killed.signal !== 'SIGKILL') problems.push(`quick start was not killed mid-run (exit ${killed.code}); it finished too soon to test a resume`);
  if (!/^resumed at step/m.test(resumed.out)) problems.push(`the restarted quick start did not resume: ${resumed.out}`);
  if (last(ref) !== last(resumed)) problems.push(`resumed quick start ended with "${last(resumed)}", the uninterrupted run with "${last(ref)}"`);
  else console.log(`quick start: uninterrupted and killed-then-resumed runs both end with "${last(ref)}"`);
} finally {
  await rm(work, { recursive: true, force: true });
}
for (const p of problems) console.error(`check-tarball: ${p}`);
console.log(problems.length === 0 ? 'check-tarball: ok' : `check-tarball: ${problems.length} problem(s)`);
process.exitCode = problems.length === 0 ? 0 : 1;
