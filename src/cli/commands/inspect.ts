/**
 * @module cli/commands/inspect
 *
 * `ckpt inspect IMAGE`: header, manifest, format and provider versions, codec
 * settings, the index, and segments (count, raw and stored sizes, ratio) —
 * from the header, trailer and index only, without decoding provider data.
 * `--segments` lists every segment; `--provider ID` decodes one provider and
 * prints its state as readable text (typed arrays summarised; `--full` for
 * everything), or as tagged JSON under `--json`. A group image (a
 * `CheckpointGroup`'s) also shows its epoch and each part — its step and its
 * saved providers (id, version, mode, encoded bytes) — which reads the part
 * states; `--part N` decodes the providers of part N.
 */
import type { Command } from 'commander';
import { FORMAT_VERSION, READABLE_FORMAT_VERSIONS, WRITABLE_FORMAT_VERSIONS, type ImageReader } from '../../format/index.js';
import { addCommonOptions, examples, type CommandContext } from '../command.js';
import { addKeyOptions, cliKeys, type KeyOptions } from '../keys.js';
import { usageError } from '../errors.js';
import { CkptError, ErrorCodes } from '../../index.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { openImagePath, requireImagePath } from '../inputs.js';
import { formatBytes, formatDate, formatRatio, Output, plural, ratio, table, writeChunks, type CommonOptions } from '../output.js';
import { createProgress } from '../progress.js';
import { escapeText } from '../escape.js';
import { jsonChunks } from '../value-export.js';
import { renderValue } from '../value-view.js';
import { decodeSavedProvider, groupMeta, partSummaries, readPartState, type GroupMeta, type PartSummary } from '../group-image.js';
import { partProviderId } from '../../group/protocol.js';

/** Options of `ckpt inspect`. */
export interface InspectOptions extends CommonOptions, KeyOptions {
  /** Decode and print this provider. */
  readonly provider?: string;
  /** With --provider: print everything. */
  readonly full?: boolean;
  /** List every segment. */
  readonly segments?: boolean;
  /** A group image: decode the providers of this part (with --provider: only that one of them). */
  readonly part?: string;
}

/** Register `ckpt inspect`. */
export function registerInspect(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('inspect')
    .description("show an image's header, manifest, format and provider versions and segments without decoding data; --provider decodes one provider")
    .argument('<image>', 'image file (e.g. ./checkpoints/000000000042.ckpt)')
    .option('-p, --provider <id>', "decode this provider's state and print it (typed arrays summarised)")
    .option('--full', 'with --provider: print every element and whole strings')
    .option('--segments', 'list every segment (offset, sizes, codec, checksum, owner)')
    .option('--part <n>', "a group image: decode part n's providers and print them (with --provider ID: only that one)");
  addKeyOptions(cmd);
  addCommonOptions(cmd, true);
  cmd.addHelpText(
    'after',
    examples([
      'ckpt inspect ./checkpoints/000000000042.ckpt',
      'ckpt inspect run.ckpt --segments',
      'ckpt inspect run.ckpt --provider sim',
      'ckpt inspect run.ckpt --provider sim --full --json > sim.json',
      'ckpt inspect group.ckpt --part 1',
      'ckpt inspect group.ckpt --part 1 --provider cells --full',
    ]),
  );
  cmd.action(async (image: string, options: InspectOptions) => ctx.setExit(await runInspect(image, options, ctx)));
}

interface SegmentOwner {
  readonly provider: string;
  readonly run: string;
}

function owners(reader: ImageReader): SegmentOwner[] {
  const out: SegmentOwner[] = [];
  for (const p of reader.index.providers) {
    const runs = [{ run: 'stream', r: p.stream }, ...p.blobs.map((b, i) => ({ run: `blob ${i}`, r: b }))];
    for (const { run, r } of runs) for (let s = r.first; s < r.first + r.count; s++) out[s] = { provider: p.id, run };
  }
  return out;
}

