#!/usr/bin/env node
// `npm run check:snippets`: every ts/js code block in README.md and docs/*.md
// is a tested artifact. Each block is written to its own module in a scratch
// project whose node_modules/ckpt links to this package (so `import … from
// 'ckpt'` resolves through package.json "exports", against the built dist/),
// type-checked under `strict` with `module: nodenext`, and — unless marked
// otherwise — run, each in its own empty working directory.
//
// Directives are HTML comments on the line(s) right before a block:
//   <!-- snippet: no-run -->        type-check only (needs a server, runs forever, …)
//   <!-- snippet: name=quick-start -->  a name other scripts extract it by (--print NAME)
//   <!-- snippet: prelude
//   declare function simulate(grid: Float64Array): void;
//   -->                             hidden lines prepended to the block (declarations
//                                   a fragment relies on); implies no-run when it declares
//   <!-- snippet: module=./model.js
//   export declare class Particle { x: number }
//   -->                             the types of a module the block imports that is the
//                                   reader's own (an app's ./model.js, a test runner): the
//                                   lines are written as that module's declaration file
//                                   (a relative specifier: next to the block; a package
//                                   name: `declare module '…' { … }`), so the block is
//                                   type-checked against them instead of left unchecked
// Several words may share one comment: <!-- snippet: no-run name=x -->.
//
// Usage: node scripts/check-snippets.mjs [--files a.md b.md] [--no-run] [--list] [--print NAME]
// Exit status: 0 when every block type-checks and every runnable block exits 0; 1 otherwise.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUN_TIMEOUT_MS = 120_000;
const LANGS = new Map([['ts', 'ts'], ['typescript', 'ts'], ['js', 'mjs'], ['javascript', 'mjs'], ['mjs', 'mjs']]);

function parseArgs(argv) {
  const opts = { files: undefined, run: true, list: false, print: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--files') {
      opts.files = [];
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) opts.files.push(resolve(argv[++i]));
    } else if (a === '--no-run') opts.run = false;
    else if (a === '--list') opts.list = true;
    else if (a === '--print') opts.print = argv[++i];
    else throw new Error(`check-snippets: unknown argument ${a}`);
  }
  return opts;
}

async function defaultFiles() {
  const docs = (await readdir(join(root, 'docs'))).filter((f) => f.endsWith('.md')).sort();
  return [join(root, 'README.md'), ...docs.map((f) => join(root, 'docs', f))];
}

/** Every fenced ts/js block of one markdown file, with the directives before it. */
export function extractSnippets(text, file) {
  const lines = text.split('\n');
  const out = [];
  let pending = { words: [], prelude: [], modules: [] };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const directive = /^\s*<!--\s*snippet:(.*)$/.exec(line);
    if (directive) {
      let rest = directive[1];
      const body = [];
      if (rest.includes('-->')) rest = rest.slice(0, rest.indexOf('-->'));
      else {
        while (++i < lines.length && !lines[i].includes('-->')) body.push(lines[i]);
        if (i >= lines.length) throw new Error(`${file}:${i}: unterminated <!-- snippet: comment`);
      }
      const words = rest.trim().split(/\s+/).filter(Boolean);
      const mod = words.find((w) => w.startsWith('module='));
      if (mod !== undefined) {
        if (words.length !== 1) throw new Error(`${file}:${i + 1}: a module= comment holds only that word (its lines are the module's declarations)`);
        pending = { ...pending, modules: [...pending.modules, { specifier: mod.slice('module='.length), lines: body }] };
      } else {
        pending = { ...pending, words: [...pending.words, ...words], prelude: [...pending.prelude, ...body] };
      }
      continue;
    }
    const fence = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(line);
    if (fence) {
      const [, indent, marker, lang] = fence;
      const start = i + 1;
      const code = [];
      while (++i < lines.length && !(lines[i].trim().startsWith(marker) && lines[i].trim().replace(/[`~]/g, '') === '')) {
        code.push(lines[i].startsWith(indent) ? lines[i].slice(indent.length) : lines[i]);
      }
      const ext = LANGS.get(lang.toLowerCase());
      if (ext !== undefined) {
        const words = new Set(pending.words.filter((w) => !w.includes('=')));
        const named = pending.words.find((w) => w.startsWith('name='));
        for (const w of words) {
          if (w !== 'no-run' && w !== 'prelude') throw new Error(`${file}:${start}: unknown snippet directive "${w}" (known: no-run, name=…, prelude, module=…)`);
        }
        out.push({
          file,
          line: start + 1, // first code line, 1-based
          ext,
          code: code.join('\n'),
          prelude: pending.prelude,
          modules: pending.modules,
          run: !words.has('no-run') && pending.modules.length === 0,
          name: named?.slice('name='.length),
        });
      }
      pending = { words: [], prelude: [], modules: [] };
      continue;
    }
    if (line.trim() !== '') pending = { words: [], prelude: [], modules: [] };
  }
  return out;
}

function tsconfig() {
  return {
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2023'],
      module: 'nodenext',
      moduleResolution: 'nodenext',
      types: ['node'],
      strict: true,
      allowJs: true,
      checkJs: true,
      skipLibCheck: false,
      outDir: 'out',
      rootDir: 'src',
      noEmitOnError: false,
    },
    include: ['src'],
  };
}

/**
 * Where and what to write for one module= declaration of block `m`: a
 * relative specifier becomes a `.d.ts` beside the block (`./model.js` →
 * `model.d.ts`), a package name an ambient `declare module`.
 */
function moduleStub(dir, m, mod, n) {
  const blockDir = dirname(m.src);
  const own = join(dir, 'src', m.base);
  if (mod.specifier.startsWith('.')) {
    const path = resolve(blockDir, mod.specifier.replace(/\.(m?js|ts)$/, '')) + '.d.ts';
    if (!path.startsWith(`${own}/`)) throw new Error(`${relative(root, m.file)}:${m.line}: module=${mod.specifier} leaves the block's folder (at most one ../)`);
    return { path, text: mod.lines.join('\n') };
  }
  return { path: join(own, `module-${n}.d.ts`), text: `declare module '${mod.specifier}' {\n${mod.lines.join('\n')}\n}` };
}

async function scratchProject() {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-snippets-'));
  await mkdir(join(dir, 'node_modules'), { recursive: true });
  await symlink(root, join(dir, 'node_modules', 'ckpt'), 'dir');
  await symlink(join(root, 'node_modules', '@types'), join(dir, 'node_modules', '@types'), 'dir');
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'ckpt-snippets', private: true, type: 'module' }));
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig(), null, 2));
  await mkdir(join(dir, 'src'));
  return dir;
}

