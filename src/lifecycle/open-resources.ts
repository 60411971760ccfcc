/**
 * @module lifecycle/open-resources
 *
 * What the process holds open that no registered resource accounts for, read
 * from `process.getActiveResourcesInfo()` at a checkpoint: sockets, servers,
 * child processes, pipes, file handles. Such handles do not exist after a
 * restore, so the user is told at the freeze (`unregisteredResources`).
 *
 * Not reported: timers and immediates (the library's own and the loop's turns
 * among them; a program re-creates its timers when it starts anyway),
 * in-flight requests (`*Req`, `*ReqWrap`, `WriteWrap`, `SimpleWriteWrap` — an IPC write —, `ShutdownWrap`: they
 * complete by themselves), the process's own stdout and stderr, and whatever
 * a registered resource declares it owns (`Resource.owns()`). Handles ckpt
 * itself opens (worker threads, its lock file) are not listed by Node or are
 * opened only during the write, after this check.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import { WarningCodes, type CkptWarning } from '../events.js';
import type { Resource } from '../provider/provider.js';

/** What to do about open handles no resource accounts for: warn (default), refuse the checkpoint, or nothing. */
export type UnregisteredResourcesMode = 'warn' | 'error' | 'off';

/** Handle kinds that are never reported. */
const IGNORED = new Set(['Timeout', 'Immediate', 'WriteWrap', 'SimpleWriteWrap', 'ShutdownWrap', 'TTYWrap']);

function ignored(kind: string): boolean {
  return IGNORED.has(kind) || /Req(uest|Wrap|Callback|Promise)?$|^FSReq/.test(kind);
}

/** `Pipe` → `PipeWrap`: a handle's class name as `getActiveResourcesInfo()` names its kind. */
function kindOf(handle: unknown): string | undefined {
  const name = (handle as { constructor?: { name?: unknown } } | undefined)?.constructor?.name;
  if (typeof name !== 'string') return undefined;
  return name === 'TCP' ? 'TCPSocketWrap' : `${name}Wrap`;
}

/** The handles of this process's own stdin, stdout, stderr and IPC channel (none are the application's to register). */
function ownKinds(): string[] {
  const out: string[] = [];
  for (const stream of [process.stdin, process.stdout, process.stderr]) {
    const kind = kindOf((stream as unknown as { _handle?: unknown })._handle);
    if (kind !== undefined) out.push(kind);
  }
  if (process.channel !== undefined) out.push('PipeWrap');
  return out;
}

/**
 * Kinds and counts of open handles not owned by a registered resource,
 * sorted by kind. Empty when everything is accounted for.
 */
export function unregisteredHandles(resources: readonly Resource[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) {
    if (ignored(kind)) continue;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const subtract = (kind: string, n: number): void => {
    const left = (counts.get(kind) ?? 0) - n;
    if (left > 0) counts.set(kind, left);
    else counts.delete(kind);
  };
  for (const kind of ownKinds()) subtract(kind, 1);
  for (const r of resources) {
    const owned = r.owns?.();
    if (owned === undefined) continue;
    for (const [kind, n] of Object.entries(owned)) {
      if (typeof n === 'number' && n > 0) subtract(kind, n);
    }
  }
  return new Map([...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** "2 TCPSocketWrap and 1 ProcessWrap" (empty string for none). */
export function describeHandles(counts: ReadonlyMap<string, number>): string {
  const parts = [...counts].map(([kind, n]) => `${n} ${kind}`);
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)!}`;
}

/** The one-line message for `counts` (non-empty). */
export function unregisteredMessage(counts: ReadonlyMap<string, number>): string {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return (
    `${describeHandles(counts)} ${total === 1 ? 'is' : 'are'} open and not registered as resources: ` +
    `they will not exist after a restore — register them with registerResource() (saying what each owns with owns()), ` +
    `or pass unregisteredResources: 'off'; see docs/resources.md`
  );
}

/**
 * The open-handle check made at each checkpoint call, before the freeze: in
 * `'warn'` mode each new set of unregistered handles is reported once; in
 * `'error'` mode the checkpoint is refused with `CKPT_ERR_UNREGISTERED_RESOURCES`.
 */
export class OpenHandleCheck {
  /** The unregistered handles reported last ('' = none), so each set is reported once. */
  #reported = '';

  /**
   * @param mode - what to do about unregistered handles
   * @param warn - where `CKPT_WARN_UNREGISTERED_RESOURCES` goes
   */
  constructor(
    readonly mode: UnregisteredResourcesMode,
    private readonly warn: (w: CkptWarning) => void,
  ) {}

  /** Check the open handles against `resources`; throws in `'error'` mode when some are unregistered. */
  check(resources: readonly Resource[]): void {
    if (this.mode === 'off') return;
    const counts = unregisteredHandles(resources);
    const desc = describeHandles(counts);
    if (desc === '') {
      this.#reported = '';
      return;
    }
    if (this.mode === 'error') throw new CkptError(ErrorCodes.UNREGISTERED_RESOURCES, `checkpoint refused: ${unregisteredMessage(counts)}`);
    if (desc === this.#reported) return;
    this.#reported = desc;
    this.warn({ code: WarningCodes.UNREGISTERED_RESOURCES, message: unregisteredMessage(counts) });
  }
}
