/**
 * Run the `ckpt` CLI in this process (`run()` of src/cli/program.ts), for
 * tests that patch something the CLI reads (e.g. injected references).
 * Colour off, no progress, output collected.
 */
import { run } from '../../src/cli/program.js';

/** Exit code and both streams of one in-process CLI run. */
export interface InProcessResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `ckpt …args` in this process. */
export async function runCliInProcess(args: readonly string[], cwd = process.cwd()): Promise<InProcessResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: { write: (s: string | Uint8Array) => ((stdout += typeof s === 'string' ? s : Buffer.from(s).toString()), true) },
    stderr: { write: (s: string | Uint8Array) => ((stderr += typeof s === 'string' ? s : Buffer.from(s).toString()), true) },
    env: { NO_COLOR: '1' },
    cwd,
  });
  return { code, stdout, stderr };
}
