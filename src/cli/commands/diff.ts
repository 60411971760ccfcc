/**
 * @module cli/commands/diff
 *
 * `ckpt diff A B`: compares two images — manifest fields, and per provider
 * whether its state changed (its raw bytes differ: images are deterministic,
 * so equal state gives equal bytes), its versions and bytes on both sides,
 * and for a changed state the first differing paths (`grid[12]: 0.5 → 0.51`).
 * Exit 0 when no provider's state differs, 6 when one does (the manifest's
 * id, time and step always differ and do not count).
 */
import type { Command } from 'commander';
import type { ImageReader, ProviderSummary } from '../../format/index.js';
import { addCommonOptions, examples, positiveInt, type CommandContext } from '../command.js';
import { addKeyOptions, cliKeys, type KeyOptions } from '../keys.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { openImagePath, requireImagePath } from '../inputs.js';
import { formatBytes, formatDelta, Output, plural, table, type CommonOptions } from '../output.js';
import { createProgress, type Progress } from '../progress.js';
import { escapeText } from '../escape.js';
import { diffValues, type ValueDifference } from '../value-diff.js';

/** Options of `ckpt diff`. */
export interface DiffOptions extends CommonOptions, KeyOptions {
  /** Differing paths shown per provider (default 10). */
  readonly paths?: number;
}

/** Register `ckpt diff`. */
export function registerDiff(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('diff')
    .description('compare two images: manifest, which providers changed, bytes per provider, and the first differing paths of changed state')
    .argument('<a>', 'first image file (the older one, usually)')
    .argument('<b>', 'second image file')
    .option('--paths <n>', 'differing paths to show per changed provider', positiveInt('--paths'), 10);
  addKeyOptions(cmd);
  addCommonOptions(cmd, true);
  cmd.addHelpText(
    'after',
    `
Exit code: 0 when every provider's state is equal, 6 when any differs
(also when a provider exists in only one image or its version differs).
${examples(['ckpt diff ./checkpoints/000000000041.ckpt ./checkpoints/000000000042.ckpt', 'ckpt diff a.ckpt b.ckpt --paths 50 --json'])}`,
  );
  cmd.action(async (a: string, b: string, options: DiffOptions) => ctx.setExit(await runDiff(a, b, options, ctx)));
}

type ProviderStatus = 'same' | 'changed' | 'added' | 'removed';

interface ProviderDiff {
  readonly id: string;
  readonly status: ProviderStatus;
  readonly a: ProviderSummary | null;
  readonly b: ProviderSummary | null;
  /** For changed providers: what differs. */
  readonly differences: readonly ValueDifference[];
  readonly truncated: boolean;
  /** Set when the bytes differ but the decoded states are equal (e.g. another encoder setting). */
  readonly note: string | null;
}

function bytesEqual(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && Buffer.from(x.buffer, x.byteOffset, x.length).equals(Buffer.from(y.buffer, y.byteOffset, y.length));
}

async function sameRaw(ra: ImageReader, rb: ImageReader, id: string): Promise<boolean> {
  const [x, y] = [await ra.readRaw(id), await rb.readRaw(id)];
  if (!bytesEqual(x.stream, y.stream) || x.blobs.length !== y.blobs.length) return false;
  return x.blobs.every((blob, i) => bytesEqual(blob, y.blobs[i]!));
}

async function compareProvider(ra: ImageReader, rb: ImageReader, pa: ProviderSummary, pb: ProviderSummary, limit: number, progress: Progress): Promise<ProviderDiff> {
  const base = { id: pa.id, a: pa, b: pb };
  const sameShape = pa.version === pb.version && pa.tree === pb.tree;
  if (sameShape && pa.rawBytes === pb.rawBytes && (await sameRaw(ra, rb, pa.id))) {
    return { ...base, status: 'same', differences: [], truncated: false, note: null };
  }
  progress.setLabel(`comparing ${pa.id}`);
  const [x, y] = [await ra.readProvider(pa.id), await rb.readProvider(pb.id)];
  const d = diffValues(x, y, limit);
  const notes: string[] = [];
  if (pa.version !== pb.version) notes.push(`schema version ${pa.version} → ${pb.version}`);
  if (pa.tree !== pb.tree) notes.push(`mode ${pa.tree ? 'tree' : 'identity'} → ${pb.tree ? 'tree' : 'identity'}`);
  if (d.differences.length === 0 && sameShape) return { ...base, status: 'same', differences: [], truncated: false, note: 'the bytes differ but the decoded states are equal' };
  if (d.differences.length === 0) notes.push('the decoded states are equal');
  return { ...base, status: 'changed', differences: d.differences, truncated: d.truncated, note: notes.length === 0 ? null : notes.join('; ') };
}

function fieldText(v: unknown): string {
  return v === null || v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v);
}

const MANIFEST_FIELDS = ['imageId', 'app', 'createdAt', 'step', 'label', 'library', 'node', 'platform', 'hostname', 'parent'] as const;

