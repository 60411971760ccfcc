/**
 * @module cli/commands/prune
 *
 * `ckpt prune DIR --keep-last N`: retention from the shell, with the
 * library's policies (`keepLast`, `keepEverySteps`, `keepEverySeconds`,
 * `keepLabelled`, `selectForDeletion`). Safety rules beyond the policies:
 *
 * - the newest *valid* image (the one `restore()` would pick, found by the
 *   full check) always survives, in addition to the last N — so damaged
 *   newest images can never leave a store without a usable image;
 * - images that cannot be read (damaged index, newer format, over a limit)
 *   are never deleted, as in the library's own retention; they are listed;
 * - the store's writer lock is taken first, so a running writer is never
 *   disturbed: if one holds it, nothing is done and the exit code is 5.
 *
 * With the lock held, leftovers of interrupted checkpoints are removed too.
 * `--dry-run` shows the decision without taking the lock or deleting.
 */
import type { Command } from 'commander';
import {
  ErrorCodes,
  isCkptError,
  keepEverySeconds,
  keepEverySteps,
  keepLabelled,
  keepLast,
  type ImageInfo,
  type RetentionPolicy,
  type Store,
  type WriterLock,
} from '../../index.js';
import { explainDecision, planRetention, type RetentionDecision } from '../../retention/plan.js';
import { scanStore, type ImageCheck } from '../check.js';
import { addKeyOptions, cliKeys, type KeyOptions } from '../keys.js';
import { addCommonOptions, examples, nonNegativeInt, positiveInt, type CommandContext } from '../command.js';
import { CliError, usageError } from '../errors.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { openStoreForCli, warningsJson, type StoreDir } from '../inputs.js';
import { formatBytes, formatDate, Output, plural, table, type CommonOptions } from '../output.js';
import { createProgress } from '../progress.js';

/** Options of `ckpt prune`. */
export interface PruneOptions extends CommonOptions, KeyOptions {
  /** Keep the newest N images. */
  readonly keepLast?: number;
  /** Keep one image per N steps. */
  readonly keepEverySteps?: number;
  /** Keep one image per S seconds. */
  readonly keepEverySeconds?: number;
  /** Keep labelled images. */
  readonly keepLabelled?: boolean;
  /** Only show what would be deleted. */
  readonly dryRun?: boolean;
  /** Say per image why it is kept, pinned or deleted. */
  readonly explain?: boolean;
  /** How long to wait for the writer lock, in ms. */
  readonly waitMs?: number;
}

/** Register `ckpt prune`. */
export function registerPrune(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('prune')
    .description('delete old images by retention policy; never deletes the newest valid image or one it cannot read')
    .argument('<dir>', 'store directory')
    .option('--keep-last <n>', 'keep the newest N images', positiveInt('--keep-last'))
    .option('--keep-every-steps <n>', 'also keep the newest image of every block of N steps', positiveInt('--keep-every-steps'))
    .option('--keep-every-seconds <s>', 'also keep the newest image of every S seconds of wall time', positiveInt('--keep-every-seconds'))
    .option('--keep-labelled', 'also keep every image that has a label')
    .option('--dry-run', 'show what would be deleted; delete nothing (does not take the lock)')
    .option('--explain', 'say per image why it is kept, pinned (a kept image refers to it) or deleted')
    .option('--wait-ms <ms>', "wait this long for a running writer's lock; 0 fails at once", nonNegativeInt('--wait-ms'), 0);
  addKeyOptions(cmd);
  addCommonOptions(cmd, true);
  cmd.addHelpText(
    'after',
    `
Always kept, whatever the policies say: the newest image, the newest valid
image (what restore() would pick), and images that cannot be read.
Encrypted incremental images list the images they refer to inside their
encrypted index: without their key (--key-file, CKPT_KEY_FILE or
CKPT_PASSPHRASE) prune cannot tell, and keeps every older image.
The store's writer lock is taken first; if a running program holds it,
prune changes nothing and exits with 5 (stop the writer, or retry later).
${examples(['ckpt prune ./checkpoints --keep-last 3 --dry-run', 'ckpt prune ./checkpoints --keep-last 5 --keep-labelled', 'ckpt prune ./checkpoints --keep-last 1 --keep-every-steps 10000 --json'])}`,
  );
  cmd.action(async (dir: string, options: PruneOptions) => ctx.setExit(await runPrune(dir, options, ctx)));
}

