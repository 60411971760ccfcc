/**
 * @module cli/program
 *
 * The `ckpt` program: the subcommands, the top-level help, and the one
 * place where failures become a message, an exit code and (under `--json`)
 * a JSON error document. {@link run} never throws and never exits the
 * process, so it can be driven by `main.ts` or by a test.
 */
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ErrorCodes, LIBRARY_VERSION } from '../index.js';
import type { CommandContext } from './command.js';
import { registerConvert } from './commands/convert.js';
import { registerDiff } from './commands/diff.js';
import { registerCompact } from './commands/compact.js';
import { registerExport } from './commands/export.js';
import { registerInspect } from './commands/inspect.js';
import { registerLs } from './commands/ls.js';
import { registerPrune } from './commands/prune.js';
import { registerRekey } from './commands/rekey.js';
import { registerVerify } from './commands/verify.js';
import { debugText, describeFailure } from './errors.js';
import { EXIT_CODE_TABLE, ExitCode, type ExitCodeValue } from './exit-codes.js';
import { escapeOutput } from './escape.js';
import type { Io } from './output.js';

/** The installed package's docs directory (the package ships docs/*.md). */
const DOCS = fileURLToPath(new URL('../../docs', import.meta.url));

const EPILOG = `
Run 'ckpt <command> --help' for a command's options and examples.
Every command takes --json (a JSON document on stdout); logs, warnings and
progress go to stderr. Colour only on a terminal, never with NO_COLOR set.

Exit codes:
${EXIT_CODE_TABLE.map((e) => `  ${e.code}  ${e.meaning}`).join('\n')}

Documentation: ${DOCS}/cli.md (image format: FORMAT.md, error codes: errors.md)
`;

/** A commander error message as one line, without its `error: ` prefix. */
function oneLine(s: string): string {
  return s.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim();
}

/** Build the commander program; subcommands report their exit code through `ctx`. */
export function buildProgram(ctx: CommandContext): Command {
  const program = new Command('ckpt');
  const output = { writeOut: (s: string) => void ctx.io.stdout.write(s), writeErr: (s: string) => void ctx.io.stderr.write(s) };
  program
    .description('Look at, check, compare, convert, export and prune ckpt checkpoint images, without writing code.')
    .version(LIBRARY_VERSION, '-v, --version', 'print the ckpt version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({ ...output, outputError: (s, write) => write(`ckpt: ${oneLine(s)} (see 'ckpt --help')\n`) })
    .addHelpText('after', EPILOG);
  registerLs(program, ctx);
  registerInspect(program, ctx);
  registerVerify(program, ctx);
  registerDiff(program, ctx);
  registerConvert(program, ctx);
  registerExport(program, ctx);
  registerPrune(program, ctx);
  registerCompact(program, ctx);
  registerRekey(program, ctx);
  // Usage errors are one line: what is wrong, and where the usage is.
  for (const cmd of program.commands) {
    cmd.showHelpAfterError(false);
    cmd.configureOutput({ ...output, outputError: (s, write) => write(`ckpt ${cmd.name()}: ${oneLine(s)} (see 'ckpt ${cmd.name()} --help')\n`) });
  }
  return program;
}

/**
 * Run the CLI with `argv` (without the node and script paths). Resolves the
 * exit code; writes only to `io`.
 */
export async function run(argv: readonly string[], io: Io): Promise<ExitCodeValue> {
  let exit: ExitCodeValue = ExitCode.OK;
  const ctx: CommandContext = { io, setExit: (code) => (exit = code) };
  const json = argv.includes('--json');
  const debug = argv.includes('--debug') || io.env['CKPT_DEBUG'] === '1';
  try {
    await buildProgram(ctx).parseAsync([...argv], { from: 'user' });
    return exit;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; every other commander error is a usage error (already printed).
      if (err.exitCode === 0) return ExitCode.OK;
      if (json) io.stdout.write(`${JSON.stringify({ error: { code: ErrorCodes.USAGE, exitCode: ExitCode.USAGE, message: err.message.replace(/^error: /, '') } }, null, 2)}\n`);
      return ExitCode.USAGE;
    }
    const f = describeFailure(err);
    io.stderr.write(`ckpt: ${escapeOutput(f.message)}\n`);
    if (debug) io.stderr.write(`${debugText(err)}\n`);
    if (json) io.stdout.write(`${JSON.stringify({ error: { code: f.code, exitCode: f.exitCode, message: f.message } }, null, 2)}\n`);
    return f.exitCode;
  }
}
