/**
 * @module test/group/kill-rounds
 *
 * The loop of the group kill tests: run a child program (a group) until it
 * prints `done`, SIGKILLing it `kills` times a little after a random one of
 * its first committed group checkpoints; each round's events and exit are
 * handed to the test to check. A round that is not killed must exit 0.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
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
  readonly onRound: (events: readonly E[], killed: boolean, lastEpoch: number) => void | Promise<void>;
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
    await options.onRound(events, killed, lastEpoch);
    for (const e of events) if (e.event === 'checkpoint') lastEpoch = Math.max(lastEpoch, e.epoch!);
    done = events.find((e) => e.event === 'done');
  }
  expect(kills).toBe(options.kills);
  expect(done, 'the group never finished').toBeDefined();
  return done!;
}

/**
 * The parts' starts of one round: all from one restored epoch, none older
 * than `lastEpoch` (the newest committed before the round); once something
 * was committed, each part restored a step, never behind what an earlier
 * round of that part restored (`resumedAt`, by part, is updated).
 */
export function checkStarts(starts: readonly GroupEvent[], lastEpoch: number, resumedAt: number[]): void {
  expect(new Set(starts.map((s) => s.restoredEpoch)).size).toBeLessThanOrEqual(1);
  for (const s of starts) {
    expect(s.restoredEpoch).toBeGreaterThanOrEqual(lastEpoch);
    if (lastEpoch === 0) continue;
    expect(s.step).toBeTypeOf('number');
    expect(s.step!).toBeGreaterThanOrEqual(resumedAt[s.part!] ?? 0);
    resumedAt[s.part!] = s.step!;
  }
}

/** Whether process `pid` still runs (a zombie, dead but not yet reaped by its new parent, does not). */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${String(pid)}/stat`, 'utf8'));
  } catch {
    return process.platform !== 'linux';
  }
}

/** Wait until none of `list` runs (at most `ms`); the ones still running. */
export async function gone(list: readonly number[], ms: number): Promise<number[]> {
  for (let waited = 0; waited < ms && list.some(running); waited += 50) await sleep(50);
  return list.filter(running);
}
