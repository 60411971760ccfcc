// Images do not depend on the Node version that wrote them: an image written
// under each tested Node version is restored under each other one, exactly,
// and the images are byte-identical apart from the index's image id, time and
// Node version. Group channel messages (v8.serialize bytes in a group image)
// written under each version are read exactly under each other one.
//
// The Node versions: the one running this test, the machine's `node`
// ($CKPT_HOST_NODE, else the first `node` on PATH), and the versions pinned in
// scripts/node-versions.sh (installed by `scripts/node-versions.sh install`).
// When a pinned version is not installed the test is skipped, saying so in its
// name — unless CKPT_REQUIRE_NODE_VERSIONS=1 or CI is set (as .ci/run does),
// where it fails instead.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { TRAILER_SIZE } from '../../src/image/constants.js';
import { decodeTrailer } from '../../src/image/header.js';
import { decodeIndexV2 } from '../../src/image/index-v2.js';
import { reapChildren, startNodeChild, tsxArgs } from '../helpers/child-process.js';
import { WRITERS } from './cross-version-writers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./cross-version-child.ts', import.meta.url));
const ci = process.env['CI'];
const required = process.env['CKPT_REQUIRE_NODE_VERSIONS'] === '1' || (ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false');

/** A Node binary and the version it reports. */
interface NodeBinary {
  readonly version: string;
  readonly bin: string;
}

/** The version `bin` reports, or undefined when it does not run. */
function versionOf(bin: string): string | undefined {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' }).trim();
  } catch {
    return undefined;
  }
}

/** The pinned versions, from scripts/node-versions.sh (which prints "<version> <binary>" lines). */
function pinned(): { version: string; bin: string }[] {
  const out = execFileSync('bash', [join(ROOT, 'scripts/node-versions.sh'), 'list'], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [version = '', bin = ''] = l.trim().split(/\s+/, 2);
      return { version: `v${version}`, bin };
    });
}

/** The machine's `node`: $CKPT_HOST_NODE, else the first on PATH. */
function hostNode(): string | undefined {
  const set = process.env['CKPT_HOST_NODE'];
  if (set !== undefined && set !== '') return set;
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    const bin = join(dir === '' ? '.' : dir, 'node');
    if (dir !== '' && existsSync(bin)) return bin;
  }
  return undefined;
}

const binaries = new Map<string, NodeBinary>();
const missing: string[] = [];
binaries.set(process.version, { version: process.version, bin: process.execPath });
const host = hostNode();
const hostVersion = host === undefined ? undefined : versionOf(host);
if (host !== undefined && hostVersion !== undefined && !binaries.has(hostVersion)) binaries.set(hostVersion, { version: hostVersion, bin: host });
for (const p of pinned()) {
  if (binaries.has(p.version)) continue;
  if (existsSync(p.bin) && versionOf(p.bin) === p.version) binaries.set(p.version, p);
  else missing.push(p.version);
}
const tested = [...binaries.values()].sort((a, b) => a.version.localeCompare(b.version, 'en', { numeric: true }));
const skip = missing.length > 0 && !required;
const title = skip
  ? `images cross Node versions (SKIPPED: Node ${missing.join(', ')} not installed; run scripts/node-versions.sh install)`
  : `images written under each of Node ${tested.map((b) => b.version).join(', ')} restore exactly under each other one, with identical bytes`;

/** One line a child prints. */
interface ChildLine {
  readonly node: string;
  readonly dir: string;
  readonly id: string | null;
  readonly imageNode?: string | null;
  readonly diffs?: Record<string, string | null>;
  /** A channel message line: its first difference, or null. */
  readonly v8?: string | null;
}

/** Run the child program under `bin`; its JSON lines once it exited with code 0. */
async function runChild(bin: string, args: string[]): Promise<ChildLine[]> {
  const lines: ChildLine[] = [];
  const child = startNodeChild({ command: bin, args: tsxArgs(CHILD, ...args), cwd: ROOT, onStdoutLine: (l) => void lines.push(JSON.parse(l) as ChildLine) });
  child.killAfter(120_000);
  const exit = await child.exited;
  if (exit.code !== 0) throw new Error(`${bin} ${args.join(' ')} ended with ${String(exit.code ?? exit.signal)}:\n${child.stderr}`);
  return lines;
}

