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
import { compactImageWith } from '../../retention/compact.js';
import { cliKeySource } from '../../crypto/keys.js';
import { readPublicInfo } from '../../image/reader.js';
import { isCkptError, ErrorCodes } from '../../errors.js';
import { addKeyOptions, cliKeyFile, type KeyOptions } from '../keys.js';
import type { KeySource } from '../../crypto/keys.js';
import type { Store } from '../../store/store.js';
import { addCommonOptions, examples, nonNegativeInt, type CommandContext } from '../command.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { openStoreForCli, warningsJson } from '../inputs.js';
import { formatBytes, Output, type CommonOptions } from '../output.js';
import { acquire } from './prune.js';

/** Options of `ckpt compact`. */
export interface CompactCliOptions extends CommonOptions, KeyOptions {
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
  addKeyOptions(cmd);
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
An encrypted image needs its key (--key-file, CKPT_KEY_FILE or
CKPT_PASSPHRASE); its copy is encrypted under the same key id, with a new
data key.
${examples(['ckpt compact ./checkpoints', 'ckpt compact ./checkpoints && ckpt prune ./checkpoints --keep-last 1'])}`,
  );
  cmd.action(async (dir: string, id: string | undefined, options: CompactCliOptions) => ctx.setExit(await runCompact(dir, id, options, ctx)));
}

async function runCompact(dir: string, id: string | undefined, options: CompactCliOptions, ctx: CommandContext): Promise<ExitCodeValue> {
  const out = new Output(ctx.io, options);
  const store = await openStoreForCli(dir, 'write', { command: 'compact', out });
  const lock = await acquire(store, options.waitMs ?? 0, 'compact');
  try {
    const keys = await compactKeys(store.store, id, options, ctx.io.env);
    const report = await compactImageWith(store.store, lock, { ...(id === undefined ? {} : { imageId: id }), ...(options.force === true ? { force: true } : {}) }, keys);
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

/**
 * The keys of `ckpt compact`: a key file opens the images and wraps the
 * copy under the key id of the image compacted (read from its clear crypto
 * block); a passphrase does both by itself. Undefined when none is given.
 */
async function compactKeys(store: Store, id: string | undefined, options: KeyOptions, env: Readonly<Record<string, string | undefined>>): Promise<KeySource | undefined> {
  const key = await cliKeyFile(options, env);
  let writeKeyId: string | undefined;
  const target = id ?? (await store.list())[0]?.id;
  if (key !== undefined && target !== undefined) {
    const source = await store.open(target).catch(() => undefined);
    if (source !== undefined) {
      try {
        const block = (await readPublicInfo(source)).block;
        if (block.key.kek === 'keyring') writeKeyId = block.key.keyId;
      } catch (err) {
        // Plaintext or damaged: compactImage reports it.
        if (!isCkptError(err) || (err.code !== ErrorCodes.NOT_ENCRYPTED && err.code !== ErrorCodes.CORRUPT)) throw err;
      } finally {
        await source.close();
      }
    }
  }
  return cliKeySource({ key, passphrase: env['CKPT_PASSPHRASE'], allowPlaintext: true, writeKeyId });
}
