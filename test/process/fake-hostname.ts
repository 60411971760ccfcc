// Preloaded (--import) into a child that must look like another machine where
// a new UTS namespace cannot be made (no unshare): os.hostname() answers
// CKPT_TEST_HOSTNAME, for every importer (named ESM imports included).
import { createRequire, syncBuiltinESMExports } from 'node:module';

const os = createRequire(import.meta.url)('node:os') as { hostname: () => string };
const name = process.env['CKPT_TEST_HOSTNAME'];
if (name !== undefined && name !== '') {
  os.hostname = (): string => name;
  syncBuiltinESMExports();
}