function indexPosition(reader: ImageReader): { offset: number; length: number } {
  const last = reader.index.segments.at(-1);
  const offset = last === undefined ? 32 : last.offset + last.storedLength;
  return { offset, length: reader.size - 40 - offset };
}

async function runInspect(image: string, options: InspectOptions, ctx: CommandContext): Promise<ExitCodeValue> {
  const out = new Output(ctx.io, options);
  if (options.full === true && options.provider === undefined && options.part === undefined) throw usageError("--full needs --provider <id> or --part <n>: it prints whole states");
  const partIndex = options.part === undefined ? undefined : parsePartIndex(options.part);
  await requireImagePath(image, 'inspect');
  let progress = createProgress(ctx.io.stderr, { enabled: false, label: '' });
  const reader = await openImagePath(image, (n) => progress.add(n), await cliKeys(options, ctx.io.env));
  try {
    if (partIndex !== undefined) return await inspectPart(out, ctx, image, reader, partIndex, options);
    if (options.provider !== undefined) {
      const id = options.provider;
      const entry = reader.providers.find((p) => p.id === id);
      if (entry === undefined) throw usageError(`${image} has no provider ${JSON.stringify(id)}; it holds: ${reader.providers.map((p) => p.id).join(', ') || 'none'}`);
      progress = createProgress(ctx.io.stderr, { enabled: out.progress, label: `reading ${id}`, total: entry.storedBytes });
      let state: unknown;
      try {
        state = await reader.readProvider(id);
      } finally {
        progress.done();
      }
      if (out.json) {
        const head = JSON.stringify({ image, imageId: reader.manifest.imageId, provider: entry, summary: options.full !== true }, null, 2);
        // Built whole before writing: never a partial JSON document on stdout.
        const body = jsonChunks(state, { indent: 2, depth: 1, summary: options.full !== true });
        await writeChunks(ctx.io.stdout, [head.slice(0, -2), ',\n  "state": ', ...body, '\n}\n']);
      } else {
        out.print(out.c.bold(`provider ${escapeText(JSON.stringify(id))}`) + ` — version ${entry.version}, ${entry.tree ? 'tree' : 'identity'} mode, ${formatBytes(entry.rawBytes)} raw, ${formatBytes(entry.storedBytes)} stored, ${plural(entry.segments, 'segment')}, ${plural(entry.blobs, 'blob')}`);
        out.print(renderValue(state, { full: options.full === true, width: Math.max(60, ctx.io.stdout.columns ?? 100) }));
      }
      return ExitCode.OK;
    }
    const group = groupMeta(reader.manifest.meta);
    progress = createProgress(ctx.io.stderr, { enabled: out.progress && group !== null, label: 'reading parts', total: reader.providers.reduce((n, p) => n + p.storedBytes, 0) });
    let parts: PartSummary[] | null = null;
    try {
      if (group !== null) parts = await partSummaries(reader, group);
    } finally {
      progress.done();
    }
    printImage(out, image, reader, options.segments === true, group === null || parts === null ? null : { meta: group, parts });
    return ExitCode.OK;
  } finally {
    await reader.close();
  }
}

/** A group image's epoch and parts, for {@link printImage}. */
interface GroupView {
  readonly meta: GroupMeta;
  readonly parts: readonly PartSummary[];
}

function parsePartIndex(text: string): number {
  if (!/^(0|[1-9][0-9]{0,8})$/.test(text)) throw usageError(`--part must be a part index (0, 1, …), got ${JSON.stringify(text)}`);
  return Number(text);
}

/** The group meta of a group image, or a usage error saying it is none. */
function requireGroup(image: string, reader: ImageReader): GroupMeta {
  const g = groupMeta(reader.manifest.meta);
  if (g === null) throw usageError(`${image} is not a group image (its meta has no ckpt.group.parts): --part reads images a CheckpointGroup wrote; use --provider ID for an ordinary image`);
  return g;
}

