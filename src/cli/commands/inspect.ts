/**
 * @module cli/commands/inspect
 *
 * `ckpt inspect IMAGE`: header, manifest, format and provider versions, codec
 * settings, the index, and segments (count, raw and stored sizes, ratio) —
 * from the header, trailer and index only, without decoding provider data.
 * `--segments` lists every segment; `--provider ID` decodes one provider and
 * prints its state as readable text (typed arrays summarised; `--full` for
 * everything), or as tagged JSON under `--json`.
 */
import type { Command } from 'commander';
import { FORMAT_VERSION, READABLE_FORMAT_VERSIONS, WRITABLE_FORMAT_VERSIONS, type ImageReader } from '../../format/index.js';
import { addCommonOptions, examples, type CommandContext } from '../command.js';
import { addKeyOptions, cliKeys, type KeyOptions } from '../keys.js';
import { usageError } from '../errors.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { openImagePath, requireImagePath } from '../inputs.js';
import { formatBytes, formatDate, formatRatio, Output, plural, ratio, table, writeChunks, type CommonOptions } from '../output.js';
import { createProgress } from '../progress.js';
import { escapeText } from '../escape.js';
import { jsonChunks } from '../value-export.js';
import { renderValue } from '../value-view.js';

/** Options of `ckpt inspect`. */
export interface InspectOptions extends CommonOptions, KeyOptions {
  /** Decode and print this provider. */
  readonly provider?: string;
  /** With --provider: print everything. */
  readonly full?: boolean;
  /** List every segment. */
  readonly segments?: boolean;
}

/** Register `ckpt inspect`. */
export function registerInspect(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('inspect')
    .description("show an image's header, manifest, format and provider versions and segments without decoding data; --provider decodes one provider")
    .argument('<image>', 'image file (e.g. ./checkpoints/000000000042.ckpt)')
    .option('-p, --provider <id>', "decode this provider's state and print it (typed arrays summarised)")
    .option('--full', 'with --provider: print every element and whole strings')
    .option('--segments', 'list every segment (offset, sizes, codec, checksum, owner)');
  addKeyOptions(cmd);
  addCommonOptions(cmd, true);
  cmd.addHelpText(
    'after',
    examples([
      'ckpt inspect ./checkpoints/000000000042.ckpt',
      'ckpt inspect run.ckpt --segments',
      'ckpt inspect run.ckpt --provider sim',
      'ckpt inspect run.ckpt --provider sim --full --json > sim.json',
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
  if (options.full === true && options.provider === undefined) throw usageError('--full needs --provider <id>: it prints one provider\'s whole state');
  await requireImagePath(image, 'inspect');
  let progress = createProgress(ctx.io.stderr, { enabled: false, label: '' });
  const reader = await openImagePath(image, (n) => progress.add(n), await cliKeys(options, ctx.io.env));
  try {
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
    printImage(out, image, reader, options.segments === true);
    return ExitCode.OK;
  } finally {
    await reader.close();
  }
}

function printImage(out: Output, image: string, reader: ImageReader, listSegments: boolean): void {
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
}
