/**
 * @module cli/commands/verify
 *
 * `ckpt verify IMAGE|DIR`: checks every checksum (header, trailer, index,
 * each segment) and decodes every provider of one image or of every image in
 * a store, reporting every problem found as `{ code, where, message }` — not
 * just the first. A group image (written by a `CheckpointGroup`) also has
 * every part checked: each `part-<i>` the meta's part count names present
 * and nothing else, each part state well formed, each saved provider's
 * stream decoded with its blobs. `--deep --app ./providers.js` also plans each restore
 * against the app's providers (`Checkpointer.plan()`), decodes with the app's
 * classes and runs the migration chains in a dry run (on decoded copies;
 * no provider's `restore()` is called, nothing is written).
 */
import type { Command } from 'commander';
import type { CkptError, ProviderPlan } from '../../index.js';
import type { VerifyProblem } from '../../format/index.js';
import { runMigrationChain } from '../../convert/migrate.js';
import { openImageFileSource } from '../../store/fs-image-source.js';
import { siblingImages } from '../../store/open-image-file.js';
import { isS3Url } from '../../store/s3-url.js';
import { loadAppModule, setupApp, type AppSetup } from '../app-module.js';
import { checkImage, problemOf, scanStore, statusOf, type ImageCheck } from '../check.js';
import type { GroupCheck } from '../group-image.js';
import { addCommonOptions, examples, type CommandContext } from '../command.js';
import { addKeyOptions, cliKeys, type KeyOptions } from '../keys.js';

import { usageError } from '../errors.js';
import { exitCodeForProblems, type ExitCodeValue } from '../exit-codes.js';
import { openImagePath, openStoreForCli, pathKind, s3ImageView, warningsJson, type StoreDir } from '../inputs.js';
import { Output, plural, type CommonOptions } from '../output.js';
import { createProgress } from '../progress.js';
import { SingleImageStore, StoreImageView } from '../single-image-store.js';
import { imageJson } from './shared.js';

/** Options of `ckpt verify`. */
export interface VerifyOptions extends CommonOptions, KeyOptions {
  /** Plan restores and run migrations in a dry run (needs --app). */
  readonly deep?: boolean;
  /** Module registering the app's providers. */
  readonly app?: string;
}

/** Register `ckpt verify`. */
export function registerVerify(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('verify')
    .description('check every checksum and decode everything in an image or a whole store; report every problem')
    .argument('<target>', 'an image file, or a store directory (every image in it)')
    .option('--deep', "also plan the restore against the app's providers and run their migrations in a dry run (needs --app)")
    .option('--app <module>', "module that registers the app's providers: export default function (ckpt) { ckpt.register(…) } (relative to the current directory; implies --deep)");
  addKeyOptions(cmd);
  addCommonOptions(cmd, true);
  cmd.addHelpText(
    'after',
    `
Exit code: 0 when no problem was found; otherwise the most serious one:
2 damaged, 4 unreadable, 3 newer than this ckpt, 7 an app-level problem (--deep).
${examples(['ckpt verify ./checkpoints/000000000042.ckpt', 'ckpt verify ./checkpoints --json', 'ckpt verify ./checkpoints --deep --app ./dist/providers.js'])}`,
  );
  cmd.action(async (target: string, options: VerifyOptions) => ctx.setExit(await runVerify(target, options, ctx)));
}

/** One provider's line of the deep check. */
interface DeepProvider {
  readonly plan: ProviderPlan;
  readonly ok: boolean;
  readonly error: VerifyProblem | null;
}

/** What the deep check found for one image. */
interface DeepResult {
  readonly providers: readonly DeepProvider[];
  readonly problems: readonly VerifyProblem[];
}

function planProblem(e: CkptError): VerifyProblem {
  return { code: e.code, where: e.provider === undefined ? 'plan' : `provider ${JSON.stringify(e.provider)}`, message: e.message };
}