async function runDiff(a: string, b: string, options: DiffOptions, ctx: CommandContext): Promise<ExitCodeValue> {
  const out = new Output(ctx.io, options);
  await requireImagePath(a, 'diff');
  await requireImagePath(b, 'diff');
  const progress = createProgress(ctx.io.stderr, { enabled: out.progress, label: 'comparing' });
  const ra = await openImagePath(a, (n) => progress.add(n), await cliKeys(options, ctx.io.env));
  let rb: ImageReader | undefined;
  const providers: ProviderDiff[] = [];
  try {
    rb = await openImagePath(b, (n) => progress.add(n), await cliKeys(options, ctx.io.env));
    progress.setTotal(ra.size + rb.size);
    const inB = new Map(rb.providers.map((p) => [p.id, p]));
    const inA = new Set(ra.providers.map((p) => p.id));
    for (const pa of ra.providers) {
      const pb = inB.get(pa.id);
      if (pb === undefined) providers.push({ id: pa.id, status: 'removed', a: pa, b: null, differences: [], truncated: false, note: null });
      else providers.push(await compareProvider(ra, rb, pa, pb, options.paths ?? 10, progress));
    }
    for (const pb of rb.providers) if (!inA.has(pb.id)) providers.push({ id: pb.id, status: 'added', a: null, b: pb, differences: [], truncated: false, note: null });
  } finally {
    progress.done();
    await ra.close();
    await rb?.close();
  }
  const ma = ra.manifest;
  const mb = rb.manifest;
  const manifest: { field: string; a: unknown; b: unknown }[] = MANIFEST_FIELDS.filter((k) => ma[k] !== mb[k]).map((k) => ({ field: k, a: ma[k], b: mb[k] }));
  const metaA = JSON.stringify(ma.meta);
  const metaB = JSON.stringify(mb.meta);
  if (metaA !== metaB) manifest.push({ field: 'meta', a: metaA, b: metaB });
  const fa = ra.header.formatVersion;
  const fb = rb.header.formatVersion;
  if (fa !== fb) manifest.push({ field: 'formatVersion', a: fa, b: fb });
  const differing = providers.filter((p) => p.status !== 'same');
  const exit = differing.length === 0 ? ExitCode.OK : ExitCode.DIFFERENT;
  if (out.json) {
    out.data({
      a,
      b,
      same: differing.length === 0,
      manifest,
      providers: providers.map((p) => ({
        id: p.id,
        status: p.status,
        a: p.a === null ? null : { version: p.a.version, tree: p.a.tree, rawBytes: p.a.rawBytes, storedBytes: p.a.storedBytes },
        b: p.b === null ? null : { version: p.b.version, tree: p.b.tree, rawBytes: p.b.rawBytes, storedBytes: p.b.storedBytes },
        differences: p.differences,
        truncated: p.truncated,
        note: p.note,
      })),
    });
    return exit;
  }
  const c = out.c;
  out.print(c.bold('A') + ` ${a}  ${ma.imageId}  step ${ma.step ?? '-'}  ${ma.createdAt}`);
  out.print(c.bold('B') + ` ${b}  ${mb.imageId}  step ${mb.step ?? '-'}  ${mb.createdAt}`);
  if (manifest.length > 0) {
    out.print('', c.bold('manifest'));
    out.print(...table(manifest.map((m) => [c.dim(m.field), `${fieldText(m.a)} → ${fieldText(m.b)}`]), '  '));
  }
  out.print('', c.bold('providers'));
  const sym: Record<ProviderStatus, string> = { same: '=', changed: c.yellow('~'), added: c.green('+'), removed: c.red('-') };
  const version = (p: ProviderDiff): string => (p.a !== null && p.b !== null ? (p.a.version === p.b.version ? `v${p.a.version}` : `v${p.a.version} → v${p.b.version}`) : `v${(p.a ?? p.b)!.version}`);
  const sizes = (p: ProviderDiff): string => {
    if (p.a !== null && p.b !== null) {
      return p.a.rawBytes === p.b.rawBytes && p.a.storedBytes === p.b.storedBytes
        ? `raw ${formatBytes(p.a.rawBytes)}, stored ${formatBytes(p.a.storedBytes)}`
        : `raw ${formatBytes(p.a.rawBytes)} → ${formatBytes(p.b.rawBytes)} (${formatDelta(p.b.rawBytes - p.a.rawBytes)}), stored ${formatBytes(p.a.storedBytes)} → ${formatBytes(p.b.storedBytes)} (${formatDelta(p.b.storedBytes - p.a.storedBytes)})`;
    }
    const s = (p.a ?? p.b)!;
    return `raw ${formatBytes(s.rawBytes)}, stored ${formatBytes(s.storedBytes)} (only in ${p.a === null ? 'B' : 'A'})`;
  };
  const rows = providers.map((p) => [sym[p.status], p.id, p.status, version(p), sizes(p)]);
  const lines = table(rows, '  ');
  providers.forEach((p, i) => {
    out.print(lines[i]!);
    if (p.note !== null) out.print(c.dim(`      ${p.note}`));
    for (const d of p.differences) out.print(`      ${escapeText(d.path)}: ${escapeText(d.a)} → ${escapeText(d.b)}${d.note === undefined ? '' : c.dim(`  (${escapeText(d.note)})`)}`);
    if (p.truncated) out.print(c.dim(`      … more differences (--paths N shows more)`));
  });
  out.print('', differing.length === 0 ? c.green(`no provider state differs (${plural(providers.length, 'provider')})`) : `${differing.length} of ${plural(providers.length, 'provider')} ${providers.length === 1 ? 'differs' : 'differ'}`);
  return exit;
}
