/**
 * CkptError itself: recognised across two copies of the package by its
 * brand, the optional `hint`, and how Node prints an uncaught one (only the
 * facts that are set: no `undefined` placeholders, no `errors: []`).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import { CkptError, ErrorCodes, isCkptError } from '../../src/index.js';
import { describeFailure } from '../../src/cli/errors.js';
import { ensureBuilt, ROOT } from '../cli/helpers.js';
import { reapChildren, startNodeChild } from '../helpers/child-process.js';

beforeAll(ensureBuilt, 120_000);
afterEach(reapChildren);

const DIST = pathToFileURL(join(ROOT, 'dist/index.js')).href;
const DIST_ERRORS = pathToFileURL(join(ROOT, 'dist/errors.js')).href;

/** Run an ES module snippet in a child node; killed after 30 s, always reaped. */
async function runModule(source: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const out: string[] = [];
  const child = startNodeChild({ args: ['--input-type=module', '-e', source], cwd: ROOT, onStdoutLine: (l) => out.push(l) });
  child.killAfter(30_000);
  const exit = await child.exited;
  return { code: exit.code, stdout: out.join('\n'), stderr: child.stderr };
}

describe('isCkptError across copies of the package', () => {
  it('recognises an error made by another copy (instanceof does not), and still filters by code', async () => {
    // The same file under two URLs is two module instances: two CkptError
    // classes, as with two installed copies. (errors.js imports nothing, so
    // its second instance is a complete second copy of the error module.)
    const r = await runModule(`
      const a = await import(${JSON.stringify(DIST)});
      const b = await import(${JSON.stringify(`${DIST_ERRORS}?copy=2`)});
      const fromB = new b.CkptError('CKPT_ERR_CORRUPT', 'damaged');
      console.log(JSON.stringify({
        distinctClasses: a.CkptError !== b.CkptError,
        instanceofA: fromB instanceof a.CkptError,
        isA: a.isCkptError(fromB),
        isACode: a.isCkptError(fromB, 'CKPT_ERR_CORRUPT'),
        isAOtherCode: a.isCkptError(fromB, 'CKPT_ERR_LOCKED'),
        bOfA: b.isCkptError(new a.CkptError('CKPT_ERR_LOCKED', 'held'), 'CKPT_ERR_LOCKED'),
      }));
    `);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ distinctClasses: true, instanceofA: false, isA: true, isACode: true, isAOtherCode: false, bOfA: true });
  });

  it('rejects look-alikes: plain errors with a code, non-objects, objects without the brand', () => {
    const lookAlike = Object.assign(new Error('x'), { code: ErrorCodes.CORRUPT, name: 'CkptError' });
    expect(isCkptError(lookAlike)).toBe(false);
    expect(isCkptError({ code: ErrorCodes.CORRUPT })).toBe(false);
    expect(isCkptError(null)).toBe(false);
    expect(isCkptError(undefined)).toBe(false);
    expect(isCkptError('CKPT_ERR_CORRUPT')).toBe(false);
    expect(isCkptError(new CkptError(ErrorCodes.CORRUPT, 'x'), ErrorCodes.CORRUPT)).toBe(true);
  });

  it('the brand is not enumerable: it is not copied by spread or shown by inspect', () => {
    const err = new CkptError(ErrorCodes.CORRUPT, 'x');
    expect(Object.getOwnPropertySymbols({ ...err })).toEqual([]);
    expect(inspect(err, { customInspect: false })).not.toContain('ckpt.error');
  });
});

