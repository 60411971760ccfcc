/**
 * @module version
 *
 * The ckpt version, read once from package.json, recorded in every image's
 * manifest (`ckpt 0.1.0`).
 */
import { createRequire } from 'node:module';

// Both src/ (tests) and dist/ (built) sit one level below package.json.
const pkg = createRequire(import.meta.url)('../package.json') as { version: string };

/** The ckpt package version. */
export const LIBRARY_VERSION: string = pkg.version;
/** The library string written into manifests. */
export const LIBRARY_NAME = `ckpt ${LIBRARY_VERSION}`;
