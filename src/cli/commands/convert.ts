/**
 * @module cli/commands/convert
 *
 * `ckpt convert IN OUT [--to N]`: writes a copy of an image in another
 * format version with `convertImageFile` — atomically (temp file, fsync,
 * rename, directory fsync), never touching the original, every segment
 * verified and copied unchanged. `--dry-run` reports what would change and
 * verifies the segments without writing anything.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { ErrorCodes, isCkptError } from '../../index.js';
import { convertImageFile, FORMAT_VERSION, WRITABLE_FORMAT_VERSIONS } from '../../format/index.js';
import { addCommonOptions, examples, positiveInt, type CommandContext } from '../command.js';
import { usageError } from '../errors.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { downloadS3Image, localPath, requireImagePath } from '../inputs.js';
import { isS3Url } from '../../store/s3-url.js';
import { formatBytes, Output, plural, type CommonOptions } from '../output.js';
import { createProgress, type Progress } from '../progress.js';

/** Options of `ckpt convert`. */
export interface ConvertCliOptions extends CommonOptions {
  /** Target format version. */
  readonly to?: number;
  /** Report only. */
  readonly dryRun?: boolean;
}

/** Register `ckpt convert`. */
export function registerConvert(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('convert')
    .description('write a copy of an image in another format version (atomic; the original is never touched)')
    .argument('<in>', 'image file to convert')
    .argument('[out]', 'new image file to write (must not exist; not needed with --dry-run)')
    .option('--to <version>', `target format version (${WRITABLE_FORMAT_VERSIONS.join(' or ')}; default ${FORMAT_VERSION}, the current one)`, positiveInt('--to'))
    .option('--dry-run', 'show what would change and verify every segment; write nothing');
  addCommonOptions(cmd, true);
  cmd.addHelpText(
    'after',
    examples(['ckpt convert old.ckpt new.ckpt                # to the current format', 'ckpt convert new.ckpt v1.ckpt --to 1          # for an older ckpt, if nothing would be lost', 'ckpt convert old.ckpt --dry-run']),
  );
  cmd.action(async (input: string, output: string | undefined, options: ConvertCliOptions) => ctx.setExit(await runConvert(input, output, options, ctx)));
}

/**
 * Follow the size of the temp file `convertImageFile` writes beside the
 * output (`.<name>.tmp-<pid>-*`) to drive the progress bar. Best effort: if
 * the file is not found the bar just does not move.
 */
function watchTempFile(output: string, progress: Progress): () => void {
  const dir = dirname(resolve(output));
  const prefix = `.${basename(output)}.tmp-${process.pid}-`;
  let last = 0;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      try {
        const name = (await readdir(dir)).find((n) => n.startsWith(prefix));
        if (name !== undefined) {
          const size = (await stat(resolve(dir, name))).size;
          if (size > last) progress.add(size - last);
          last = size;
        }
      } catch {
        // the temp file was renamed or removed meanwhile
      } finally {
        busy = false;
      }
    })();
  }, 100);
  timer.unref();
  return () => clearInterval(timer);
}

async function runConvert(input: string, output: string | undefined, options: ConvertCliOptions, ctx: CommandContext): Promise<ExitCodeValue> {
  const out = new Output(ctx.io, options);
  const dryRun = options.dryRun === true;
  if (output === undefined && !dryRun) throw usageError("missing output file: 'ckpt convert IN OUT' writes a new file OUT (or add --dry-run to only see what would change)");
  if (options.to !== undefined && !WRITABLE_FORMAT_VERSIONS.includes(options.to)) {
    throw usageError(`--to ${options.to}: this ckpt writes format versions ${WRITABLE_FORMAT_VERSIONS.join(', ')}`);
  }
  const inLocal = await requireImagePath(input, 'convert');
  const outPath = output === undefined ? undefined : localPath(output, 'output file');
  // An image in a bucket is converted from a local copy (the output is a local file either way).
  const copy = isS3Url(input) ? await downloadS3Image(input, 'convert') : undefined;
  try {
    return await convertPath(input, copy?.path ?? inLocal, output, outPath, dryRun, options, out, ctx);
  } finally {
    await copy?.remove();
  }
}

async function convertPath(input: string, inPath: string, output: string | undefined, outPath: string | undefined, dryRun: boolean, options: ConvertCliOptions, out: Output, ctx: CommandContext): Promise<ExitCodeValue> {
  const inSize = (await stat(inPath)).size;
  const progress = createProgress(ctx.io.stderr, { enabled: out.progress && !dryRun, label: 'converting', total: inSize });
  const stop = outPath !== undefined && !dryRun && out.progress ? watchTempFile(outPath, progress) : (): void => undefined;
  let report;
  try {
    report = await convertImageFile(inPath, outPath ?? `${inPath}.dry-run`, { ...(options.to === undefined ? {} : { to: options.to }), dryRun });
  } catch (err) {
    // A downgrade that would lose data: say what to do instead.
    if (isCkptError(err, ErrorCodes.INVALID_ARGUMENT) && /cannot hold/.test(err.message)) {
      throw usageError(`${input}: ${err.message}; keep it in its format (an older ckpt that reads only format ${options.to ?? FORMAT_VERSION} cannot read this image)`);
    }
    throw err;
  } finally {
    stop();
    progress.done();
  }
  if (out.json) {
    out.data({ input, output: dryRun ? null : (output ?? null), dryRun, ...report });
    return ExitCode.OK;
  }
  const c = out.c;
  if (dryRun) {
    out.print(`${c.bold('dry run')}: ${input} is format ${report.from}; converting it to format ${report.to} would:`);
  } else {
    out.print(`${c.green('converted')} ${input} (format ${report.from}) → ${output ?? ''} (format ${report.to}): ${formatBytes(report.bytes)} written`);
  }
  if (report.changes.length === 0) out.print(`  no changes needed (already format ${report.to}${dryRun ? '' : '; the output is a verified copy'})`);
  for (const ch of report.changes) out.print(`  - ${ch}`);
  out.print(`${plural(report.segments, 'segment')} verified${dryRun ? '; nothing was written' : ' and copied unchanged'}`);
  return ExitCode.OK;
}