/** Plan the restore of image `id` with the app's providers and run the migrations on decoded copies. */
async function deepCheck(setup: AppSetup, id: string, path: string, check: ImageCheck): Promise<DeepResult> {
  let plan;
  try {
    plan = await setup.ckpt.plan(id);
  } catch (err) {
    return { providers: [], problems: [problemOf(err, 'plan')] };
  }
  if (plan === undefined) return { providers: [], problems: [] };
  const problems: VerifyProblem[] = plan.errors.map(planProblem);
  const providers: DeepProvider[] = [];
  const damaged = new Set(check.problems.map((p) => p.where));
  let reader;
  try {
    for (const pp of plan.providers) {
      if (pp.action === 'error') {
        providers.push({ plan: pp, ok: false, error: pp.error === undefined ? null : planProblem(pp.error) });
        continue;
      }
      if (pp.action !== 'migrate' || pp.savedId === null || pp.from === null) {
        providers.push({ plan: pp, ok: true, error: null });
        continue;
      }
      const provider = setup.providers.get(pp.id);
      if (provider === undefined || damaged.has(`provider ${JSON.stringify(pp.savedId)}`)) {
        providers.push({ plan: pp, ok: false, error: null });
        continue;
      }
      try {
        reader ??= await openImagePath(path);
        const state = await reader.readProvider(pp.savedId, { classes: setup.classes });
        await runMigrationChain(provider, state, pp.from);
        providers.push({ plan: pp, ok: true, error: null });
      } catch (err) {
        const p = problemOf(err, `provider ${JSON.stringify(pp.id)}`);
        problems.push(p);
        providers.push({ plan: pp, ok: false, error: p });
      }
    }
  } finally {
    await reader?.close().catch(() => undefined);
  }
  return { providers, problems };
}

/** A group image's check as JSON (its problems are among the image's). */
function groupJson(g: GroupCheck): Record<string, unknown> {
  return { epoch: g.epoch, parts: g.parts, partsChecked: g.partsChecked, providersDecoded: g.providersDecoded };
}

/** `group epoch 7: 2 of 2 parts checked, 3 part providers decoded`. */
function groupCounts(g: GroupCheck): string {
  const epoch = g.epoch === null ? 'group (bad epoch)' : `group epoch ${String(g.epoch)}`;
  const parts = g.parts === null ? `${String(g.partsChecked)} parts checked (bad part count)` : `${String(g.partsChecked)} of ${plural(g.parts, 'part')} checked`;
  return `${epoch}: ${parts}, ${plural(g.providersDecoded, 'part provider')} decoded`;
}

interface VerifiedImage {
  readonly check: ImageCheck;
  readonly deep: DeepResult | null;
  readonly problems: readonly VerifyProblem[];
}

