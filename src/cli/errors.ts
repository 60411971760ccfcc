/**
 * @module cli/errors
 *
 * Turning failures into what the user sees: one line on stderr saying what
 * is wrong and what to do, the matching exit code, a JSON error object on
 * stdout under `--json`, and a stack trace only under `--debug`.
 */
import { CkptError, ErrorCodes, isCkptError, type ErrorCode } from '../index.js';
import { asError } from '../errors.js';
import { ExitCode, exitCodeForErrorCode, type ExitCodeValue } from './exit-codes.js';

/** Options of a {@link CliError}. */
export interface CliErrorOptions {
  /** The `CKPT_ERR_*` code for `--json` output (default: from the exit code). */
  readonly code?: ErrorCode;
  /** The underlying error. */
  readonly cause?: unknown;
}

/** A failure the CLI itself detected (bad input), with its exit code. */
export class CliError extends Error {
  /** Exit code to leave with. */
  readonly exitCode: ExitCodeValue;
  /** Machine-readable `CKPT_ERR_*` code for `--json` output. */
  readonly code: ErrorCode;

  /**
   * @param message - one line: what is wrong and what to do
   * @param exitCode - see {@link ExitCode}
   * @param options - code and cause
   */
  constructor(message: string, exitCode: ExitCodeValue, options: CliErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.code = options.code ?? defaultCode(exitCode);
  }
}

function defaultCode(exitCode: ExitCodeValue): ErrorCode {
  switch (exitCode) {
    case ExitCode.USAGE:
      return ErrorCodes.USAGE;
    case ExitCode.IO:
      return ErrorCodes.NOT_FOUND;
    case ExitCode.APP:
      return ErrorCodes.APP_MODULE;
    default:
      return ErrorCodes.INTERNAL;
  }
}

/** A usage error (exit 1). */
export function usageError(message: string): CliError {
  return new CliError(message, ExitCode.USAGE, { code: ErrorCodes.USAGE });
}

/** What the CLI reports for one failure. */
export interface FailureReport {
  /** Exit code. */
  readonly exitCode: ExitCodeValue;
  /** Machine-readable `CKPT_ERR_*` code (one documented vocabulary, docs/errors.md). */
  readonly code: ErrorCode;
  /** The one line for stderr (without the `ckpt: ` prefix). */
  readonly message: string;
}

/**
 * What to do, for the codes whose library messages say what happened but
 * not what to do, when the error carries no `hint` of its own. Codes whose
 * messages already say what to do (FORMAT_NEWER, UNSUPPORTED_FEATURE, LIMIT)
 * have none, so the advice is not printed twice.
 */
const CODE_HINTS: Partial<Record<ErrorCode, string>> = {
  [ErrorCodes.CORRUPT]: "restore() skips damaged images; 'ckpt verify' lists every problem — move it out of the store, or copy it again if it came from elsewhere",
};

/** Shorten the library's long "image <id>" prefix style where it helps, and keep one line. */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

/** Describe any thrown value as a {@link FailureReport}. */
export function describeFailure(err: unknown): FailureReport {
  if (err instanceof CliError) return { exitCode: err.exitCode, code: err.code, message: oneLine(err.message) };
  if (isCkptError(err)) {
    const hint = err.hint ?? CODE_HINTS[err.code];
    const message = hint === undefined ? oneLine(err.message) : `${oneLine(err.message)}; ${oneLine(hint)}`;
    return { exitCode: exitCodeForErrorCode(err.code), code: err.code, message };
  }
  const e = asError(err);
  return { exitCode: ExitCode.INTERNAL, code: ErrorCodes.INTERNAL, message: `internal error: ${oneLine(e.message)} (this is a bug in ckpt; rerun with --debug and report the output)` };
}

/** The stack of `err` and its causes, for `--debug`. */
export function debugText(err: unknown): string {
  const lines: string[] = [];
  let e: unknown = err;
  let depth = 0;
  while (e !== undefined && depth < 8) {
    if (depth > 0) lines.push('caused by:');
    if (e instanceof Error) {
      lines.push(e.stack ?? `${e.name}: ${e.message}`);
      if (e instanceof CkptError) {
        const facts = [e.where && `where: ${e.where}`, e.image && `image: ${e.image}`, e.provider && `provider: ${e.provider}`].filter(Boolean);
        if (facts.length > 0) lines.push(`  (${facts.join(', ')})`);
        if (e.hint !== undefined) lines.push(`  hint: ${e.hint}`);
        for (const sub of e.errors ?? []) lines.push(`  - ${sub.message}`);
      }
      e = e.cause;
    } else {
      lines.push(typeof e === 'string' ? e : JSON.stringify(e) ?? typeof e);
      e = undefined;
    }
    depth++;
  }
  return lines.join('\n');
}
