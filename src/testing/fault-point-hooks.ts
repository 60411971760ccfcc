/**
 * @module testing/fault-point-hooks
 *
 * {@link faultPointHooks}: `FsStore` hooks that turn the store's durable
 * steps into the crash points of the crash-consistency suite
 * (`CKPT_TEST_KILL_AT`, `CKPT_TEST_FAULT_TRACE`; see `docs/reliability.md`).
 * The store itself contains no test code: a test process passes these hooks
 * (`new FsStore(dir, { hooks: faultPointHooks() })`) and the store reports
 * its steps to them.
 */
import type { FsStoreHooks, FsStoreStep } from '../store/fs-hooks.js';
import { faultPoint, type FaultPointName } from '../lifecycle/fault-points.js';

/** Every store step is a crash point of the same name (checked by the compiler). */
const asFaultPoint = (step: FsStoreStep): FaultPointName => step;

/**
 * `FsStore` hooks for crash tests: each step the store reaches is a fault
 * point of the same name, counted per process together with the
 * Checkpointer's own points. With the environment variable
 * `CKPT_TEST_KILL_AT=<step>[:<n>]` the process SIGKILLs itself the n-th time
 * (default first) it reaches that point; with `CKPT_TEST_FAULT_TRACE=1`
 * every point reached is written to stderr as `ckpt-fault-point <name> <count>`.
 * Without either variable the hooks do nothing. Never use them in
 * production.
 */
export function faultPointHooks(): FsStoreHooks {
  return Object.freeze({
    reached(step: FsStoreStep): void {
      faultPoint(asFaultPoint(step));
    },
  });
}