async function runVerify(target: string, options: VerifyOptions, ctx: CommandContext): Promise<ExitCodeValue> {
  const keys = await cliKeys(options, ctx.io.env);
  const out = new Output(ctx.io, options);
  if (options.deep === true && options.app === undefined) {
    throw usageError("--deep needs --app <module>: a module that registers the app's providers, e.g. export default function (ckpt) { ckpt.register({ id, version, migrations, snapshot, restore }) }");
  }
  const kind = await pathKind(target, 'image or store');
  const app = options.app === undefined ? undefined : await loadAppModule(options.app, ctx.io.cwd);
  let store: StoreDir | undefined;
  let setup: AppSetup | undefined;
  const results: VerifiedImage[] = [];
  let pick: string | null = null;
  const progress = createProgress(ctx.io.stderr, { enabled: out.progress, label: 'verifying' });
  try {
    if (kind === 'directory') {
      store = await openStoreForCli(target, 'read', { command: 'verify', out });
      if (app !== undefined) setup = await setupApp(app, store.store);
      const scan = await scanStore(store, { verify: 'all', progress, keys, groups: true, ...(setup === undefined ? {} : { classes: setup.classes }) });
      pick = scan.pick;
      for (const c of scan.images) results.push(await withDeep(c, setup));
    } else {
      if (kind !== 'file') throw usageError(`${target} is not a regular file or a directory; pass an image file or a store directory`);
      const single = isS3Url(target) ? s3ImageView(target) : new SingleImageStore(target);
      if (app !== undefined) setup = await setupApp(app, single);
      const size = (await single.list())[0]?.size ?? 0;
      progress.setTotal(2 * size);
      const s3 = single instanceof StoreImageView ? single : undefined;
      const c = await checkImage(() => (s3 === undefined ? openImageFileSource(target) : s3.open(s3.id)), single.id, target, size, {
        full: true,
        groups: true,
        progress,
        keys,
        // An incremental image's holders: the images next to it (a file) or in its store (s3://).
        holders: s3 === undefined ? siblingImages(target) : s3.holderSource(),
        ...(setup === undefined ? {} : { classes: setup.classes }),
      });
      results.push(await withDeep(c, setup));
    }
  } finally {
    progress.done();
    await setup?.ckpt.close().catch(() => undefined);
  }
  const all = results.flatMap((r) => r.problems);
  const exit = exitCodeForProblems(all.map((p) => p.code));
  if (out.json) {
    out.data({
      target,
      kind: store === undefined ? 'image' : 'store',
      ok: all.length === 0,
      exitCode: exit,
      ...(app === undefined ? {} : { app: app.path }),
      images: results.map((r) => ({
        ...imageJson(r.check),
        status: statusOf(r.problems),
        ok: r.problems.length === 0,
        segmentsChecked: r.check.segmentsChecked,
        providersDecoded: r.check.providersDecoded,
        ...(r.check.group === undefined ? {} : { group: groupJson(r.check.group) }),
        problems: r.problems,
        ...(r.deep === null
          ? {}
          : {
              deep: {
                ok: r.deep.problems.length === 0,
                providers: r.deep.providers.map((d) => ({ id: d.plan.id, savedId: d.plan.savedId, action: d.plan.action, from: d.plan.from, to: d.plan.to, steps: d.plan.steps, ok: d.ok, error: d.error })),
              },
            }),
      })),
      ...(store === undefined ? {} : { store: store.dir, restorePick: pick, leftovers: store.leftovers, warnings: warningsJson(store) }),
    });
    return exit;
  }
  const c = out.c;
  if (store !== undefined) out.print(c.bold(`store ${store.dir}`) + ` — ${plural(results.length, 'image')}`);
  const indent = store === undefined ? '' : '  ';
  for (const r of results) {
    const name = store === undefined ? target : r.check.id;
    const nProviders = r.check.info?.providers.length ?? 0;
    const counts =
      r.check.info === null
        ? 'not readable'
        : `${plural(r.check.segmentsChecked, 'segment')} checked, ${r.check.providersDecoded} of ${plural(nProviders, 'provider')} decoded${r.check.group === undefined ? '' : `; ${groupCounts(r.check.group)}`}`;
    if (r.problems.length === 0 && r.check.encrypted?.locked === true) {
      out.print(`${indent}${name}: ${c.yellow('checksums ok, contents not authenticated')} (encrypted with key id ${JSON.stringify(r.check.encrypted.keyId)} and no key given: header, trailer, crypto block and index checksums checked; segments NOT checked, their checksums are in the encrypted index; pass --key-file to check and authenticate every segment)`);
    } else if (r.problems.length === 0) {
      out.print(`${indent}${name}: ${c.green('ok')} (${counts}${r.deep === null ? '' : '; restore plan ok, migrations ran'})`);
    } else {
      const status = statusOf(r.problems);
      out.print(`${indent}${name}: ${c.red(status.toUpperCase())} — ${plural(r.problems.length, 'problem')} (${counts})`);
      for (const p of r.problems) out.print(`${indent}  ${c.red(p.code)}  ${p.message.startsWith(p.where) ? p.message : `${p.where}: ${p.message}`}`);
    }
    if (r.deep !== null && r.deep.providers.length > 0) {
      for (const d of r.deep.providers) {
        const pp = d.plan;
        const what =
          pp.action === 'migrate'
            ? `migrate ${pp.from} → ${pp.to} (step${pp.steps.length === 1 ? '' : 's'} ${pp.steps.join(', ')})`
            : pp.action === 'restore'
              ? `restore at version ${pp.to}`
              : pp.action === 'drop'
                ? 'dropped (not registered; unknownProviders: ignore)'
                : pp.action === 'skip'
                  ? 'not in the image; restore() not called (missingProviders: allow)'
                  : `fails with ${d.error?.code ?? 'an error'}`;
        const alias = pp.savedId !== null && pp.savedId !== pp.id ? ` (saved as ${JSON.stringify(pp.savedId)})` : '';
        out.print(`${indent}  ${c.dim('plan')} ${pp.id}${alias}: ${what} ${d.ok ? c.green('ok') : c.red('FAILED')}`);
      }
    }
  }
  if (store !== undefined) {
    const bad = results.filter((r) => r.problems.length > 0).length;
    out.print(`${results.length - bad} ok, ${bad} with problems${pick === null ? '' : `; restore() would pick ${pick}`}`);
    if (store.leftovers.length > 0) out.print(c.dim(`${plural(store.leftovers.length, 'leftover temporary file')} of interrupted checkpoints (not images; removed by the next writer or 'ckpt prune')`));
  }
  return exit;

  async function withDeep(check: ImageCheck, s: AppSetup | undefined): Promise<VerifiedImage> {
    const own = check.group === undefined ? check.problems : [...check.problems, ...check.group.problems];
    if (s === undefined || check.info === null) return { check, deep: null, problems: own };
    const deep = await deepCheck(s, check.id, check.path, check);
    return { check, deep, problems: [...own, ...deep.problems] };
  }
}
