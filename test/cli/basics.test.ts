// The ckpt command as a whole: help, version, usage errors, exit codes, and
// that docs/cli.md documents the same exit-code table the binary prints.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODE_TABLE, ExitCode, exitCodeForErrorCode, exitCodeForProblems } from '../../src/cli/exit-codes.js';
import { ErrorCodes, LIBRARY_VERSION } from '../../src/index.js';
import { ensureBuilt, golden, hasStack, json, ROOT, runCli } from './helpers.js';

const COMMANDS = ['ls', 'inspect', 'verify', 'diff', 'convert', 'export', 'prune'] as const;

beforeAll(ensureBuilt);

describe('ckpt (top level)', () => {
  it('--help lists every command and the exit codes, on stdout, exit 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    for (const e of EXIT_CODE_TABLE) expect(r.stdout).toContain(`  ${e.code}  ${e.meaning}`);
  });

  it('every command has --help with usage, --json and examples', async () => {
    const results = await Promise.all(COMMANDS.map((c) => runCli([c, '--help'])));
    results.forEach((r, i) => {
      expect(r.code, COMMANDS[i]).toBe(0);
      expect(r.stdout).toContain(`Usage: ckpt ${COMMANDS[i]} [options]`);
      expect(r.stdout).toContain('--json');
      expect(r.stdout).toContain('Examples:');
    });
    const viaHelp = await runCli(['help', 'prune']);
    expect(viaHelp.stdout).toBe(results[6]!.stdout);
  });

  it('--version prints the library version', async () => {
    const r = await runCli(['--version']);
    expect(r).toMatchObject({ code: 0, stdout: `${LIBRARY_VERSION}\n` });
  });

  it('usage errors are one line on stderr, exit 1, nothing on stdout', async () => {
    const cases: [string[], RegExp][] = [
      [['bogus'], /^ckpt: unknown command 'bogus'/],
      [['lss'], /Did you mean ls\?/],
      [['ls'], /^ckpt ls: missing required argument 'dir'/],
      [['ls', '--bogus', 'x'], /^ckpt ls: unknown option '--bogus'/],
      [['prune', '.', '--keep-last', '0'], /--keep-last must be a positive integer, got "0"/],
      [['export', golden(2, 'values'), '--format', 'xml'], /Allowed choices are json, msgpack/],
      [['diff', golden(2, 'values'), golden(2, 'values'), '--paths', 'x'], /--paths must be a positive integer/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(ExitCode.USAGE);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(cases[i]![1]);
    });
  });

  it('no command: usage on stderr, exit 1', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Usage: ckpt');
  });

  it('--json turns a usage error into a JSON error document on stdout too', async () => {
    const r = await runCli(['ls', '--json']);
    expect(r.code).toBe(1);
    expect(json(r)).toEqual({ error: { code: 'CKPT_ERR_USAGE', exitCode: 1, message: "missing required argument 'dir'" } });
  });

  it('--debug adds the stack trace; without it there is none', async () => {
    const [plain, debug] = await Promise.all([runCli(['inspect', golden(2, 'broken-truncated')]), runCli(['inspect', golden(2, 'broken-truncated'), '--debug'])]);
    expect(plain.code).toBe(2);
    expect(hasStack(plain.stderr)).toBe(false);
    expect(plain.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(debug.code).toBe(2);
    expect(hasStack(debug.stderr)).toBe(true);
    expect(debug.stderr).toContain('CkptError');
  });
});

describe('colour', () => {
  it('none when piped; FORCE_COLOR forces it; NO_COLOR and --no-color win', async () => {
    const args = ['inspect', golden(2, 'values')];
    const [piped, forced, noColor, flag] = await Promise.all([
      runCli(args),
      runCli(args, { env: { FORCE_COLOR: '1' } }),
      runCli(args, { env: { FORCE_COLOR: '1', NO_COLOR: '1' } }),
      runCli([...args, '--no-color'], { env: { FORCE_COLOR: '1' } }),
    ]);
    const ansi = '\u001b[';
    expect(piped.stdout).not.toContain(ansi);
    expect(forced.stdout).toContain(ansi);
    expect(noColor.stdout).not.toContain(ansi);
    expect(flag.stdout).not.toContain(ansi);
    expect(forced.stdout.replace(new RegExp(`${ansi.replace('[', '\\[')}[0-9;]*m`, 'g'), '')).toBe(piped.stdout);
  });
});

describe('exit codes', () => {
  it('are distinct, and every library error code maps to one (CKPT errors are never "internal" except CLOSED and INTERNAL)', () => {
    const codes = EXIT_CODE_TABLE.map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of Object.values(ErrorCodes)) {
      const exit = exitCodeForErrorCode(code);
      expect(codes).toContain(exit);
      if (code !== ErrorCodes.CLOSED && code !== ErrorCodes.INTERNAL) expect(exit, code).not.toBe(ExitCode.INTERNAL);
    }
    expect(exitCodeForErrorCode(ErrorCodes.FORMAT_NEWER)).toBe(3);
    expect(exitCodeForErrorCode(ErrorCodes.UNSUPPORTED_FEATURE)).toBe(3);
    expect(exitCodeForErrorCode(ErrorCodes.VERSION_NEWER)).toBe(3);
    expect(exitCodeForErrorCode(ErrorCodes.CORRUPT)).toBe(2);
    expect(exitCodeForErrorCode(ErrorCodes.STORE_IO)).toBe(4);
    expect(exitCodeForErrorCode(ErrorCodes.LOCKED)).toBe(5);
    expect(exitCodeForProblems([ErrorCodes.NO_MIGRATION, ErrorCodes.FORMAT_NEWER, ErrorCodes.CORRUPT])).toBe(2);
    expect(exitCodeForProblems([ErrorCodes.NO_MIGRATION, ErrorCodes.FORMAT_NEWER])).toBe(3);
    expect(exitCodeForProblems([])).toBe(0);
  });

  it('docs/cli.md documents the same table and has a generated transcript of every command', async () => {
    const doc = await readFile(join(ROOT, 'docs/cli.md'), 'utf8');
    for (const e of EXIT_CODE_TABLE) expect(doc).toMatch(new RegExp(`^\\| ${e.code} \\|`, 'm'));
    const start = doc.indexOf('<!-- transcript:start -->');
    const end = doc.indexOf('<!-- transcript:end -->');
    expect(start).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(start);
    const transcript = doc.slice(start, end);
    for (const c of COMMANDS) expect(transcript).toContain(`$ ckpt ${c} `);
  });
});
