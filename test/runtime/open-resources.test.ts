/**
 * @module test/runtime/open-resources
 *
 * In-flight writes are not open resources: messages queued on a child's IPC
 * channel (`SimpleWriteWrap`, one per message not yet written) complete by
 * themselves, so the unregistered-handles check does not report them, while
 * the child process and its pipe (not owned by any resource) still are.
 */
import { fork } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { unregisteredHandles } from '../../src/lifecycle/open-resources.js';

const live: ReturnType<typeof fork>[] = [];
afterEach(async () => {
  await Promise.all(
    live.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
});

describe('the unregistered-handles check', () => {
  it('does not count messages queued on an IPC channel, and still counts the child process', () => {
    // A child that never reads: the channel fills and writes queue up.
    const child = fork('-e', ['setInterval(() => {}, 1000)'], { execArgv: [], stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'advanced' });
    live.push(child);
    const big = new Uint8Array(256 * 1024);
    for (let i = 0; i < 64; i++) child.send(big);
    expect(process.getActiveResourcesInfo().filter((k) => k === 'SimpleWriteWrap').length).toBeGreaterThan(0);
    const counts = unregisteredHandles([]);
    expect(counts.has('SimpleWriteWrap')).toBe(false);
    expect(counts.get('ProcessWrap')).toBeGreaterThanOrEqual(1);
  });
});