function runNode(file, cwd) {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, output });
    });
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const files = opts.files ?? (await defaultFiles());
  const snippets = [];
  for (const f of files) snippets.push(...extractSnippets(await readFile(f, 'utf8'), f));

  if (opts.print !== undefined) {
    const s = snippets.find((x) => x.name === opts.print);
    if (s === undefined) {
      console.error(`check-snippets: no snippet named ${opts.print}`);
      process.exit(1);
    }
    process.stdout.write(`${[...s.prelude, s.code].join('\n')}\n`);
    return;
  }
  if (opts.list) {
    for (const s of snippets) console.log(`${relative(root, s.file)}:${s.line} ${s.ext}${s.run ? ' run' : ''}${s.name ? ` name=${s.name}` : ''}`);
    return;
  }

  const dir = await scratchProject();
  let failed = 0;
  try {
    const byModule = new Map();
    // Each block is src/<base>/doc/index.<ext>: its own folder, so the
    // declaration files of the modules it imports (module=) sit beside it
    // (`../x.js` too) without meeting another block's.
    snippets.forEach((s, i) => {
      const base = `${relative(root, s.file).replace(/[^\w-]+/g, '_')}-L${s.line}-${i}`;
      const body = [...s.prelude, s.code, ...(s.ext === 'ts' ? ['export {};'] : [])].join('\n');
      const entry = `${base}/doc/index`;
      byModule.set(entry, { ...s, base, body, src: join(dir, 'src', `${entry}.${s.ext}`), out: join(dir, 'out', `${entry}.${s.ext === 'ts' ? 'js' : 'mjs'}`) });
    });
    for (const m of byModule.values()) {
      await mkdir(dirname(m.src), { recursive: true });
      await writeFile(m.src, `${m.body}\n`);
      for (const [n, mod] of m.modules.entries()) {
        const stub = moduleStub(dir, m, mod, n);
        await mkdir(dirname(stub.path), { recursive: true });
        await writeFile(stub.path, `${stub.text}\n`);
      }
    }

    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], { cwd: dir, encoding: 'utf8' });
    const diagnostics = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l.trim() !== '');
    const broken = new Set();
    for (const d of diagnostics) {
      const m = /^src\/([^(]+)\.(ts|mjs)\((\d+),(\d+)\): (.*)$/.exec(d);
      const stubOf = m ? /^src\/([^/]+)\/.*\.d\.ts\(\d+,\d+\): (.*)$/.exec(d) : null;
      const mod = m ? byModule.get(m[1]) : undefined;
      const owner = stubOf ? [...byModule.entries()].find(([, x]) => x.base === stubOf[1]) : undefined;
      if (owner !== undefined && stubOf) {
        broken.add(owner[0]);
        console.error(`${relative(root, owner[1].file)}:${owner[1].line} (a module= declaration): ${stubOf[2]}`);
      } else if (m && mod) {
        broken.add(m[1]);
        const codeLine = Number(m[3]) - mod.prelude.length;
        const where = codeLine >= 1 ? `${relative(root, mod.file)}:${mod.line + codeLine - 1}:${m[4]}` : `${relative(root, mod.file)}:${mod.line} (prelude line ${m[3]})`;
        console.error(`${where}: ${m[5]}`);
      } else if (!/^\s/.test(d)) console.error(d);
      else console.error(d);
    }
    if (result.status !== 0) failed += Math.max(broken.size, 1);
    console.log(`type-check: ${byModule.size - broken.size} of ${byModule.size} snippets ok`);

    if (opts.run) {
      let ran = 0;
      for (const [base, m] of byModule) {
        if (!m.run || broken.has(base)) continue;
        const cwd = join(dir, 'run', base);
        await mkdir(cwd, { recursive: true });
        const r = await runNode(m.out, cwd);
        ran++;
        if (r.code !== 0) {
          failed++;
          console.error(`${relative(root, m.file)}:${m.line}: the snippet exited with ${r.signal ?? r.code}; output:\n${r.output.trimEnd()}`);
        }
      }
      console.log(`run: ${ran} runnable snippets, ${failed === 0 ? 'all ok' : 'see above'}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (failed > 0) {
    console.error(`check-snippets: ${failed} snippet(s) failed`);
    process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