/** `ckpt inspect IMAGE --part N [--provider ID]`: part N's providers, decoded. */
async function inspectPart(out: Output, ctx: CommandContext, image: string, reader: ImageReader, index: number, options: InspectOptions): Promise<ExitCodeValue> {
  const group = requireGroup(image, reader);
  const ids = reader.providers.map((p) => p.id);
  const id = partProviderId(index);
  if (!ids.includes(id)) {
    const range = group.parts === null ? `its meta's part count is not valid` : `it holds part${group.parts === 1 ? ' 0' : `s 0 … ${String(group.parts - 1)}`}`;
    if (group.parts !== null && index < group.parts) throw new CkptError(ErrorCodes.CORRUPT, `${image}: part ${String(index)} is missing from the group image (no provider ${JSON.stringify(id)}); 'ckpt verify ${image}' lists every problem`, { where: `part ${String(index)}` });
    throw usageError(`${image} has no part ${String(index)}: ${range}`);
  }
  const entry = reader.providers.find((p) => p.id === id)!;
  const progress = createProgress(ctx.io.stderr, { enabled: out.progress, label: `reading ${id}`, total: entry.storedBytes });
  let state;
  try {
    state = await readPartState(reader, index);
  } finally {
    progress.done();
  }
  const wanted = options.provider;
  const saved = wanted === undefined ? state.providers : state.providers.filter((p) => p.id === wanted);
  if (wanted !== undefined && saved.length === 0) throw usageError(`part ${String(index)} of ${image} has no provider ${JSON.stringify(wanted)}; it holds: ${state.providers.map((p) => p.id).join(', ') || 'none'}`);
  const decoded = saved.map((p) => ({ p, value: decodeSavedProvider(p) }));
  const bytes = (p: (typeof saved)[number]): { streamBytes: number; blobs: number; blobBytes: number } => ({ streamBytes: p.stream.byteLength, blobs: p.blobs.length, blobBytes: p.blobs.reduce((n, b) => n + b.byteLength, 0) });
  if (out.json) {
    const head = JSON.stringify({ image, imageId: reader.manifest.imageId, group: { epoch: group.epoch, parts: group.parts }, part: index, step: state.step, summary: options.full !== true }, null, 2);
    // Built whole before writing: never a partial JSON document on stdout.
    const chunks: string[] = [head.slice(0, -2), ',\n  "providers": ['];
    decoded.forEach(({ p, value }, n) => {
      const fields = Object.entries({ id: p.id, version: p.version, tree: p.tree, ...bytes(p) }).map(([k, v]) => `      ${JSON.stringify(k)}: ${JSON.stringify(v)},\n`);
      chunks.push(n === 0 ? '\n    {\n' : ',\n    {\n', ...fields, '      "state": ', ...jsonChunks(value, { indent: 2, depth: 3, summary: options.full !== true }), '\n    }');
    });
    chunks.push(decoded.length === 0 ? ']\n}\n' : '\n  ]\n}\n');
    await writeChunks(ctx.io.stdout, chunks);
    return ExitCode.OK;
  }
  out.print(out.c.bold(`part ${String(index)}`) + ` of group image ${image} — epoch ${group.epoch === null ? '?' : String(group.epoch)}, step ${state.step === null ? '-' : String(state.step)}, ${plural(state.providers.length, 'provider')}`);
  for (const { p, value } of decoded) {
    const b = bytes(p);
    out.print('', out.c.bold(`provider ${escapeText(JSON.stringify(p.id))}`) + ` — version ${p.version}, ${p.tree ? 'tree' : 'identity'} mode, ${formatBytes(b.streamBytes + b.blobBytes)} encoded (stream ${formatBytes(b.streamBytes)}${b.blobs === 0 ? '' : `, ${plural(b.blobs, 'blob')} ${formatBytes(b.blobBytes)}`})`);
    out.print(renderValue(value, { full: options.full === true, width: Math.max(60, ctx.io.stdout.columns ?? 100) }));
  }
  return ExitCode.OK;
}

