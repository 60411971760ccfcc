/**
 * @module cli/commands/export
 *
 * `ckpt export IMAGE --provider ID [--format json|msgpack] [-o FILE]`: one
 * provider's decoded state in a form other tools read — JSON (streamed) or
 * plain msgpack — with values JSON cannot express tagged by `$type` (see
 * `value-export` and docs/cli.md). Data goes to stdout, or to FILE with
 * `-o` (written to a temp file and renamed; an existing FILE is refused).
 */
import { ErrorCodes } from '../../index.js';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { Option, type Command } from 'commander';
import { addCommonOptions, examples, type CommandContext } from '../command.js';
import { addKeyOptions, cliKeys, type KeyOptions } from '../keys.js';
import { CliError, usageError } from '../errors.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { openImagePath, requireImagePath } from '../inputs.js';
import { formatBytes, Output, writeChunks, type CommonOptions, type TextStream } from '../output.js';
import { createProgress } from '../progress.js';
import { jsonChunks, packMsgpack } from '../value-export.js';

/** Options of `ckpt export`. */
export interface ExportOptions extends CommonOptions, KeyOptions {
  /** Provider id. */
  readonly provider?: string;
  /** Output format. */
  readonly format?: 'json' | 'msgpack';
  /** Output file. */
  readonly output?: string;
  /** Indent JSON. */
  readonly pretty?: boolean;
}

/** Register `ckpt export`. */
export function registerExport(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('export')
    .description("write one provider's decoded state as JSON or msgpack, for other tools")
    .argument('<image>', 'image file')
    .option('-p, --provider <id>', 'the provider to export (may be left out when the image holds only one)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['json', 'msgpack']).default('json'))
    .option('-o, --output <file>', 'write to this new file instead of stdout (never overwrites)')
    .option('--pretty', 'indent the JSON');
  addKeyOptions(cmd);
  addCommonOptions(cmd, true);
  cmd.addHelpText(
    'after',
    `
Values JSON cannot hold are tagged objects: {"$type":"bigint","value":"12"},
{"$type":"Float64Array","values":[…]}, {"$type":"Map","entries":[[k,v],…]},
{"$ref":"$.path"} for an object seen before (shared reference or cycle) — see
docs/cli.md. msgpack uses native numbers and bin for typed arrays and buffers.
With -o, --json prints a summary of what was written; without -o the data
itself goes to stdout (--json then just means --format json).
${examples(['ckpt export run.ckpt --provider sim > sim.json', "ckpt export run.ckpt -p sim | jq '.grid.values | length'", 'ckpt export run.ckpt -p sim --format msgpack -o sim.msgpack'])}`,
  );
  cmd.action(async (image: string, options: ExportOptions) => ctx.setExit(await runExport(image, options, ctx)));
}

/** Write `chunks` to the new file `target` via a temp file and a no-replace link. */
async function writeNewFile(target: string, chunks: Iterable<string | Uint8Array>): Promise<number> {
  const full = resolve(target);
  const temp = join(dirname(full), `.${basename(full)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const stream = createWriteStream(temp, { flags: 'wx' });
  let bytes = 0;
  const counting: TextStream = {
    write: (c) => {
      bytes += typeof c === 'string' ? Buffer.byteLength(c) : c.length;
      return stream.write(c);
    },
    once: (e, l) => stream.once(e, l),
  };
  try {
    await writeChunks(counting, chunks);
    stream.end();
    await finished(stream);
    // link() fails if the target appeared meanwhile: never overwrite.
    await link(temp, full);
  } catch (err) {
    stream.destroy();
    await unlink(temp).catch(() => undefined);
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
    if (code === 'EEXIST') throw usageError(`${target} already exists; choose another output file (export never overwrites)`);
    throw new CliError(`cannot write ${target}: ${err instanceof Error ? err.message : String(err)}; check the directory and its permissions`, ExitCode.IO, { code: ErrorCodes.STORE_IO, cause: err });
  }
  await unlink(temp).catch(() => undefined);
  return bytes;
}

async function runExport(image: string, options: ExportOptions, ctx: CommandContext): Promise<ExitCodeValue> {
  const out = new Output(ctx.io, { ...options, json: options.json === true && options.output !== undefined });
  const format = options.format ?? 'json';
  if (options.json === true && options.output === undefined && format === 'msgpack') {
    throw usageError('--json and --format msgpack conflict when writing to stdout; use -o FILE (then --json prints a summary)');
  }
  if (format === 'msgpack' && options.output === undefined && ctx.io.stdout.isTTY === true) {
    throw usageError('refusing to write binary msgpack to a terminal; redirect stdout (> file) or use -o FILE');
  }
  if (options.output !== undefined) {
    const exists = await stat(options.output).then(
      () => true,
      () => false,
    );
    if (exists) throw usageError(`${options.output} already exists; choose another output file (export never overwrites)`);
  }
  await requireImagePath(image, 'export');
  let progress = createProgress(ctx.io.stderr, { enabled: false, label: '' });
  const reader = await openImagePath(image, (n) => progress.add(n), await cliKeys(options, ctx.io.env));
  let state: unknown;
  let id: string;
  try {
    const ids = reader.providers.map((p) => p.id);
    if (options.provider === undefined) {
      if (ids.length !== 1) throw usageError(`${image} holds ${ids.length} providers (${ids.join(', ') || 'none'}); choose one with --provider <id>`);
      id = ids[0]!;
    } else {
      id = options.provider;
      if (!ids.includes(id)) throw usageError(`${image} has no provider ${JSON.stringify(id)}; it holds: ${ids.join(', ') || 'none'}`);
    }
    const entry = reader.providers.find((p) => p.id === id)!;
    progress = createProgress(ctx.io.stderr, { enabled: out.progress, label: `reading ${id}`, total: entry.storedBytes });
    try {
      state = await reader.readProvider(id);
    } finally {
      progress.done();
    }
  } finally {
    await reader.close();
  }
  // The whole output is built before anything is written: a failure while
  // producing it leaves no partial document on stdout or in the store
  // directory, and is reported as what it is, not as a write error.
  const chunks: (string | Uint8Array)[] = format === 'msgpack' ? [packMsgpack(state)] : [...jsonChunks(state, { indent: options.pretty === true ? 2 : 0 }), '\n'];
  if (options.output === undefined) {
    await writeChunks(ctx.io.stdout, chunks);
    return ExitCode.OK;
  }
  const bytes = await writeNewFile(options.output, chunks);
  out.data({ image, provider: id, format, output: options.output, bytes });
  out.print(`exported provider ${JSON.stringify(id)} of ${image} as ${format} to ${options.output} (${formatBytes(bytes)})`);
  return ExitCode.OK;
}

