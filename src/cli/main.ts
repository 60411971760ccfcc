#!/usr/bin/env node
/**
 * @module cli/main
 *
 * Entry point of the `ckpt` command. The subcommands (ls, inspect, verify,
 * diff, convert, export, prune) are not implemented yet; for now it prints
 * usage and exits 1 for anything but `--help`/`--version`.
 */
import { LIBRARY_VERSION } from '../version.js';

const USAGE = `ckpt ${LIBRARY_VERSION} — tools for ckpt checkpoint images

Usage: ckpt <command> [options]

Commands (planned, see docs/support.md):
  ls DIR            list committed images
  inspect IMAGE     show header, manifest, providers and segments
  verify IMAGE|DIR  check every checksum and decode everything
  diff A B          compare two images
  convert IN OUT    convert an image to another format version
  export IMAGE      export one provider's state
  prune DIR         apply retention from the shell

Options:
  -h, --help        show this help
  -v, --version     show the version
`;

const args = process.argv.slice(2);
if (args.includes('--version') || args.includes('-v')) {
  process.stdout.write(`${LIBRARY_VERSION}\n`);
} else if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
  process.stdout.write(USAGE);
} else {
  process.stderr.write(`ckpt: '${args[0] ?? ''}' is not available in this version; the command-line tools are planned (see docs/support.md)\n\n${USAGE}`);
  process.exitCode = 1;
}
