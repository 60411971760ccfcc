// How the reliability suites start their child programs. With esbuild (a
// dependency of tsx, always installed with the dev dependencies) the child
// and the library sources are bundled once into one ESM file, which starts in
// ~0.15 s instead of ~0.45 s through `node --import tsx`: for a soak of a
// thousand kills that is most of the wall time. Without esbuild, tsx is used.
import { mkdir, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** A command that runs one child program. */
export interface ChildCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** Removes the bundle, if one was built. */
  dispose(): Promise<void>;
  /** `bundle` or `tsx`, for reports. */
  readonly kind: 'bundle' | 'tsx';
}

interface EsbuildLike {
  build(options: Record<string, unknown>): Promise<unknown>;
}

/**
 * Bundle the program `entry` (a .ts file) with esbuild into one ESM file that
 * plain `node` (or a worker thread) can run. Returns its path, or undefined
 * when esbuild is not available or the bundle fails. The bundle lives in
 * node_modules/.cache (inside the repository, so its external packages
 * resolve) under a name unique to this process; remove it when done.
 */
export async function bundleEntry(entry: string): Promise<string | undefined> {
  if (process.env['CKPT_RELIABILITY_NO_BUNDLE'] === '1') return undefined;
  let esbuild: EsbuildLike;
  try {
    esbuild = (await import('esbuild'));
  } catch {
    return undefined;
  }
  const dir = join(repoRoot, 'node_modules', '.cache', 'ckpt-reliability');
  const out = join(dir, `bundle-${process.pid}-${randomBytes(4).toString('hex')}.mjs`);
  try {
    await mkdir(dir, { recursive: true });
    await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      outfile: out,
      logLevel: 'error',
      // src/version.ts and src/image/zstd.ts resolve files relative to their own
      // module (../package.json, zstd-napi): keep that working from the bundle.
      define: { 'import.meta.url': JSON.stringify(pathToFileURL(join(repoRoot, 'src', '__bundle__.js')).href) },
    });
  } catch {
    await rm(out, { force: true });
    return undefined;
  }
  created.add(out);
  return out;
}

const created = new Set<string>();

/** Remove every bundle this process built and has not removed yet (for interrupted runs). */
export async function removeBundles(): Promise<void> {
  await Promise.all([...created].map((p) => rm(p, { force: true })));
  created.clear();
}

/** Prepare a command for the child program `entry` (a path to a .ts file): a bundle if possible, else tsx. */
export async function childCommand(entry: string): Promise<ChildCommand> {
  const out = await bundleEntry(entry);
  if (out === undefined) return { command: process.execPath, args: ['--import', 'tsx', entry], dispose: () => Promise.resolve(), kind: 'tsx' };
  return { command: process.execPath, args: [out], dispose: () => rm(out, { force: true }), kind: 'bundle' };
}
