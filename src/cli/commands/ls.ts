/**
 * @module cli/commands/ls
 *
 * `ckpt ls DIR`: the committed images of a store, newest first — id, step,
 * label, creation time, size, providers — with the one `restore()` would
 * pick marked `*` and those failing their check marked `!` (damaged or
 * unreadable, or over this reader's limits) or `?` (newer than this ckpt).
 * `restore()` skips `!` images (with `CKPT_WARN_IMAGE_SKIPPED`) and fails on
 * a `?` image newer than every image that passes. Every image gets the quick check
 * (header, trailer and index); the images from the newest down to the pick
 * also get the full check `restore()` relies on (`--quick` skips that).
 * KIND says whether an image is `full` or `incr` (refers to bytes held by
 * older images), REFS how many images it refers to, PINNED which images
 * refer to it (retention keeps it while they are kept). A group image (a
 * `CheckpointGroup`'s) says so in PROVIDERS — its epoch and part count, from
 * its meta — and in JSON as `group: { epoch, parts }` (null otherwise).
 */
import type { Command } from 'commander';
import { ErrorCodes } from '../../index.js';
import { addCommonOptions, examples, type CommandContext } from '../command.js';
import { scanStore, type ImageCheck } from '../check.js';
import { addKeyOptions, cliKeys, type KeyOptions } from '../keys.js';

import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { openStoreForCli, warningsJson } from '../inputs.js';
import { formatBytes, formatDate, Output, plural, table, type CommonOptions } from '../output.js';
import { createProgress } from '../progress.js';
import { groupMeta, type GroupMeta } from '../group-image.js';
import { imageJson, problemLine } from './shared.js';

/** Options of `ckpt ls`. */
export interface LsOptions extends CommonOptions, KeyOptions {
  /** Quick check only. */
  readonly quick?: boolean;
}

/** Register `ckpt ls`. */
export function registerLs(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('ls')
    .description('list the committed images of a store, newest first; mark the one restore() would pick (*) and any that fail a check (! damaged, ? newer)')
    .argument('<dir>', 'store directory (the one given to new Checkpointer({ store }))')
    .option('--quick', 'quick check only (header, trailer, index); do not read the data of the newest images');
  addKeyOptions(cmd);
  addCommonOptions(cmd, true);
  cmd.addHelpText(
    'after',
    `
Marks: *  the image restore() would pick (the newest that passes the full check)
       !  fails its check (damaged, unreadable, or over this reader's default limits):
          restore() skips it; 'ckpt verify DIR' lists every problem
       ?  written by a newer ckpt (format or required feature): restore() fails on it
          when it is newer than every image that passes
KIND full (stands alone) or incr (refers to bytes held by older images);
REFS how many images it refers to; PINNED which images refer to it
(retention never deletes it while they are kept)
${examples(['ckpt ls ./checkpoints', 'ckpt ls ./checkpoints --json | jq \'.images[] | select(.status != "ok") | .id\''])}`,
  );
  cmd.action(async (dir: string, options: LsOptions) => ctx.setExit(await runLs(dir, options, ctx)));
}

/**
 * The images newer than `stop` (the pick, or the image restore() fails on;
 * null: all of them) that restore() skips only because they are over a
 * reader limit — an app with raised limits would restore one of them.
 */
export function limitSkipped(images: readonly ImageCheck[], stop: string | null): string[] {
  const ids: string[] = [];
  for (const c of images) {
    if (c.id === stop) break;
    if (c.problems.some((p) => p.code === ErrorCodes.LIMIT)) ids.push(c.id);
  }
  return ids;
}

/** `full` (no references), `incr` (refers to older images), or null when its index cannot be read. */
export function kindOf(c: ImageCheck): 'full' | 'incr' | null {
  if (c.refs === undefined) return null;
  return c.refs.length > 0 ? 'incr' : 'full';
}

/** For each image, the listed images that refer to it (newest first): while any is kept, it cannot be pruned. */
export function referrersOf(images: readonly ImageCheck[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const c of images) {
    for (const r of c.refs ?? []) {
      const list = out.get(r) ?? [];
      list.push(c.id);
      out.set(r, list);
    }
  }
  return out;
}

function pinnedText(by: readonly string[] | undefined): string {
  if (by === undefined || by.length === 0) return '-';
  return by.length === 1 ? `by ${by[0]!}` : `by ${by.length}`;
}

function groupOf(c: ImageCheck): GroupMeta | null {
  return c.info === null ? null : groupMeta(c.info.meta);
}

/** `group: { epoch, parts }` of a group image (a value the meta holds that is not valid is null), or null. */
function groupJson(c: ImageCheck): { epoch: number | null; parts: number | null } | null {
  const g = groupOf(c);
  return g === null ? null : { epoch: g.epoch, parts: g.parts };
}

/**
 * The PROVIDERS column: `id@version …`; for a group image `group epoch 7, 4
 * parts` (its part providers are listed by 'ckpt inspect').
 */
function providersText(providers: readonly { readonly id: string; readonly version: number }[], g: GroupMeta | null): string {
  if (g === null) return providers.map((p) => `${p.id}@${p.version}`).join(' ') || '(none)';
  const epoch = g.epoch === null ? 'group (bad epoch in meta)' : `group epoch ${String(g.epoch)}`;
  const parts = g.parts === null ? 'bad part count in meta' : plural(g.parts, 'part');
  return `${epoch}, ${parts}${g.parts !== null && g.parts !== providers.length ? ` (holds ${plural(providers.length, 'provider')}; 'ckpt verify' checks it)` : ''}`;
}

