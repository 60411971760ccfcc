#!/usr/bin/env node
/**
 * @module cli/main
 *
 * Entry point of the `ckpt` command (package.json `bin`). Runs the program
 * with the process's streams and sets the exit code; a closed stdout (e.g.
 * `ckpt export … | head`) ends the process quietly.
 */
import { run } from './program.js';

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });
