/**
 * @module test/helpers/s3-server
 *
 * The local S3 server for tests: s3rver in a child process behind a front
 * with conditional writes, multipart listing/abort and programmable faults.
 * The server itself lives in `bench/lib/s3/` (the S3 benchmark uses it too,
 * and bench files must not import from test/); this module re-exports it and
 * adds {@link useS3Server}, which starts one server per test file and stops
 * (kills and reaps) it after the file's tests.
 *
 * Clients: use `server.client()` — path-style, and checksums only when
 * required (`requestChecksumCalculation: 'WHEN_REQUIRED'`,
 * `responseChecksumValidation: 'WHEN_REQUIRED'`), which s3rver needs. A child
 * process reaches the server through `server.env` (AWS_ENDPOINT_URL…).
 */
import { afterAll, beforeAll } from 'vitest';
import { startS3Server, type S3TestServer } from '../../bench/lib/s3/server.js';

export { startS3Server } from '../../bench/lib/s3/server.js';
export type { FaultAction, FaultControl, FaultRule, RequestRecord, S3Operation, S3TestServer } from '../../bench/lib/s3/server.js';

/** Start one server before this file's tests and stop it after them; call the returned function inside a test to get it. */
export function useS3Server(): () => S3TestServer {
  let server: S3TestServer | undefined;
  beforeAll(async () => {
    server = await startS3Server();
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (server === undefined) throw new Error('the S3 test server is not running (useS3Server() must be called at the top of a test file)');
    return server;
  };
}