function mark(check: ImageCheck, pick: string | null): string {
  if (check.id === pick) return '*';
  if (check.status === 'newer') return '?';
  if (check.status !== 'ok') return '!';
  return ' ';
}

async function runLs(dir: string, options: LsOptions, ctx: CommandContext): Promise<ExitCodeValue> {
  const out = new Output(ctx.io, options);
  const keys = await cliKeys(options, ctx.io.env);
  const store = await openStoreForCli(dir, 'read', { command: 'ls', out });
  const progress = createProgress(ctx.io.stderr, { enabled: out.progress, label: 'checking' });
  let scan;
  try {
    scan = await scanStore(store, { verify: options.quick === true ? 'none' : 'until-valid', progress, keys });
  } finally {
    progress.done();
  }
  const restoreError = scan.blockedBy !== null ? scan.blockedBy.problems[0] ?? null : null;
  const referrers = referrersOf(scan.images);
  if (out.json) {
    out.data({
      store: store.dir,
      images: scan.images.map((c) => ({
        ...imageJson(c),
        restorePick: c.id === scan.pick,
        kind: kindOf(c),
        references: c.refs ?? null,
        referencedBy: referrers.get(c.id) ?? [],
        pinned: (referrers.get(c.id) ?? []).length > 0,
        group: groupJson(c),
      })),
      restore: {
        pick: scan.pick,
        verified: scan.pickVerified,
        error: restoreError,
      },
      leftovers: store.leftovers,
      warnings: warningsJson(store),
    });
    return ExitCode.OK;
  }
  const bad = scan.images.filter((c) => c.status !== 'ok').length;
  out.print(out.c.bold(`store ${store.dir}`) + ` — ${plural(scan.images.length, 'image')}${bad > 0 ? `, ${out.c.red(`${bad} failing`)}` : ''}`);
  if (scan.images.length === 0) {
    out.print('no committed images; restore() would start fresh (it resolves undefined)');
    return ExitCode.OK;
  }
  const rows: string[][] = [['', 'ID', 'STEP', 'LABEL', 'CREATED', 'SIZE', 'KIND', 'REFS', 'PINNED', 'PROVIDERS']];
  const notes = new Map<number, string>();
  for (const c of scan.images) {
    const m = mark(c, scan.pick);
    const colored = m === '*' ? out.c.green(m) : m === '!' ? out.c.red(m) : m === '?' ? out.c.yellow(m) : m;
    const i = c.info;
    rows.push([
      colored,
      c.id,
      i === null ? '?' : i.step === null ? '-' : String(i.step),
      i === null ? '?' : (i.label ?? '-'),
      i === null ? '?' : formatDate(i.createdAt),
      formatBytes(c.bytes),
      kindOf(c) ?? '?',
      c.refs === undefined ? '?' : String(c.refs.length),
      pinnedText(referrers.get(c.id)),
      c.encrypted?.locked === true ? `(encrypted, key ${c.encrypted.keyId})` : i === null ? '?' : providersText(i.providers, groupOf(c)),
    ]);
    if (c.problems.length > 0) notes.set(rows.length - 1, problemLine(c.problems[0]!, c.problems.length));
  }
  const lines = table(rows);
  lines.forEach((l, n) => {
    out.print(n === 0 ? out.c.dim(l) : l);
    const note = notes.get(n);
    if (note !== undefined) out.print(out.c.dim(`     └ ${note}`));
  });
  out.print('');
  const overLimit = limitSkipped(scan.images, scan.pick ?? scan.blockedBy?.id ?? null);
  if (scan.pick !== null) {
    out.print(`* restore() would pick ${scan.pick}${scan.pickVerified ? ' (fully checked)' : ' (quick check only; its data was not read)'}`);
  } else if (restoreError !== null && scan.blockedBy !== null) {
    out.print(out.c.red(`restore() would fail on ${scan.blockedBy.id}: ${restoreError.code}`) + ` — ${restoreError.message}`);
  } else {
    out.print(out.c.red('restore() would fail: no valid image (CKPT_ERR_NO_VALID_IMAGE)') + `; move the damaged images away to start fresh`);
  }
  if (overLimit.length > 0) {
    out.print(
      `${overLimit.length === 1 ? `${overLimit[0]!} is` : `${plural(overLimit.length, 'image')} (${overLimit.join(', ')}) are`} over this reader's default limits (${ErrorCodes.LIMIT}): ` +
        `restore() with default limits skips ${overLimit.length === 1 ? 'it' : 'them'}; an app that raises the limit named reads ${overLimit.length === 1 ? 'it' : 'them'}`,
    );
  }
  const locked = scan.images.filter((c) => c.encrypted?.locked === true);
  if (locked.length > 0) out.print(`${plural(locked.length, 'encrypted image')} listed from ${locked.length === 1 ? 'its' : 'their'} public manifest (no key given): pass --key-file (or CKPT_KEY_FILE, CKPT_PASSPHRASE) to check ${locked.length === 1 ? 'its' : 'their'} contents`);
  if (bad > 0) out.print(`${bad === 1 ? 'one image fails' : `${bad} images fail`} a check; 'ckpt verify ${dir}' lists every problem`);
  if (store.leftovers.length > 0) out.print(out.c.dim(`${plural(store.leftovers.length, 'leftover temporary file')} of interrupted checkpoints (removed by the next writer or 'ckpt prune')`));
  return ExitCode.OK;
}
