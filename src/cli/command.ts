/**
 * @module cli/command
 *
 * What every subcommand shares: the common options (`--json`, `--debug`,
 * `--no-color`, `--no-progress`), argument parsers that turn bad values into
 * usage errors, and the context a command runs in.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { ExitCodeValue } from './exit-codes.js';
import type { Io } from './output.js';

/** What a subcommand gets to run with. */
export interface CommandContext {
  /** Streams, environment, working directory. */
  readonly io: Io;
  /** Set the exit code of the run. */
  setExit(code: ExitCodeValue): void;
}

/** Add `--json`, `--debug` and `--no-color` (and `--no-progress` when the command reports progress). */
export function addCommonOptions(cmd: Command, progress = false): Command {
  cmd.option('--json', 'machine-readable output on stdout (one JSON document)');
  if (progress) cmd.option('--no-progress', 'never draw a progress bar (it is drawn only when stderr is a terminal)');
  cmd.option('--no-color', 'no colour (also: NO_COLOR=1; colour is used only on a terminal)');
  cmd.option('--debug', 'print stack traces of errors');
  return cmd;
}

/** Commander argument parser for a positive integer. */
export function positiveInt(name: string): (value: string) => number {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError(`${name} must be a positive integer, got ${JSON.stringify(value)}.`);
    return Number(value);
  };
}

/** Commander argument parser for a non-negative integer. */
export function nonNegativeInt(name: string): (value: string) => number {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}.`);
    return Number(value);
  };
}

/** Help text listing examples, for `addHelpText('after', …)`. */
export function examples(lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}