describe('CkptError hint', () => {
  it('is an own property only when set', () => {
    const bare = new CkptError(ErrorCodes.LOCKED, 'held');
    expect(Object.hasOwn(bare, 'hint')).toBe(false);
    const hinted = new CkptError(ErrorCodes.LOCKED, 'held', { hint: 'stop the other writer' });
    expect(hinted.hint).toBe('stop the other writer');
    expect(Object.keys(hinted)).toContain('hint');
  });

  it('the CLI prints it after the message, and nothing when there is none', () => {
    const hinted = describeFailure(new CkptError(ErrorCodes.LOCKED, 'store is locked by pid 42', { hint: 'stop the other writer' }));
    expect(hinted).toMatchObject({ code: ErrorCodes.LOCKED, message: 'store is locked by pid 42; stop the other writer' });
    const bare = describeFailure(new CkptError(ErrorCodes.LOCKED, 'store is locked by pid 42'));
    expect(bare.message).toBe('store is locked by pid 42');
  });

  it('an error that sets a hint wins over the code default, even when the message holds an advice word', () => {
    const corrupt = describeFailure(new CkptError(ErrorCodes.CORRUPT, 'check digit wrong', { hint: 'copy it again' }));
    expect(corrupt.message).toBe('check digit wrong; copy it again');
  });

  it('a file that is not an image gets the not-an-image hint from where the error is made', async () => {
    const { decodeHeader } = await import('../../src/image/header.js');
    let caught: unknown;
    try {
      decodeHeader(new Uint8Array(64), 'notes.txt');
    } catch (err) {
      caught = err;
    }
    expect(isCkptError(caught, ErrorCodes.CORRUPT)).toBe(true);
    expect((caught as CkptError).hint).toMatch(/pass an image file written by ckpt/);
    expect(describeFailure(caught).message).toMatch(/is not a ckpt image .*; pass an image file written by ckpt/);
  });
});

describe('printing a CkptError', () => {
  it('errors is absent (not an empty array) when there are none, present when there are', () => {
    const bare = new CkptError(ErrorCodes.CORRUPT, 'x');
    expect(bare.errors).toBeUndefined();
    expect('errors' in bare).toBe(false);
    const inner = new Error('inner');
    const agg = new CkptError(ErrorCodes.SNAPSHOT_FAILED, 'y', { errors: [inner] });
    expect(agg.errors).toEqual([inner]);
    expect(Object.isFrozen(agg.errors)).toBe(true);
    // An empty list is the same as none.
    expect(new CkptError(ErrorCodes.SNAPSHOT_FAILED, 'z', { errors: [] }).errors).toBeUndefined();
  });

  it("util.inspect without custom inspection (what Node's uncaught printer uses) shows only what is set", () => {
    const text = inspect(new CkptError(ErrorCodes.CORRUPT, 'damaged'), { customInspect: false });
    expect(text).toContain("code: 'CKPT_ERR_CORRUPT'");
    expect(text).not.toMatch(/undefined|errors: \[\]/);
  });

  it('an uncaught bare CkptError prints no undefined and no errors: []', async () => {
    const r = await runModule(`import { CkptError } from ${JSON.stringify(DIST)};\nthrow new CkptError('CKPT_ERR_CORRUPT', 'image 7 is damaged');`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('image 7 is damaged');
    expect(r.stderr).toContain("code: 'CKPT_ERR_CORRUPT'");
    expect(r.stderr).not.toMatch(/undefined/);
    expect(r.stderr).not.toMatch(/errors: \[\]/);
  });

  it('an uncaught CkptError with a hint, a cause and individual failures prints each of them', async () => {
    const r = await runModule(
      `import { CkptError } from ${JSON.stringify(DIST)};\n` +
        `throw new CkptError('CKPT_ERR_SNAPSHOT_FAILED', 'checkpoint failed', { hint: 'fix the provider', provider: 'sim', errors: [new Error('sim broke')], cause: new Error('root cause') });`,
    );
    expect(r.code).toBe(1);
    for (const part of ["code: 'CKPT_ERR_SNAPSHOT_FAILED'", "hint: 'fix the provider'", "provider: 'sim'", 'sim broke', 'root cause']) expect(r.stderr).toContain(part);
    expect(r.stderr).not.toMatch(/undefined/);
  });
});
