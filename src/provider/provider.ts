/**
 * @module provider/provider
 *
 * The `Provider` contract: one named piece of application state that ckpt
 * saves and restores, with its schema version, its migrations and its
 * lifecycle hooks. The contexts passed to each hook are defined here too.
 */
import type { CheckpointInfo, ImageInfo } from '../info.js';

/** Passed to `prepare`, `snapshot` and `resume`. */
export interface CheckpointContext {
  /** Step of the checkpoint being taken, or null. */
  readonly step: number | null;
  /** Label of the checkpoint being taken, or null. */
  readonly label: string | null;
}

/** Passed to `resume` after a checkpoint's capture (successful or not). */
export interface ResumeContext extends CheckpointContext {
  /** Whether the checkpoint succeeded so far (capture and, in synchronous mode, persist). */
  readonly ok: boolean;
  /** The failure, when `ok` is false. */
  readonly error?: Error;
}

/** Passed to `restore`. */
export interface RestoreContext {
  /** The image being restored. */
  readonly image: ImageInfo;
  /** Version of the state as it was saved (before migrations). */
  readonly savedVersion: number;
  /** Id the state was saved under (differs from the provider's id when read through an alias). */
  readonly savedId: string;
  /**
   * In a part of a checkpoint group, for a provider registered with `shard`:
   * which elements (range) or key groups (keyed) of the whole the restored
   * state holds. Absent elsewhere.
   */
  readonly shard?: ShardRestoreInfo;
}

/** What a part restored of a sharded provider: given to its `restore()` as `context.shard`. */
export interface ShardRestoreInfo {
  /** The provider's shard kind. */
  readonly kind: 'range' | 'keyed';
  /** Range: the first element of the whole array (all parts in order) this part holds; keyed: its first key group. */
  readonly start: number;
  /** One past its last element (range) or key group (keyed). */
  readonly end: number;
  /** Range: the whole array's length; keyed: the number of key groups. */
  readonly total: number;
}

/** Passed to every migration step. */
export interface MigrationContext {
  /** Provider id. */
  readonly id: string;
  /** Version the state is migrated from. */
  readonly from: number;
  /** Version the state is migrated to (`from + 1`). */
  readonly to: number;
}

/**
 * A migration step: takes state of version `to - 1`, returns state of version `to`.
 *
 * The parameter may be annotated with the shape of the older version
 * (`(s: StateV1): StateV2 => ({ ...s, unit: 'm' })`): the state arrives as
 * whatever the image holds, so the annotation is a promise the migration's
 * author makes, and the chain is checked at restore time, not compile time.
 */
export type Migration = {
  /**
   * One step. (Declared with method syntax, which makes the parameter
   * bivariant, so a step with an annotated parameter assigns.)
   */
  migrate(state: unknown, ctx: MigrationContext): unknown;
}['migrate'];

/**
 * One named piece of application state.
 *
 * @typeParam S - the shape of the state `snapshot` returns and `restore` receives
 */
export interface Provider<S = unknown> {
  /** Unique id: 1–128 characters of `A-Z a-z 0-9 . _ - : /`, starting with a letter or digit. */
  readonly id: string;
  /** Schema version of the state this code writes and expects; a positive integer (default 1). */
  readonly version?: number;
  /**
   * Declare the state a tree (no object appears twice, no cycles). Encoding is
   * then faster; shared references would be saved twice (restored as copies);
   * cycles still fail with `CKPT_ERR_UNSERIALIZABLE`. Default false.
   */
  readonly tree?: boolean;
  /**
   * Paths of state that must never be saved: credentials, tokens, keys. The
   * values found there are left out of the image (not written, not even as
   * blobs) and `restore` receives `undefined` at those paths, so it fills
   * them in again (from the environment, a secret store, …). The state
   * `snapshot` returns is not modified.
   *
   * Syntax: keys separated by `.` from the state's root (`'apiKey'`,
   * `'db.password'`), into plain objects, null-prototype objects,
   * registered class instances, Maps (string keys) and arrays (a decimal
   * index, `'sessions.0.token'`); `*` as a whole segment matches every
   * member (`'tokens.*'`, `'users.*.password'`); `\.`, `\*` and `\\`
   * escape a literal `.`, `*` or `\` in a key. A path that leads nowhere in a
   * given state leaves nothing out. An object or binary value found at a
   * secret path is left out wherever else it appears in the state too.
   * A malformed path fails `register()` with `CKPT_ERR_INVALID_ARGUMENT`.
   * See the guide, "Secrets that are never saved".
   */
  readonly secret?: readonly string[];
  /** Return the state to save. Called at the frozen point; the result is captured before the app runs again. */
  snapshot(ctx: CheckpointContext): S | Promise<S>;
  /**
   * Put saved (and migrated) state back into the application. A returned
   * promise is awaited; any other return value is ignored, so an assignment
   * arrow such as `(s) => ({ grid, step } = s)` is fine.
   */
  restore(state: S, ctx: RestoreContext): unknown;
  /**
   * Migration steps by target version: `migrations[n]` turns version n-1 state
   * into version n. Image version 1 with code version 3 runs steps 2 then 3.
   */
  readonly migrations?: Readonly<Record<number, Migration>>;
  /** Pre-dump: runs while the app still runs (flush buffers, finish in-flight work). */
  prepare?(ctx: CheckpointContext): void | Promise<void>;
  /** Runs after every checkpoint attempt once capture is over (also after a failed one). */
  resume?(ctx: ResumeContext): void | Promise<void>;
  /** Runs once the image is durable and committed. Errors here are reported as warnings. */
  committed?(info: CheckpointInfo): void | Promise<void>;
  /** Former ids this provider's state may be stored under in older images. */
  readonly aliases?: readonly string[];
}

/**
 * Something that cannot be checkpointed (socket, device, child process, timer):
 * paused or closed before a checkpoint, re-acquired after it and after restore.
 */
export interface Resource {
  /** Unique id among resources. */
  readonly id: string;
  /** Runs at freeze, in reverse registration order. */
  beforeCheckpoint?(ctx: CheckpointContext): void | Promise<void>;
  /** Runs after the capture (also after a failed checkpoint), in registration order. */
  afterCheckpoint?(ctx: ResumeContext): void | Promise<void>;
  /** Runs after a successful restore, in registration order. */
  afterRestore?(ctx: { readonly image: ImageInfo }): void | Promise<void>;
  /**
   * The process handles this resource holds right now, by the kind
   * `process.getActiveResourcesInfo()` reports (e.g. `{ TCPSocketWrap: 1 }`,
   * `{ ProcessWrap: 1, PipeWrap: 3 }` for a child process with piped stdio).
   * Checked at each checkpoint: handles no resource owns are reported
   * (`unregisteredResources`). Without it, the resource owns none.
   */
  owns?(): Readonly<Record<string, number>>;
}
