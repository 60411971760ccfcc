/**
 * @module bench/lib/s3/faults
 *
 * Faults the local S3 server's front injects, programmed by tests: a rule
 * names which requests it hits (operation, key, how many to let through
 * first, how many to hit) and what happens to them — an S3 error answer
 * (409, 412, 500, 503…), throttling, a connection reset in the middle of the
 * request body, a delay before the request is served, or a lost / late
 * answer after the server did the work (the client cannot tell whether its
 * request took effect). Rules are plain data: they cross the IPC channel to
 * the server process.
 */
import type { S3Operation, S3Request } from './protocol.js';

/** What happens to a request a rule hits. */
export type FaultAction =
  /** Answer with this status and S3 error code without doing anything (default code per status: 409 ConditionalRequestConflict, 412 PreconditionFailed, 500 InternalError, 503 ServiceUnavailable…). */
  | { readonly type: 'status'; readonly status: number; readonly code?: string; readonly message?: string }
  /** 503 SlowDown, S3's throttling answer. */
  | { readonly type: 'throttle' }
  /** Read `afterBytes` of the request body (default: half its content-length), then reset the connection (TCP RST). Nothing is stored. */
  | { readonly type: 'reset'; readonly afterBytes?: number }
  /** Wait `ms`, then serve the request normally — unless the client closed the connection meanwhile (then it is never served). */
  | { readonly type: 'delay'; readonly ms: number }
  /** Serve the request (its effect happens), then close the connection without answering. */
  | { readonly type: 'drop-response' }
  /** Serve the request (its effect happens), then hold the answer for `ms` (past a client timeout). */
  | { readonly type: 'delay-response'; readonly ms: number };

/** Which requests a fault hits, and what happens to them. */
export interface FaultRule {
  /** Operation(s) hit (default: every operation). */
  readonly op?: S3Operation | readonly S3Operation[];
  /** Only this exact object key. */
  readonly key?: string;
  /** Only keys starting with this. */
  readonly keyPrefix?: string;
  /** Only keys ending with this. */
  readonly keySuffix?: string;
  /** Let this many matching requests through before hitting (default 0). */
  readonly skip?: number;
  /** Hit this many matching requests, then retire (default 1; `'always'` never retires). */
  readonly times?: number | 'always';
  readonly action: FaultAction;
}

/** A rule as the server keeps it: with its id and how many requests it has seen and hit. */
export interface ActiveFault {
  readonly id: number;
  readonly rule: FaultRule;
  seen: number;
  hits: number;
}

/** Does `rule` match `req` (operation and key only; skip/times are counted by {@link FaultTable.take})? */
export function matches(rule: FaultRule, req: S3Request): boolean {
  if (rule.op !== undefined) {
    const ops: readonly S3Operation[] = typeof rule.op === 'string' ? [rule.op] : rule.op;
    if (!ops.includes(req.op)) return false;
  }
  if (rule.key !== undefined && req.key !== rule.key) return false;
  if (rule.keyPrefix !== undefined && !req.key.startsWith(rule.keyPrefix)) return false;
  if (rule.keySuffix !== undefined && !req.key.endsWith(rule.keySuffix)) return false;
  return true;
}

/** The programmed faults, in the order they were added. */
export class FaultTable {
  #next = 1;
  readonly #rules: ActiveFault[] = [];

  /** Add a rule; returns its id. */
  add(rule: FaultRule): number {
    const f: ActiveFault = { id: this.#next++, rule, seen: 0, hits: 0 };
    this.#rules.push(f);
    return f.id;
  }

  /** Remove every rule. */
  clear(): void {
    this.#rules.length = 0;
  }

  /** How many requests rule `id` hit so far (0 for an unknown id). */
  hits(id: number): number {
    return this.#rules.find((f) => f.id === id)?.hits ?? 0;
  }

  /** The first live rule that hits `req` (counting it), or undefined: the request is served normally. */
  take(req: S3Request): ActiveFault | undefined {
    for (const f of this.#rules) {
      if (!matches(f.rule, req)) continue;
      const times = f.rule.times ?? 1;
      if (times !== 'always' && f.hits >= times) continue;
      f.seen++;
      if (f.seen <= (f.rule.skip ?? 0)) continue;
      f.hits++;
      return f;
    }
    return undefined;
  }
}
