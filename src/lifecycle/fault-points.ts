/**
 * @module lifecycle/fault-points
 *
 * **Test-only** crash points. The crash-consistency suite
 * (`test/reliability/crash-*.test.ts`, `scripts/soak.ts`, see
 * `docs/reliability.md`) must be able to kill a process at an exact moment
 * inside `checkpoint()` — between two phases, after the temp file is
 * created, in the middle of the segment writes, after the rename but before
 * the directory fsync, during retention — which a timer cannot hit reliably.
 *
 * `faultPoint(name)` marks such a moment. The checkpoint phases call it
 * directly; the store's moments reach it only through the hooks a test
 * passes to its store (`faultPointHooks()` from `ckpt/testing`, see
 * `store/fs-hooks`), so the store modules contain no test code. It does
 * nothing unless the environment variable `CKPT_TEST_KILL_AT` names it:
 *
 * - `CKPT_TEST_KILL_AT=after-rename` — SIGKILL this process the first time
 *   the point `after-rename` is reached;
 * - `CKPT_TEST_KILL_AT=segment-write:7` — at the 7th time (counted per
 *   process, across checkpoints).
 *
 * With `CKPT_TEST_FAULT_TRACE=1` every point reached is also written to
 * stderr as `ckpt-fault-point <name> <count>` (synchronously), so a test can
 * see where a process was and how many times each point is hit.
 *
 * The cost when unused is one environment lookup per point; a checkpoint
 * passes a few dozen points. Applications must never set these variables.
 * The names are listed in {@link FAULT_POINTS} (a checkpoint's) and
 * {@link REKEY_FAULT_POINTS} (`ckpt rekey`'s).
 */
import { writeSync } from 'node:fs';

/** Every crash point, in the order a checkpoint (and its store commit) passes them. */
export const FAULT_POINTS = [
  // store/fs-lock (through FsStore hooks): taking the writer lock
  'lock-created', // lock file created (O_EXCL), not yet written: an unreadable lock is left behind
  'lock-written', // lock file written and fsynced
  // store/fs-store (through hooks): cleanup of leftovers at the first checkpoint
  'cleanup-unlink', // after removing one leftover file
  // lifecycle/checkpoint-run: the phases
  'after-prepare', // providers' prepare() ran
  'after-capture', // snapshot() ran and every state is encoded
  // store/fs-store (through hooks): the sink
  'temp-created', // the temp file exists, empty
  'segment-write', // after each write(2) into the temp file (header, segments, index, trailer)
  'after-write', // lifecycle: the whole image is in the temp file, not yet fsynced
  'before-commit', // lifecycle: resume hooks ran, commit() not yet called
  'after-fsync', // store: temp file fsynced, not yet closed or renamed
  'before-rename', // store: lock checked, target checked, rename next
  'after-rename', // store: renamed to <id>.ckpt, directory not yet fsynced
  'after-dir-fsync', // store: the commit is durable
  'after-commit', // lifecycle: commit() resolved, committed() hooks next
  'before-retention', // lifecycle: committed() hooks ran, retention next
  'retention-planned', // lifecycle: retention decided what to delete (references marked), no delete yet
  'retention-delete', // store: delete() of an old image, before unlink
  'after-unlink', // store: old image unlinked, directory not yet fsynced
  'after-retention', // lifecycle: retention done, checkpoint() about to resolve
] as const;

/** Crash points of `ckpt rekey` (cli/commands/rekey), passed once per image it rewrites. */
export const REKEY_FAULT_POINTS = [
  'rekey-copied', // the image's temporary copy holds the new tail and is fsynced; not yet renamed over the image
  'rekey-renamed', // renamed over the image, directory not yet fsynced
] as const;

/** A crash point name of a checkpoint. */
export type FaultPointName = (typeof FAULT_POINTS)[number];

/** A crash point name of `ckpt rekey`. */
export type RekeyFaultPointName = (typeof REKEY_FAULT_POINTS)[number];

const hits = new Map<string, number>();

/**
 * A test-only crash point: SIGKILLs this process when `CKPT_TEST_KILL_AT`
 * selects `name` (`name`: at its first hit; `name:n`: at its n-th hit,
 * counted per process). With `CKPT_TEST_FAULT_TRACE=1` every hit is written
 * to stderr as `ckpt-fault-point <name> <count>`. Does nothing when neither
 * variable is set.
 */
export function faultPoint(name: FaultPointName | RekeyFaultPointName): void {
  const spec = process.env['CKPT_TEST_KILL_AT'];
  const trace = process.env['CKPT_TEST_FAULT_TRACE'];
  if ((spec === undefined || spec === '') && (trace === undefined || trace === '')) return;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  if (trace !== undefined && trace !== '' && trace !== '0') {
    try {
      writeSync(2, `ckpt-fault-point ${name} ${n}\n`);
    } catch {
      // stderr closed: tracing is best effort
    }
  }
  if (spec === undefined || spec === '') return;
  const colon = spec.lastIndexOf(':');
  const target = colon < 0 ? spec : spec.slice(0, colon);
  if (target !== name) return;
  const at = colon < 0 ? 1 : Number(spec.slice(colon + 1));
  if (n === at) process.kill(process.pid, 'SIGKILL');
}
