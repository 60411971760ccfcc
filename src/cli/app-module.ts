/**
 * @module cli/app-module
 *
 * Loading the application's providers for checks that need app code
 * (`verify --deep`, `verify --app`): `--app ./providers.js` names an ES
 * module (or CommonJS file) resolved against the current directory that
 * exports a function registering providers and classes on a Checkpointer:
 *
 * ```js
 * // providers.mjs
 * import { Particle } from './model.js';
 * export default function (ckpt) {
 *   ckpt.registerClass(Particle, 'Particle');
 *   ckpt.register({ id: 'sim', version: 3, migrations: { 2: up2, 3: up3 }, snapshot() {}, restore() {} });
 * }
 * // optional: the Checkpointer options the app uses for restore
 * export const options = { unknownProviders: 'error', missingProviders: 'allow' };
 * ```
 *
 * The function may also be exported as `register`, and may be async. Only
 * the reading options (`unknownProviders`, `missingProviders`, `limits`,
 * `maxDepth`) of `options` are used. The function receives a real
 * Checkpointer (never checkpointing or restoring); the CLI records what is
 * registered so it can decode classes and run migrations in a dry run.
 */
import { stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ClassRegistry, type ClassConstructor } from '../codec/class-registry.js';
import { Checkpointer, ErrorCodes, isCkptError, type CheckpointerOptions, type Provider, type ReadStore } from '../index.js';
import { readOnlyStore } from '../store/read-only-store.js';
import { CliError } from './errors.js';
import { ExitCode } from './exit-codes.js';

/** The reading options an app module may export as `options`. */
export type AppReadOptions = Pick<CheckpointerOptions, 'unknownProviders' | 'missingProviders' | 'limits' | 'maxDepth'>;

/** A loaded `--app` module. */
export interface AppModule {
  /** The path as given. */
  readonly spec: string;
  /** Absolute path. */
  readonly path: string;
  /** The registering function. */
  readonly register: (ckpt: Checkpointer) => unknown;
  /** Reading options exported as `options`. */
  readonly options: AppReadOptions;
}

/** A Checkpointer set up by the app module, and what was registered on it. */
export interface AppSetup {
  /** The Checkpointer (close it when done). */
  readonly ckpt: Checkpointer;
  /** Registered providers by id, in registration order. */
  readonly providers: ReadonlyMap<string, Provider<unknown>>;
  /** Registered classes, for decoding. */
  readonly classes: ClassRegistry;
}

function appError(message: string, cause?: unknown): CliError {
  return new CliError(message, ExitCode.APP, cause === undefined ? { code: ErrorCodes.APP_MODULE } : { code: ErrorCodes.APP_MODULE, cause });
}

const SHAPE = 'it must export a function that registers providers, e.g. export default function (ckpt) { ckpt.register({ id, version, snapshot, restore, migrations }) }';

function pickOptions(raw: unknown, spec: string): AppReadOptions {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null) throw appError(`--app ${spec}: 'options' must be an object like { missingProviders: 'allow' }`);
  const o = raw as Record<string, unknown>;
  const entries = (['unknownProviders', 'missingProviders', 'limits', 'maxDepth'] as const).filter((k) => o[k] !== undefined).map((k) => [k, o[k]]);
  // The values are checked by the Checkpointer constructor (setupApp reports its error).
  return Object.fromEntries(entries) as AppReadOptions;
}

/** Load the module `spec` (relative to `cwd`) and find its registering function. */
export async function loadAppModule(spec: string, cwd: string): Promise<AppModule> {
  const path = resolve(cwd, spec);
  try {
    const st = await stat(path);
    if (!st.isFile()) throw appError(`--app ${spec}: ${path} is not a file; pass a .js or .mjs module`);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw appError(`--app ${spec}: no such file (resolved to ${path}); the path is relative to the current directory`, err);
  }
  const ext = extname(path);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const tsHint = ext === '.ts' || ext === '.mts' || ext === '.cts' ? '; compile it to JavaScript first, or run ckpt as node --import tsx node_modules/ckpt/dist/cli/main.js' : '';
    throw appError(`--app ${spec} failed to load: ${msg.split('\n')[0] ?? msg}${tsHint}`, err);
  }
  const def = mod['default'];
  const candidate =
    typeof def === 'function' ? def : typeof mod['register'] === 'function' ? mod['register'] : typeof def === 'object' && def !== null && typeof (def as Record<string, unknown>)['register'] === 'function' ? (def as Record<string, unknown>)['register'] : undefined;
  if (typeof candidate !== 'function') throw appError(`--app ${spec}: ${SHAPE}`);
  const options = pickOptions(mod['options'] ?? (typeof def === 'object' && def !== null ? (def as Record<string, unknown>)['options'] : undefined), spec);
  return { spec, path, register: candidate as (ckpt: Checkpointer) => unknown, options };
}

/**
 * Create a Checkpointer over `store` with the app's reading options, and let
 * the app module register its providers and classes on it. The Checkpointer
 * only plans: its store refuses every write.
 */
export async function setupApp(app: AppModule, store: ReadStore): Promise<AppSetup> {
  let ckpt: Checkpointer;
  try {
    ckpt = new Checkpointer({ store: readOnlyStore(store), signals: false, ...app.options });
  } catch (err) {
    throw appError(`--app ${app.spec}: its options are not valid: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  const providers = new Map<string, Provider<unknown>>();
  const classes = new ClassRegistry();
  const recording = new Proxy(ckpt, {
    get(target, prop): unknown {
      if (prop === 'register') {
        return (p: Provider<unknown>): (() => void) => {
          const off = target.register(p);
          providers.set(p.id, p);
          return off;
        };
      }
      if (prop === 'registerClass') {
        return (ctor: ClassConstructor, name?: string): void => {
          target.registerClass(ctor, name);
          classes.register(ctor, name);
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
    },
  });
  try {
    await app.register(recording);
  } catch (err) {
    await ckpt.close().catch(() => undefined);
    const msg = err instanceof Error ? err.message : String(err);
    throw appError(`--app ${app.spec} threw while registering providers${isCkptError(err) ? ` (${err.code})` : ''}: ${msg}`, err);
  }
  if (providers.size === 0) {
    await ckpt.close().catch(() => undefined);
    throw appError(`--app ${app.spec} registered no provider; ${SHAPE}`);
  }
  return { ckpt, providers, classes };
}