async function imageBytes(dir: string): Promise<Buffer> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.ckpt'));
  expect(files).toHaveLength(1);
  return readFile(join(dir, files[0]!));
}

/** Everything before the index (header and segments), and the decoded index. */
function split(img: Buffer): { body: Buffer; index: ReturnType<typeof decodeIndexV2> } {
  const t = decodeTrailer(img.subarray(img.length - TRAILER_SIZE), img.length);
  const index = decodeIndexV2(img.subarray(t.indexOffset, t.indexOffset + t.indexLength), t.indexOffset, { maxSegmentBytes: 64 * 1024 * 1024 });
  return { body: img.subarray(0, t.indexOffset), index };
}

const dirs: string[] = [];
afterEach(async () => {
  await reapChildren();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('cross-version images', () => {
  it.skipIf(skip)(
    title,
    async () => {
      if (missing.length > 0) {
        throw new Error(`Node ${missing.join(', ')} not installed (CI needs every pinned version): run scripts/node-versions.sh install`);
      }
      expect(tested.length).toBeGreaterThanOrEqual(2);
      const root = await mkdtemp(join(tmpdir(), 'ckpt-cross-version-'));
      dirs.push(root);
      const roots = tested.map((b) => ({ writer: b, dir: join(root, b.version) }));
      // Every version's stores, in the order the child reads them.
      const stores = roots.flatMap((r) => WRITERS.map((w) => ({ writer: r.writer, kind: w.store, dir: join(r.dir, w.store) })));

      // Each version writes its images...
      for (const r of roots) {
        const lines = await runChild(r.writer.bin, ['write', r.dir]);
        expect(lines.map((l) => l.node)).toEqual(WRITERS.map(() => r.writer.version));
      }
      // ...and each version restores every image (its own included).
      const seen = new Set<string>();
      for (const reader of tested) {
        const all = await runChild(reader.bin, ['read', ...roots.map((r) => r.dir)]);
        const lines = all.filter((l) => !('v8' in l));
        // Group channel messages (v8.serialize bytes in a group image) written under each version, read under this one.
        const messages = all.filter((l) => 'v8' in l);
        expect(messages.map((m) => m.dir)).toEqual(roots.map((r) => r.dir));
        for (const m of messages) expect(m.v8, `channel message written in ${m.dir}, read by ${reader.version}`).toBeNull();
        expect(lines).toHaveLength(stores.length);
        for (const [i, line] of lines.entries()) {
          const s = stores[i]!;
          expect(line.node).toBe(reader.version);
          expect(line.dir).toBe(s.dir);
          expect(line.imageNode).toBe(s.writer.version);
          const diffs = line.diffs ?? {};
          expect(Object.keys(diffs).length).toBeGreaterThan(0);
          for (const [provider, diff] of Object.entries(diffs)) {
            expect(diff, `written by ${s.writer.version} (${s.kind}), read by ${reader.version}, provider ${provider}`).toBeNull();
          }
          seen.add(`${s.writer.version}/${s.kind}>${reader.version}`);
        }
      }
      expect(seen.size).toBe(tested.length * WRITERS.length * tested.length);

      // Header and every segment byte-identical; the index differs only in id, time and Node version.
      const strip = (ix: ReturnType<typeof decodeIndexV2>) => ({ ...ix, manifest: { ...ix.manifest, imageId: '', createdAt: '', node: '' } });
      for (const w of WRITERS) {
        const written = stores.filter((s) => s.kind === w.store);
        const images = await Promise.all(written.map(async (s) => ({ writer: s.writer.version, ...split(await imageBytes(s.dir)) })));
        const first = images[0]!;
        for (const img of images) {
          expect(img.index.manifest.node).toBe(img.writer);
          expect(img.index.providers.length).toBeGreaterThan(0);
          expect(img.body.equals(first.body), `header and segments written by ${img.writer} and ${first.writer} (${w.store})`).toBe(true);
          expect(strip(img.index)).toEqual(strip(first.index));
        }
      }
    },
    300_000,
  );
});
