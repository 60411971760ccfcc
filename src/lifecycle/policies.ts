/**
 * @module lifecycle/policies
 *
 * When to checkpoint, as small composable objects. A policy either counts
 * steps (checked at each safepoint with one comparison) or arms a timer that
 * marks a checkpoint as due; signals and explicit requests mark it due too.
 * The Checkpointer combines every policy given: a checkpoint is due as soon as
 * any one of them says so, and all of them restart from that checkpoint.
 */
import { CkptError, ErrorCodes } from '../errors.js';

/** What the `every` option of `loop()` accepts. */
export interface EveryOptions {
  /** Checkpoint every N completed steps. */
  readonly steps?: number;
  /** Checkpoint when this many seconds of wall time have passed since the last one. */
  readonly seconds?: number;
}

/** A trigger policy: when is a checkpoint due? */
export interface TriggerPolicy {
  /** Name for messages (`everySteps(1000)`). */
  readonly name: string;
  /** The next step at which this policy wants a checkpoint, given the step of the last one (Infinity: never by steps). */
  nextStep(lastStep: number): number;
  /** Milliseconds after a checkpoint until this policy wants the next one (Infinity: never by time). */
  nextDelayMs(): number;
}

function positive(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `${what} must be a positive number, got ${String(v)}`);
  }
  return v;
}

/** Checkpoint every `n` completed steps (at step multiples of n after the last checkpoint). */
export function everySteps(n: number): TriggerPolicy {
  const every = positive(n, 'every.steps');
  if (!Number.isSafeInteger(every)) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `every.steps must be an integer, got ${every}`);
  return { name: `everySteps(${every})`, nextStep: (last) => last + every, nextDelayMs: () => Infinity };
}

/** Checkpoint when `s` seconds of wall time have passed since the last checkpoint. */
export function everySeconds(s: number): TriggerPolicy {
  const ms = positive(s, 'every.seconds') * 1000;
  return { name: `everySeconds(${s})`, nextStep: () => Infinity, nextDelayMs: () => ms };
}

/** Turn `every` options (or a list of policies) into policies. */
export function toTriggerPolicies(every: EveryOptions | readonly TriggerPolicy[] | undefined): TriggerPolicy[] {
  if (every === undefined) return [];
  if (Array.isArray(every)) return [...(every as readonly TriggerPolicy[])];
  if (typeof every !== 'object' || every === null) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'every must be an object like { steps: 1000, seconds: 60 }');
  }
  const o = every as EveryOptions;
  for (const k of Object.keys(o)) {
    if (k !== 'steps' && k !== 'seconds') throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `every: unknown option ${JSON.stringify(k)}; use steps and/or seconds`);
  }
  const out: TriggerPolicy[] = [];
  if (o.steps !== undefined) out.push(everySteps(o.steps));
  if (o.seconds !== undefined) out.push(everySeconds(o.seconds));
  return out;
}
