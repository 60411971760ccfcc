/**
 * @module cli/commands/rekey
 *
 * `ckpt rekey DIR --from-key old.bin --to-key new.bin [--to-key-id ID]`:
 * rewrap the data key of every encrypted image of a local store under a new
 * key, so an old key can be retired. Segments are not re-encrypted: each
 * image's header and segments are copied byte for byte, its crypto block and
 * index tail rewritten (see crypto/rekey).
 *
 * Fail closed, nothing lost on a kill: every image is first checked to open
 * with the old key (any failure stops the command before anything is
 * written). Then, holding the store's writer lock, each image is copied into
 * a temporary file of the store (`.tmp-<id>-…partial`, which list() ignores
 * and the next writer or `ckpt prune` removes), its tail replaced, the file
 * fsynced and renamed over the image (same id), the directory fsynced. A kill
 * leaves each image either as it was or rekeyed, never half-written.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CkptError, ErrorCodes, isCkptError } from '../../index.js';
import { cliKeySource } from '../../crypto/keys.js';
import { rekeyTail, type RekeyedTail } from '../../crypto/rekey.js';
import { faultPoint } from '../../lifecycle/fault-points.js';
import { isS3Url } from '../../store/s3-url.js';
import { addCommonOptions, examples, nonNegativeInt, type CommandContext } from '../command.js';
import { usageError } from '../errors.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { openStoreForCli, storeImagePath, warningsJson } from '../inputs.js';
import { readKeyFile } from '../keys.js';
import { Output, plural, type CommonOptions } from '../output.js';
import { acquire } from './prune.js';

/** Options of `ckpt rekey`. */
export interface RekeyOptions extends CommonOptions {
  readonly fromKey?: string;
  readonly toKey?: string;
  readonly toKeyId?: string;
  readonly waitMs?: number;
}

