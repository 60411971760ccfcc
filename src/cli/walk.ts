/**
 * @module cli/walk
 *
 * Running recursive walks over decoded values without using the JS call
 * stack for depth. A walk step is a generator that, instead of calling
 * itself, yields the sub-walk it wants run (`yield* descend(step(child))`);
 * {@link runWalk} keeps the pending steps on an explicit heap stack, runs the
 * innermost one and sends its result back to the one that asked. A state
 * nested as deep as the codec's `maxDepth` (or deeper) therefore costs heap,
 * never stack frames: the value printers, `diff` and `export` share this one
 * mechanism.
 */

/** One step of a walk: yields the sub-walks it needs, returns its result `R`. */
export type WalkStep<R> = Generator<WalkStep<unknown>, R, unknown>;

/**
 * Run `sub` as a nested step of the current walk and get its result
 * (use as `const r = yield* descend(sub)` inside a {@link WalkStep}).
 */
export function* descend<R>(sub: WalkStep<R>): Generator<WalkStep<unknown>, R, unknown> {
  return (yield sub) as R;
}

/**
 * Run a walk to completion, iteratively: nested steps live on a heap stack,
 * so depth is bounded by memory, not by the JS stack. An exception thrown by
 * a nested step is thrown into the step that descended into it (so its
 * `try`/`finally` blocks run), and out of `runWalk` if nothing catches it.
 */
export function runWalk<R>(root: WalkStep<R>): R {
  const stack: WalkStep<unknown>[] = [root];
  let input: unknown = undefined;
  let failure: { readonly error: unknown } | undefined;
  for (;;) {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      // Only reached when the root itself threw.
      throw (failure as { readonly error: unknown }).error;
    }
    let r: IteratorResult<WalkStep<unknown>, unknown>;
    try {
      if (failure !== undefined) {
        const f = failure;
        failure = undefined;
        r = top.throw(f.error);
      } else r = top.next(input);
    } catch (error) {
      stack.pop();
      failure = { error };
      continue;
    }
    if (r.done === true) {
      stack.pop();
      if (stack.length === 0) return r.value as R;
      input = r.value;
    } else {
      stack.push(r.value);
      input = undefined;
    }
  }
}
