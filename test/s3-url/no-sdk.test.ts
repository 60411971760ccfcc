/**
 * Without the AWS SDK installed (its packages hidden from module resolution):
 * the root package loads and works with local stores, and an `s3://` store —
 * in the library and in the CLI — fails with a message naming the package to
 * install, not a stack trace from deep inside a dynamic import.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Module resolution hooks that make every @aws-sdk/* package look missing, as in an install without the optional peers. */
const HOOKS = `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@aws-sdk/')) {
    const err = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}`;
/** A preload (node --import) installing {@link HOOKS}. */
const HIDE = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});`)}`;

function node(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', HIDE, ...args], { cwd: ROOT, timeout: 30_000, killSignal: 'SIGKILL', env: { ...process.env, AWS_REGION: 'us-east-1', NODE_OPTIONS: '' } }, (err, stdout, stderr) => {
      if (err === null) return resolve({ code: 0, stdout, stderr });
      if (typeof err.code === 'number' && !err.killed) return resolve({ code: err.code, stdout, stderr });
      reject(new Error(`node could not run: ${err.message}`, { cause: err }));
    });
  });
}

const PROGRAM = `
import { Checkpointer, MemoryStore } from './dist/index.js';
const local = new Checkpointer({ store: new MemoryStore(), signals: false });
local.register({ id: 'a', snapshot: () => ({ n: 1 }), restore: () => {} });
const info = await local.checkpoint();
await local.close();
const s3 = new Checkpointer({ store: 's3://jobs/sim-42/', signals: false });
let out;
try { await s3.list(); out = { ok: true }; } catch (err) { out = { code: err.code, message: err.message, hint: err.hint }; }
console.log(JSON.stringify({ local: info.id, s3: out }));
`;

describe('without the AWS SDK', () => {
  it('the root package works, and an s3:// store says which package to install', async () => {
    const r = await node(['--input-type=module', '-e', PROGRAM]);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { local: string; s3: { code: string; message: string; hint: string } };
    expect(out.local).toBe('000000000001');
    expect(out.s3.code).toBe('CKPT_ERR_INVALID_ARGUMENT');
    expect(out.s3.message).toMatch(/s3:\/\/jobs\/sim-42\/ needs the AWS SDK, which is not installed \(cannot load @aws-sdk\/client-s3\)/);
    expect(out.s3.hint).toBe('install it next to ckpt: npm install @aws-sdk/client-s3');
  });

  it('ckpt ls s3://… exits 1 with one line naming the package', async () => {
    const r = await node([join(ROOT, 'dist/cli/main.js'), 'ls', 's3://jobs/sim-42/']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/needs the AWS SDK.*npm install @aws-sdk\/client-s3/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
