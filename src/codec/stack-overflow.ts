/**
 * @module
 * Recognising an exhausted call stack. V8 reports it as a `RangeError`
 * ("Maximum call stack size exceeded"), or — when the overflow happens while
 * a regular expression is compiled — as a `SyntaxError` ending in
 * "Stack overflow" (seen on Node 24). Call this only after the stack has
 * unwound: the test itself needs stack.
 */

/** Whether `err` says the call stack ran out. */
export function isStackOverflow(err: unknown): err is RangeError | SyntaxError {
  if (err instanceof RangeError) return err.message.includes('call stack');
  if (err instanceof SyntaxError) return err.message.endsWith('Stack overflow');
  return false;
}