/** The reasons an image is kept. */
type KeepReason = 'policy' | 'newest' | 'newest-valid' | 'unreadable' | 'pinned';

/** The one reason shown for a decision (null: deleted). */
function keepReason(d: RetentionDecision): KeepReason | null {
  if (d.action === 'delete') return null;
  if (d.action === 'pinned') return 'pinned';
  if (d.reasons.includes('unreadable')) return 'unreadable';
  if (d.reasons.includes('always-keep') && !d.reasons.includes('policy') && !d.reasons.includes('newest')) return 'newest-valid';
  if (d.reasons.includes('newest')) return 'newest';
  return 'policy';
}

async function runPrune(dir: string, options: PruneOptions, ctx: CommandContext): Promise<ExitCodeValue> {
  const out = new Output(ctx.io, options);
  const policies: RetentionPolicy[] = [];
  if (options.keepLast !== undefined) policies.push(keepLast(options.keepLast));
  if (options.keepEverySteps !== undefined) policies.push(keepEverySteps(options.keepEverySteps));
  if (options.keepEverySeconds !== undefined) policies.push(keepEverySeconds(options.keepEverySeconds));
  if (options.keepLabelled === true) policies.push(keepLabelled());
  if (policies.length === 0) throw usageError('say what to keep: --keep-last N (and/or --keep-every-steps N, --keep-every-seconds S, --keep-labelled)');
  const store = await openStoreForCli(dir, 'write', { command: 'prune', out });
  const dryRun = options.dryRun === true;
  let lock: WriterLock | undefined;
  if (!dryRun) lock = await acquire(store, options.waitMs ?? 0);
  try {
    const progress = createProgress(ctx.io.stderr, { enabled: out.progress, label: 'checking' });
    let scan;
    try {
      const keys = await cliKeys(options, ctx.io.env);
      scan = await scanStore(store, { verify: 'until-valid', progress, ...(keys === undefined ? {} : { keys }) });
    } finally {
      progress.done();
    }
    const readable = scan.images.filter((c): c is ImageCheck & { info: ImageInfo } => c.info !== null);
    // Policies see every committed image, readable or not, newest first (so
    // "the last N" are the N newest files); unreadable ones get a stub.
    const all: ImageInfo[] = scan.images.map((c) => c.info ?? stubInfo(c));
    const refsById = new Map(scan.images.map((c) => [c.id, c.refs]));
    const plan = await planRetention(all, policies, (id) => refsById.get(id), {
      alwaysKeep: scan.pick === null ? [] : [scan.pick],
      // Never deleted; one that may be readable elsewhere (newer format, over a limit) also keeps what it may refer to.
      unreadable: scan.images.filter((c) => c.info === null && c.status !== 'damaged').map((c) => c.id),
      damaged: scan.images.filter((c) => c.info === null && c.status === 'damaged').map((c) => c.id),
    });
    const decisions = new Map(plan.decisions.map((d) => [d.id, d]));
    const toDelete = new Set(plan.deleteOrder);
    const deleted: string[] = [];
    let removedLeftovers: string[] = [];
    if (lock !== undefined) {
      // Newest first: a prune stopped half-way leaves no image referring to a deleted one.
      for (const id of plan.deleteOrder) {
        await store.store.delete(lock, id);
        deleted.push(id);
      }
      removedLeftovers = await store.store.cleanup(lock);
    }
    const explain = options.explain === true;
    const rows = scan.images.map((c) => {
      const d = decisions.get(c.id)!;
      return {
        id: c.id,
        action: d.action,
        reason: keepReason(d),
        status: c.status,
        step: c.info?.step ?? null,
        label: c.info?.label ?? null,
        createdAt: c.info?.createdAt.toISOString() ?? null,
        bytes: c.bytes,
        kind: c.refs === undefined ? null : c.refs.length > 0 ? 'incr' : 'full',
        refs: c.refs ?? null,
        keptBy: d.keptBy,
        pinnedBy: d.pinnedBy,
        ...(explain ? { why: explainDecision(d, plan.unknownRefs) } : {}),
      };
    });
    const freed = scan.images.filter((c) => toDelete.has(c.id)).reduce((n, c) => n + c.bytes, 0);
    if (out.json) {
      out.data({
        store: store.dir,
        warnings: warningsJson(store),
        dryRun,
        policies: policies.map((p) => p.name),
        newestValid: scan.pick,
        images: rows,
        deleted: dryRun ? [] : deleted,
        wouldDelete: dryRun ? [...plan.deleteOrder] : [],
        pinned: plan.pinned,
        freedBytes: freed,
        leftoversRemoved: removedLeftovers,
      });
      return ExitCode.OK;
    }
    const c = out.c;
    out.print(c.bold(`store ${store.dir}`) + ` — ${plural(scan.images.length, 'image')}; policies: ${policies.map((p) => p.name).join(', ')}`);
    if (scan.images.length === 0) {
      out.print('no committed images; nothing to prune');
    } else {
      const reasonText: Record<KeepReason, string> = {
        policy: 'kept by policy',
        newest: 'newest image',
        'newest-valid': 'newest valid image (restore() picks it)',
        unreadable: 'cannot be read: never pruned',
        pinned: 'pinned',
      };
      out.print(
        ...table(
          rows.map((r) => [
            r.action === 'delete' ? c.red(dryRun ? 'would delete' : 'deleted') : r.action === 'pinned' ? c.yellow('pinned') : c.green('keep'),
            r.id,
            r.step === null ? '-' : `step ${r.step}`,
            r.createdAt === null ? '?' : formatDate(r.createdAt),
            formatBytes(r.bytes),
            r.kind ?? '?',
            c.dim(
              r.why !== undefined
                ? r.why
                : r.reason === null
                  ? ''
                  : r.reason === 'pinned'
                    ? `pinned by ${r.pinnedBy.join(', ')}`
                    : reasonText[r.reason] + (r.status !== 'ok' && r.reason !== 'unreadable' ? ` (${r.status})` : ''),
            ),
          ]),
          '  ',
        ),
      );
      if (plan.pinned.length > 0) {
        out.print(
          c.yellow(`${plural(plan.pinned.length, 'image')} pinned`) +
            `: no policy keeps ${plan.pinned.length === 1 ? 'it' : 'them'}, but a kept image needs ${plan.pinned.length === 1 ? 'it' : 'them'}` +
            `${explain ? '' : ' (--explain says which)'}; 'ckpt compact ${dir}' writes the newest image as a full one so older images can go`,
        );
      }
    }
    if (readable.length > 0 && scan.pick === null) out.print(c.yellow('no valid image found: only the policies decided what to keep'));
    out.print(
      toDelete.size === 0
        ? 'nothing to delete'
        : dryRun
          ? `would delete ${plural(toDelete.size, 'image')} (${formatBytes(freed)}); nothing was deleted (--dry-run)`
          : `deleted ${plural(deleted.length, 'image')} (${formatBytes(freed)})`,
    );
    if (removedLeftovers.length > 0) out.print(`removed ${plural(removedLeftovers.length, 'leftover file')} of interrupted checkpoints`);
    return ExitCode.OK;
  } finally {
    await lock?.release();
  }
}

