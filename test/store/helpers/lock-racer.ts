// Child process for the lock race test: on each stdin line "go" it tries once
// to take the writer lock of the directory in argv[2] (waitMs 0) and prints
// "won" or "lost <code>"; on "release" it releases what it holds and prints
// "released". It exits when its stdin closes.
import { createInterface } from 'node:readline';
import { FsStore } from '../../../src/store/fs-store.js';
import type { WriterLock } from '../../../src/store/store.js';
import { isCkptError } from '../../../src/errors.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: lock-racer <dir>');
const store = new FsStore(dir);
let held: WriterLock | undefined;
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'go') {
    try {
      held = await store.acquireWriter();
      process.stdout.write('won\n');
    } catch (err) {
      process.stdout.write(`lost ${isCkptError(err) ? err.code : String(err)}\n`);
    }
  } else if (line === 'release') {
    await held?.release();
    held = undefined;
    process.stdout.write('released\n');
  }
}