/** Register `ckpt rekey`. */
export function registerRekey(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('rekey')
    .description("rewrap the data keys of a store's encrypted images under a new key (segments are not re-encrypted)")
    .argument('<dir>', 'store directory')
    .option('--from-key <path>', 'the key the images are wrapped with now (32 bytes, raw or 64 hex digits); CKPT_PASSPHRASE for passphrase images')
    .requiredOption('--to-key <path>', 'the new key (32 bytes, raw or 64 hex digits)')
    .option('--to-key-id <id>', 'key id recorded for the new key (default: each image keeps its key id)')
    .option('--wait-ms <ms>', "wait this long for the store's writer lock", nonNegativeInt('--wait-ms'));
  addCommonOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Every image is checked to open with --from-key before anything is written;
then each one is rewritten through a temporary file renamed over it (same id).
A kill leaves every image either as it was or rekeyed; run the same command
again to finish (images the new key already opens are left as they are, as
are plaintext images). Only local store directories.
${examples(['ckpt rekey ./checkpoints --from-key k1.bin --to-key k2.bin --to-key-id k2'])}`,
  );
  cmd.action(async (dir: string, options: RekeyOptions) => ctx.setExit(await runRekey(dir, options, ctx)));
}

async function runRekey(dir: string, options: RekeyOptions, ctx: CommandContext): Promise<ExitCodeValue> {
  const out = new Output(ctx.io, options);
  if (isS3Url(dir)) throw usageError("'ckpt rekey' works on local store directories only (an object store has no atomic replace of an object under the same id that ckpt relies on)");
  if (options.toKey === undefined) throw usageError('--to-key is required');
  const toKey = await readKeyFile(options.toKey, '--to-key');
  const fromKey = options.fromKey === undefined ? undefined : await readKeyFile(options.fromKey, '--from-key');
  const from = cliKeySource({ key: fromKey, passphrase: ctx.io.env['CKPT_PASSPHRASE'], allowPlaintext: true });
  if (from === undefined) throw usageError('give the current key: --from-key old.bin (or CKPT_PASSPHRASE for images written with a passphrase)');
  const toKeyId = options.toKeyId;
  if (toKeyId !== undefined && (toKeyId.length === 0 || toKeyId.length > 256)) throw usageError('--to-key-id must be 1..256 characters');
  const store = await openStoreForCli(dir, 'write', { command: 'rekey', out });
  const lock = await acquire(store, options.waitMs ?? 0, 'rekey');
  const done: { id: string; from: string; to: string }[] = [];
  const plaintext: string[] = [];
  const skipped: string[] = [];
  const to = cliKeySource({ key: toKey, passphrase: undefined, allowPlaintext: true })!;
  try {
    // 1. Every image must open with the old key: compute every new tail first (fail closed, nothing written).
    const plans: { id: string; tail: RekeyedTail; keyId: string }[] = [];
    for (const e of await store.store.list()) {
      const source = await store.store.open(e.id);
      try {
        // The key id is known only from the image: rekey once to read it, again with the id to keep.
        // An image the old key does not open but the new one does is already rekeyed (an earlier
        // rekey that was stopped part-way, or images written after a rotation): left as it is.
        let opener = from;
        let probe: RekeyedTail | undefined;
        try {
          probe = await rekeyTail(source, from, { key: toKey, keyId: toKeyId ?? '?' });
        } catch (err) {
          if (!isCkptError(err) || err.code !== ErrorCodes.KEY) throw err;
          const already = await rekeyTail(source, to, { key: toKey, keyId: toKeyId ?? '?' }).catch(() => undefined);
          if (already === undefined) throw err;
          if (toKeyId === undefined || already.fromKeyId === toKeyId) {
            skipped.push(e.id);
            continue;
          }
          opener = to;
          probe = already;
        }
        if (probe === undefined) {
          plaintext.push(e.id);
          continue;
        }
        const keyId = toKeyId ?? probe.fromKeyId;
        const tail = toKeyId !== undefined ? probe : (await rekeyTail(source, opener, { key: toKey, keyId }))!;
        plans.push({ id: e.id, tail, keyId });
      } catch (err) {
        if (isCkptError(err)) throw new CkptError(err.code, `${err.message}; nothing was rekeyed`, { cause: err, ...(err.image === undefined ? {} : { image: err.image }) });
        throw err;
      } finally {
        await source.close();
      }
    }
    // 2. Rewrite each image through a temporary file renamed over it.
    for (const p of plans) {
      await replaceTail(store.dir, p.id, p.tail);
      done.push({ id: p.id, from: p.tail.fromKeyId, to: p.keyId });
    }
  } finally {
    await lock.release();
  }
  if (out.json) {
    out.data({ store: store.dir, rekeyed: done, alreadyRekeyed: skipped, plaintext, warnings: warningsJson(store) });
    return ExitCode.OK;
  }
  out.print(`rekeyed ${plural(done.length, 'image')}${done.length > 0 ? ` (${[...new Set(done.map((d) => `${d.from} → ${d.to}`))].join(', ')})` : ''}${plaintext.length > 0 ? `; ${plural(plaintext.length, 'plaintext image')} left as ${plaintext.length === 1 ? 'it is' : 'they are'}` : ''}${skipped.length > 0 ? `; ${plural(skipped.length, 'image')} already under the new key` : ''}`);
  if (done.length > 0) out.print('the old key is no longer needed for these images; keep it until every copy (backups, replicas) is rekeyed too');
  return ExitCode.OK;
}

/** Copy image `id` to a temporary file, replace its tail, fsync, rename over the image, fsync the directory. */
async function replaceTail(dir: string, id: string, t: RekeyedTail): Promise<void> {
  const target = storeImagePath(dir, id);
  const temp = join(dir, `.tmp-${id}-${process.pid}-${randomBytes(4).toString('hex')}.partial`);
  try {
    await copyFile(target, temp);
    const fh = await open(temp, 'r+');
    try {
      await fh.truncate(t.keep);
      let written = 0;
      while (written < t.tail.length) {
        const { bytesWritten } = await fh.write(t.tail, written, t.tail.length - written, t.keep + written);
        written += bytesWritten;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    faultPoint('rekey-copied');
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  faultPoint('rekey-renamed');
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