function partJson(s: PartSummary): Record<string, unknown> {
  return {
    index: s.index,
    id: s.id,
    present: s.present,
    step: s.step,
    providers: s.providers?.map((p) => ({ ...p, encodedBytes: p.streamBytes + p.blobBytes })) ?? null,
    error: s.error,
  };
}

function printGroup(out: Output, image: string, g: GroupView): void {
  const c = out.c;
  const m = g.meta;
  const parts = m.parts === null ? 'part count not valid in meta' : plural(m.parts, 'part');
  out.print('', c.bold('group') + ` — epoch ${m.epoch === null ? '? (not valid in meta)' : String(m.epoch)}, ${parts}`);
  for (const p of m.problems) out.print(`  ${c.red(p.code)}  ${p.message}`);
  for (const s of g.parts) {
    if (s.error !== null || s.providers === null) {
      out.print(`  part ${String(s.index)}: ${c.red(s.error?.code ?? 'unreadable')}  ${s.error?.message ?? ''}`);
      continue;
    }
    out.print(`  part ${String(s.index)} — step ${s.step === null ? '-' : String(s.step)}, ${plural(s.providers.length, 'provider')}`);
    if (s.providers.length === 0) continue;
    out.print(
      ...table(
        [
          ['ID', 'VERSION', 'MODE', 'ENCODED', 'STREAM', 'BLOBS'].map((t) => c.dim(t)),
          ...s.providers.map((p) => [p.id, String(p.version), p.tree ? 'tree' : 'identity', formatBytes(p.streamBytes + p.blobBytes), formatBytes(p.streamBytes), p.blobs === 0 ? '0' : `${String(p.blobs)} (${formatBytes(p.blobBytes)})`]),
        ],
        '    ',
      ),
    );
  }
  if (m.parts !== null && g.parts.length < m.parts) out.print(c.red(`  … ${String(m.parts - g.parts.length)} more parts are missing`));
  const extra = out.c.dim(`  ('ckpt inspect ${image} --part N' decodes part N's providers; 'ckpt verify ${image}' checks every part)`);
  out.print(extra);
}

