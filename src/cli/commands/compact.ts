/**
 * @module cli/commands/compact
 *
 * `ckpt compact DIR [ID]`: rewrite the newest image (ID, if given, must name
 * it) that refers to older images as a full image under a new id, with
 * `compactImage` — through the store, atomically, every byte read and
 * checked first — so that retention (`ckpt prune`, or the program's own)
 * can delete the older images it pinned. The store's writer lock is taken
 * first, as `ckpt prune` does. Nothing is deleted.
 */
import type { Command } from 'commander';
import { compactImage } from '../../index.js';
import { addCommonOptions, examples, nonNegativeInt, type CommandContext } from '../command.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { openStoreForCli, warningsJson } from '../inputs.js';
import { formatBytes, Output, type CommonOptions } from '../output.js';
import { acquire } from './prune.js';

/** Options of `ckpt compact`. */
export interface CompactCliOptions extends CommonOptions {
  /** Rewrite even a full image. */
  readonly force?: boolean;
  /** How long to wait for the writer lock, in ms. */
  readonly waitMs?: number;
}

/** Register `ckpt compact`. */
export function registerCompact(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('compact')
    .description('rewrite the newest image as a full image under a new id, so older images it refers to can be pruned')
    .argument('<dir>', 'store directory')
    .argument('[id]', 'image to rewrite: only the newest is accepted (default: the newest)')
    .option('--force', 'rewrite the image even if it refers to no other image')
    .option('--wait-ms <ms>', "wait this long for a running writer's lock; 0 fails at once", nonNegativeInt('--wait-ms'), 0);
  addCommonOptions(cmd);
  cmd.addHelpText(
    'after',
    `
The new image holds every byte of the state itself, carries the original's
step, label and metadata, and is the newest image (restore() picks it).
That is why only the newest image can be compacted: a copy of an older one
would become the newest and restore() would go back to its older state.
Nothing is deleted: run 'ckpt prune' (or let the program's retention run)
to remove the older images no kept image refers to any more.
${examples(['ckpt compact ./checkpoints', 'ckpt compact ./checkpoints && ckpt prune ./checkpoints --keep-last 1'])}`,
  );
  cmd.action(async (dir: string, id: string | undefined, options: CompactCliOptions) => ctx.setExit(await runCompact(dir, id, options, ctx)));
}

async function runCompact(dir: string, id: string | undefined, options: CompactCliOptions, ctx: CommandContext): Promise<ExitCodeValue> {
  const out = new Output(ctx.io, options);
  const store = await openStoreForCli(dir, 'write', { command: 'compact', out });
  const lock = await acquire(store, options.waitMs ?? 0, 'compact');
  try {
    const report = await compactImage(store.store, lock, { ...(id === undefined ? {} : { imageId: id }), ...(options.force === true ? { force: true } : {}) });
    if (out.json) {
      out.data({ store: store.dir, warnings: warningsJson(store), ...report });
      return ExitCode.OK;
    }
    if (report.written === null) {
      out.print(`image ${report.source} refers to no other image: it is already full; nothing written (--force rewrites it anyway)`);
    } else {
      out.print(
        `wrote ${report.written} (${formatBytes(report.bytes)}): image ${report.source} as a full image` +
          (report.references.length > 0 ? `, which refers to ${report.references.join(', ')}; the new image refers to none` : ''),
      );
      out.print(`older images can now be pruned, e.g. 'ckpt prune ${dir} --keep-last 1'`);
    }
    return ExitCode.OK;
  } finally {
    await lock.release();
  }
}
