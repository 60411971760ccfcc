/**
 * @module cli/keys
 *
 * Keys for encrypted images on the command line: `--key-file k.bin` (32
 * bytes, raw or as 64 hex digits; also `CKPT_KEY_FILE`), a passphrase from
 * `CKPT_PASSPHRASE` (never from an option: it would show in the process
 * list), and `--allow-plaintext`-free reading of plaintext images (a tool
 * looks at whatever a store holds). Without a key an encrypted image shows
 * only what its crypto block makes public.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { cliKeySource, type KeySource } from '../crypto/keys.js';
import { usageError } from './errors.js';

/** The key options of a command. */
export interface KeyOptions {
  /** `--key-file`. */
  readonly keyFile?: string;
}

/** Add `--key-file` to a command. */
export function addKeyOptions(cmd: Command): Command {
  return cmd.option('--key-file <path>', 'key of encrypted images: 32 bytes, raw or 64 hex digits (also CKPT_KEY_FILE; a passphrase: CKPT_PASSPHRASE)');
}

/** Read a key file: 32 raw bytes, or 64 hex digits (whitespace around them ignored). Usage error otherwise. */
export async function readKeyFile(path: string, what = '--key-file'): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw usageError(`${what} ${path} cannot be read (${err instanceof Error ? err.message : String(err)})`);
  }
  if (bytes.length === 32) return bytes;
  const text = bytes.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  throw usageError(`${what} ${path} is not a key: it must hold 32 bytes, or 64 hex digits (make one with: head -c 32 /dev/urandom > k.bin)`);
}

/** The key file `options` (`--key-file`) or the environment (`CKPT_KEY_FILE`) name, read; undefined when none is named. */
export async function cliKeyFile(options: KeyOptions, env: Readonly<Record<string, string | undefined>>): Promise<Buffer | undefined> {
  const file = options.keyFile ?? env['CKPT_KEY_FILE'];
  return file === undefined || file === '' ? undefined : readKeyFile(file, options.keyFile !== undefined ? '--key-file' : 'CKPT_KEY_FILE');
}

/** The keys `options` and the environment give, or undefined. */
export async function cliKeys(options: KeyOptions, env: Readonly<Record<string, string | undefined>>): Promise<KeySource | undefined> {
  return cliKeySource({ key: await cliKeyFile(options, env), passphrase: env['CKPT_PASSPHRASE'], allowPlaintext: true });
}
