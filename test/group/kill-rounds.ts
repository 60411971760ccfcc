/**
 * @module test/group/kill-rounds
 *
 * The loop of the group kill tests: run a child program (a group) until it
 * prints `done`, SIGKILLing it `kills` times a little after a random one of
 * its first committed group checkpoints; each round's events and exit are
 * handed to the test to check. A round that is not killed must exit 0.
 */
import { expect } from 'vitest';
import { startNodeChild, tsxArgs } from '../helpers/child-process.js';

/** What the group child programs print, one JSON object a line. */
export interface GroupEvent {
  readonly event: string;
  readonly part?: number;
  readonly step?: number | null;
  readonly epoch?: number;
  readonly restoredEpoch?: number;
}

/** Run `program args…` until it prints `done`; returns that event and how many kills happened (checked: exactly `kills`). */
export async function killRounds<E extends GroupEvent>(options: {
  readonly program: string;
  readonly args: readonly string[];
  readonly kills: number;
  /** The kill lands after the k-th checkpoint of a round, k random in 1..`afterCheckpoints`. */
  readonly afterCheckpoints: number;
  /** …and a random delay up to this many ms. */
  readonly maxDelayMs: number;
  /** Checks one round: its events, whether it was killed, and the newest epoch committed before it. */
  readonly onRound: (events: readonly E[], killed: boolean, lastEpoch: number) => void;
}): Promise<E> {
  let kills = 0;
  let lastEpoch = 0;
  let done: E | undefined;
  for (let attempt = 0; attempt < options.kills + 6 && done === undefined; attempt++) {
    const killAt = kills < options.kills ? 1 + Math.floor(Math.random() * options.afterCheckpoints) : Infinity;
    let seen = 0;
    const events: E[] = [];
    const child = startNodeChild({
      args: tsxArgs(options.program, ...options.args),
      onStdoutLine: (line) => {
        const ev = JSON.parse(line) as E;
        events.push(ev);
        if (ev.event === 'checkpoint' && ++seen === killAt) child.killAfter(Math.floor(Math.random() * options.maxDelayMs));
      },
    });
    const exit = await child.exited;
    const killed = exit.signal === 'SIGKILL';
    if (killed) kills++;
    else expect(exit, child.stderr).toEqual({ code: 0, signal: null });
    options.onRound(events, killed, lastEpoch);
    for (const e of events) if (e.event === 'checkpoint') lastEpoch = Math.max(lastEpoch, e.epoch!);
    done = events.find((e) => e.event === 'done');
  }
  expect(kills).toBe(options.kills);
  expect(done, 'the group never finished').toBeDefined();
  return done!;
}