/** Take the writer lock; a running writer's lock becomes one clear line and exit code 5 (prune and compact). */
export async function acquire(store: StoreDir<Store>, waitMs: number, command = 'prune'): Promise<WriterLock> {
  try {
    return await store.store.acquireWriter({ waitMs });
  } catch (err) {
    if (!isCkptError(err, ErrorCodes.LOCKED)) throw err;
    const m = /locked by (pid \d+ on host [^\s(]+)(?: \(since ([^)]*)\))?/.exec(err.message);
    const holder = m === null ? undefined : `${m[1] ?? ''}${m[2] === undefined ? '' : `, since ${m[2]}`}`;
    throw new CliError(
      `store ${store.dir} is locked by a running writer${holder === undefined ? '' : ` (${holder})`}; ${command} changed nothing — stop the writer, or retry later (--wait-ms MS waits for the lock)`,
      ExitCode.LOCKED,
      { code: ErrorCodes.LOCKED, cause: err },
    );
  }
}

/** A stand-in description for an image that cannot be read (only its id counts). */
function stubInfo(c: ImageCheck): ImageInfo {
  return { id: c.id, step: null, label: null, createdAt: new Date(0), bytes: c.bytes, app: null, formatVersion: 0, library: '', node: '', hostname: null, meta: {}, providers: [] };
}
