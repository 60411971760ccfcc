// Child process for the lock tests: takes the writer lock of the directory in
// argv[2] through FsStore, prints "ready <pid>", then holds the lock until it
// is killed or its stdin closes (so it never outlives a crashed test run).
import { FsStore } from '../../../src/store/fs-store.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: lock-holder <dir>');
const lock = await new FsStore(dir).acquireWriter();
process.stdout.write(`ready ${process.pid}\n`);
process.stdin.on('end', () => {
  void lock.release().finally(() => process.exit(0));
});
process.stdin.resume();