function printImage(out: Output, image: string, reader: ImageReader, listSegments: boolean, group: GroupView | null): void {
  const m = reader.manifest;
  const h = reader.header;
  const segs = reader.index.segments;
  const raw = segs.reduce((n, s) => n + s.rawLength, 0);
  const stored = segs.reduce((n, s) => n + s.storedLength, 0);
  const zstd = segs.filter((s) => s.codec === 1).length;
  const idx = indexPosition(reader);
  const own = owners(reader);
  const providers = reader.providers.map((p) => ({ ...p, ratio: ratio(p.rawBytes, p.storedBytes) }));
  if (out.json) {
    out.data({
      image,
      bytes: reader.size,
      header: { formatVersion: h.formatVersion, codecId: h.codecId, requiredFlags: h.requiredFlags, optionalFlags: h.optionalFlags },
      reader: { currentFormat: FORMAT_VERSION, readable: READABLE_FORMAT_VERSIONS, writable: WRITABLE_FORMAT_VERSIONS },
      manifest: { ...m, meta: { ...m.meta } },
      codec: reader.index.codec,
      index: idx,
      ...(reader.crypto === undefined ? {} : { encryption: { alg: 'aes-256-gcm', kek: reader.crypto.key.kek, keyId: reader.crypto.key.keyId, uuid: Buffer.from(reader.crypto.uuid).toString('hex') } }),
      providers,
      ...(group === null ? {} : { group: { epoch: group.meta.epoch, parts: group.meta.parts, problems: group.meta.problems, list: group.parts.map(partJson) } }),
      segments: {
        count: segs.length,
        rawBytes: raw,
        storedBytes: stored,
        ratio: ratio(raw, stored),
        zstd,
        raw: segs.length - zstd,
        ...(listSegments
          ? { list: segs.map((s, n) => ({ n, offset: s.offset, storedLength: s.storedLength, rawLength: s.rawLength, codec: s.codec === 1 ? 'zstd' : 'raw', crc32: s.crc.toString(16).padStart(8, '0'), flags: s.flags, provider: own[n]?.provider ?? null, run: own[n]?.run ?? null })) }
          : {}),
      },
    });
    return;
  }
  const c = out.c;
  const kv = (rows: [string, string][], indent = '  '): string[] => table(rows.map(([k, v]) => [c.dim(k), v]), indent);
  out.print(c.bold(`image ${image}`) + ` — ${formatBytes(reader.size)} (${reader.size} bytes)`);
  out.print(
    ...kv([
      ['format', `${h.formatVersion}${h.formatVersion === FORMAT_VERSION ? ' (current)' : ` (current is ${FORMAT_VERSION}; 'ckpt convert' upgrades it)`}`],
      ['header', `codec id ${h.codecId}, required flags 0x${h.requiredFlags.toString(16)}, optional flags 0x${h.optionalFlags.toString(16)}`],
      ['codec', `values v${reader.index.codec.values}, zstd level ${reader.index.codec.level}, segment size ${formatBytes(reader.index.codec.segmentSize)}, blob threshold ${formatBytes(reader.index.codec.blobThreshold)}`],
      ['index', `${formatBytes(idx.length)} at offset ${idx.offset}${reader.crypto === undefined ? '' : ' (crypto block and sealed index)'}`],
      ...(reader.crypto === undefined ? [] : [['encryption', `AES-256-GCM, data key wrapped by ${reader.crypto.key.kek} key id ${JSON.stringify(reader.crypto.key.keyId)}`] as [string, string]]),
    ]),
  );
  out.print('', c.bold('manifest'));
  const meta = Object.entries(m.meta);
  out.print(
    ...kv([
      ['imageId', m.imageId],
      ['app', m.app ?? '-'],
      ['createdAt', `${m.createdAt} (${formatDate(m.createdAt)})`],
      ['step', m.step === null ? '-' : String(m.step)],
      ['label', m.label ?? '-'],
      ['library', m.library],
      ['node', m.node],
      ['platform', m.platform],
      ['hostname', m.hostname ?? '-'],
      ['parent', m.parent ?? '-'],
      ['meta', meta.length === 0 ? '-' : meta.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')],
    ]),
  );
  out.print('', c.bold(`providers (${providers.length})`));
  out.print(
    ...table(
      [
        ['ID', 'VERSION', 'MODE', 'RAW', 'STORED', 'RATIO', 'SEGMENTS', 'BLOBS'].map((t) => c.dim(t)),
        ...providers.map((p) => [p.id, String(p.version), p.tree ? 'tree' : 'identity', formatBytes(p.rawBytes), formatBytes(p.storedBytes), formatRatio(p.ratio), String(p.segments), String(p.blobs)]),
      ],
      '  ',
    ),
  );
  out.print('', c.bold(`segments (${segs.length})`) + `: ${formatBytes(raw)} raw, ${formatBytes(stored)} stored, ratio ${formatRatio(ratio(raw, stored))}; ${zstd} zstd, ${segs.length - zstd} raw`);
  if (listSegments) {
    out.print(
      ...table(
        [
          ['#', 'OFFSET', 'STORED', 'RAW', 'CODEC', 'CRC32', 'OWNER'].map((t) => c.dim(t)),
          ...segs.map((s, n) => [String(n), String(s.offset), String(s.storedLength), String(s.rawLength), s.codec === 1 ? 'zstd' : 'raw', s.crc.toString(16).padStart(8, '0'), own[n] === undefined ? '?' : `${own[n].provider} ${own[n].run}`]),
        ],
        '  ',
      ),
    );
  } else if (segs.length > 0) {
    out.print(c.dim(`  (--segments lists them; 'ckpt inspect ${image} --provider ID' decodes one provider)`));
  }
  if (group !== null) printGroup(out, image, group);
}
