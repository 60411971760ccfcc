/**
 * @module test/reliability/crash-harness
 *
 * The crash-consistency harness, shared by the CI test (crash.test.ts) and the
 * soak script (scripts/soak.ts). It runs crash-child.ts in rounds: each round
 * is a fresh store directory; the child is SIGKILLed — at an exact fault
 * point inside checkpoint() (CKPT_TEST_KILL_AT) or after a random delay — and
 * restarted until it finishes. Before every restart the harness looks at the
 * directory itself (list + openImageFile + verify) and then checks what the
 * child restored:
 *
 * - the restored image is the newest committed image in the directory (or a
 *   fresh start when there is none), never a fallback: a kill never leaves a
 *   damaged visible image;
 * - the restored state equals the uninterrupted run's state at that step;
 * - no image the child reported as committed is lost;
 * - the finished run's result equals the uninterrupted run's, and the
 *   directory holds no temp files, lock files or stale-lock leftovers.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openImageFile } from '../../src/format/index.js';
import { FAULT_POINTS, type FaultPointName } from '../../src/lifecycle/fault-points.js';
import { reapChildren, startNodeChild } from '../helpers/child-process.js';
import { childCommand, type ChildCommand } from './child-command.js';
import { referenceHashes } from './crash-sim.js';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

/** Settings of one crash-consistency run. */
export interface CrashOptions {
  /** Root directory for the rounds' stores (removed entries as rounds finish). */
  readonly root: string;
  /** Stop killing once this many kills happened (rounds in progress then finish without kills). */
  readonly kills: number;
  /** Rounds run concurrently (default 2). */
  readonly lanes?: number;
  /** PRNG seed (default 1). */
  readonly seed?: number;
  /** Steps of the simulation (default 100) and checkpoint interval (default 5). */
  readonly steps?: number;
  readonly every?: number;
  /** Elements of the simulated field (default 24 000: 192 KB, several segments). */
  readonly size?: number;
  /** Share of kills placed at a fault point; the rest are timed (default 0.6). */
  readonly pointShare?: number;
  /** Fault points killed at once each before random placement starts (CI coverage). */
  readonly cover?: readonly FaultPointName[];
  /** Weight of `lock-created` (a restart then waits 5 s for the unreadable lock to turn stale; default 0.02). */
  readonly lockCreatedWeight?: number;
  /** Most attempts per round before it counts as a failure (default 400). */
  readonly maxAttempts?: number;
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /**
   * Incremental images: the child checkpoints with this `incremental` option
   * over a sparsely changing field. Retention (keepLast 2) then keeps the
   * images the newest two need (pinned), and a finished run must hold exactly
   * those.
   */
  readonly incremental?: { readonly delta: 'segments' | 'xor'; readonly fullEvery: number };
}

/** What a crash-consistency run did. */
export interface CrashReport {
  kills: number;
  pointKills: Record<string, number>;
  timedKills: number;
  /** Where timed kills landed (last fault point passed before the kill, or "outside"). */
  timedKillsAt: Record<string, number>;
  restarts: number;
  restoresVerified: number;
  freshStarts: number;
  rounds: number;
  imagesVerified: number;
  leftoversCleaned: number;
  /** Images verified that refer to older images (incremental mode). */
  incrementalImagesVerified: number;
  /** Retention pinned-image warnings seen (incremental mode). */
  pinnedWarnings: number;
  /** Rounds whose last run restored the final image and wrote nothing (its leftovers wait for the next writer). */
  finishedWithoutWriting: number;
  failures: string[];
  childKind: string;
  ms: number;
}

interface ChildEvent {
  e: 'start' | 'committed' | 'warning' | 'error' | 'done';
  id?: string | null;
  step?: number | null;
  imageStep?: number | null;
  hash?: string;
  fellBack?: boolean;
  skipped?: number;
  code?: string;
  message?: string;
}

/** mulberry32: a small seeded PRNG, so a run can be repeated from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** SIGKILL every child still running and wait until each is reaped (for afterEach, and for scripts/soak.ts). */
export const reapCrashChildren: () => Promise<void> = reapChildren;

/** Hits allowed for each point (a kill at the n-th hit, n drawn from [1, max]). */
const MAX_HIT: Record<FaultPointName, number> = {
  'lock-created': 1,
  'lock-written': 1,
  'cleanup-unlink': 1,
  'after-prepare': 4,
  'after-capture': 4,
  'temp-created': 4,
  'segment-write': 30,
  'after-write': 4,
  'before-commit': 4,
  'after-fsync': 4,
  'before-rename': 4,
  'after-rename': 4,
  'after-dir-fsync': 4,
  'after-commit': 4,
  'before-retention': 4,
  'retention-planned': 4,
  'retention-delete': 3,
  'after-unlink': 3,
  'after-retention': 4,
};

interface StoreView {
  /** Committed image ids, newest first. */
  readonly ids: string[];
  readonly steps: Map<string, number | null>;
  /** The images each listed image refers to (empty for a full image). */
  readonly refs: Map<string, string[]>;
  readonly temps: string[];
  readonly other: string[];
}

interface KillPlan {
  readonly point?: string;
  readonly delayMs?: number;
  /** Timed kill counted from spawn (startup, restore, lock) instead of from the start event. */
  readonly early?: boolean;
}

interface AttemptOutcome {
  readonly events: ChildEvent[];
  readonly signal: NodeJS.Signals | null;
  readonly code: number | null;
  readonly trace: string[];
  readonly stderr: string;
}

const TRACE_PREFIX = 'ckpt-fault-point ';

async function runChild(cmd: ChildCommand, env: Record<string, string>, plan: KillPlan): Promise<AttemptOutcome> {
  const events: ChildEvent[] = [];
  const trace: string[] = [];
  let stderr = '';
  const child = startNodeChild({
    command: cmd.command,
    args: cmd.args,
    env,
    onStdoutLine: (line) => {
      try {
        const ev = JSON.parse(line) as ChildEvent;
        events.push(ev);
        if (ev.e === 'start' && plan.early !== true) arm();
      } catch {
        stderr += `unparsable stdout line: ${line}\n`;
      }
    },
    onStderrLine: (line) => {
      if (line.startsWith(TRACE_PREFIX)) trace.push(line.slice(TRACE_PREFIX.length));
      else stderr += line + '\n';
    },
  });
  const arm = (): void => {
    if (plan.delayMs !== undefined) child.killAfter(plan.delayMs);
  };
  if (plan.early === true) arm();
  const { code, signal } = await child.exited;
  // Plus the last line, if the kill cut it short.
  const tail = child.stderr.slice(child.stderr.lastIndexOf('\n') + 1);
  return { events, signal, code, trace, stderr: stderr + tail };
}

/** Run the crash-consistency suite; never throws for a failed check (they are in `failures`). */
export async function runCrashSuite(options: CrashOptions): Promise<CrashReport> {
  const t0 = performance.now();
  const steps = options.steps ?? 100;
  const every = options.every ?? 5;
  const size = options.size ?? 24_000;
  const lanes = options.lanes ?? 2;
  const pointShare = options.pointShare ?? 0.6;
  const maxAttempts = options.maxAttempts ?? 400;
  const lockWeight = options.lockCreatedWeight ?? 0.02;
  const log = options.log ?? (() => undefined);
  const incremental = options.incremental;
  const ref = referenceHashes(size, steps, incremental === undefined ? 'dense' : 'sparse');
  const cmd = await childCommand(CHILD);
  const report: CrashReport = {
    kills: 0,
    pointKills: {},
    timedKills: 0,
    timedKillsAt: {},
    restarts: 0,
    restoresVerified: 0,
    freshStarts: 0,
    rounds: 0,
    imagesVerified: 0,
    leftoversCleaned: 0,
    incrementalImagesVerified: 0,
    pinnedWarnings: 0,
    finishedWithoutWriting: 0,
    failures: [],
    childKind: cmd.kind,
    ms: 0,
  };
  const cover = [...(options.cover ?? [])];
  const rand = prng(options.seed ?? 1);
  const verified = new Map<string, number | null>();
  /** Images each verified image refers to (its holders), by file key. */
  const refsByKey = new Map<string, string[]>();
  let roundNo = 0;

  const fail = (msg: string): void => {
    report.failures.push(msg);
    log(`FAILURE ${msg}`);
  };

  async function view(dir: string, where: string): Promise<StoreView> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return { ids: [], steps: new Map(), refs: new Map(), temps: [], other: [] };
    }
    const ids: string[] = [];
    const temps: string[] = [];
    const other: string[] = [];
    for (const n of names) {
      const m = /^(\d{12})\.ckpt$/.exec(n);
      if (m !== null) ids.push(m[1]!);
      else if (n.startsWith('.tmp-') && n.endsWith('.partial')) temps.push(n);
      else other.push(n);
    }
    ids.sort().reverse();
    const steps = new Map<string, number | null>();
    const refs = new Map<string, string[]>();
    for (const id of ids) {
      const path = join(dir, `${id}.ckpt`);
      let key: string;
      try {
        const st = await stat(path);
        key = `${path}:${st.size}:${st.ino}:${st.mtimeMs}`;
      } catch {
        continue;
      }
      const known = verified.get(key);
      if (known !== undefined) {
        steps.set(id, known);
        refs.set(id, refsByKey.get(key) ?? []);
        continue;
      }
      try {
        const img = await openImageFile(path);
        try {
          const r = await img.verify();
          if (!r.ok) fail(`${where}: visible image ${id} is damaged: ${JSON.stringify(r.problems)}`);
          steps.set(id, img.manifest.step);
          verified.set(key, img.manifest.step);
          const holders = (img.index.refs ?? []).map((r) => r.imageId);
          refs.set(id, holders);
          refsByKey.set(key, holders);
          if (holders.length > 0) report.incrementalImagesVerified++;
          report.imagesVerified++;
        } finally {
          await img.close();
        }
      } catch (err) {
        fail(`${where}: visible image ${id} cannot be opened: ${String(err)}`);
      }
    }
    return { ids, steps, refs, temps, other };
  }

  function pickPoint(v: StoreView): string {
    const leftovers = v.temps.length > 0 || v.other.some((n) => n.startsWith('.ckpt-lock.stale-'));
    // cleanup-unlink is only reached when there are leftovers to remove.
    const c = cover.findIndex((p) => p !== 'cleanup-unlink' || leftovers);
    if (c >= 0) return `${cover.splice(c, 1)[0]!}:1`;
    // Only cleanup-unlink is left to cover: first leave a temp file behind.
    if (cover.length > 0) return 'temp-created:1';
    const candidates = FAULT_POINTS.filter((p) => p !== 'cleanup-unlink' || leftovers);
    const weights = candidates.map((p) => (p === 'lock-created' ? lockWeight : 1));
    let r = rand() * weights.reduce((a, b) => a + b, 0);
    let i = 0;
    while (i < candidates.length - 1 && (r -= weights[i]!) > 0) i++;
    const p = candidates[i]!;
    return `${p}:${1 + Math.floor(rand() * MAX_HIT[p])}`;
  }

  function plan(v: StoreView): KillPlan {
    if (cover.length > 0) return { point: pickPoint(v) };
    if (report.kills >= options.kills) return {};
    if (rand() < pointShare) return { point: pickPoint(v) };
    if (rand() < 0.25) return { early: true, delayMs: Math.floor(rand() * 300) };
    return { delayMs: Math.floor(rand() * 120) };
  }

  async function round(lane: number): Promise<void> {
    const n = roundNo++;
    report.rounds++;
    const persist = n % 2 === 0 ? 'sync' : 'async';
    const dir = join(options.root, `round-${n}`);
    await mkdir(options.root, { recursive: true });
    const where0 = `round ${n} (lane ${lane}, ${persist})`;
    let lastCommitted: { id: string; step: number | null } | undefined;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const where = `${where0} attempt ${attempt}`;
      const before = await view(dir, where);
      const newest = before.ids[0];
      if (lastCommitted !== undefined && (newest === undefined || newest < lastCommitted.id)) {
        fail(`${where}: image ${lastCommitted.id} was reported committed but the newest image is ${newest ?? 'none'}`);
      }
      const p = plan(before);
      const env: Record<string, string> = {
        CKPT_DIR: dir,
        CKPT_STEPS: String(steps),
        CKPT_EVERY: String(every),
        CKPT_SIZE: String(size),
        CKPT_PERSIST: persist,
        ...(incremental === undefined ? {} : { CKPT_INCREMENTAL: `${incremental.delta}:${incremental.fullEvery}` }),
        CKPT_TEST_FAULT_TRACE: '1',
        ...(p.point === undefined ? {} : { CKPT_TEST_KILL_AT: p.point }),
      };
      const out = await runChild(cmd, env, p);
      const what = `${where} [${p.point ?? (p.delayMs === undefined ? 'no kill' : `kill after ${p.delayMs} ms${p.early === true ? ' from spawn' : ''}`)}]`;
      if (attempt > 0) report.restarts++;
      // What the child restored.
      const start = out.events.find((e) => e.e === 'start');
      if (start !== undefined) {
        const expectedId = newest ?? null;
        if (start.id !== expectedId) fail(`${what}: restored ${String(start.id)}, but the newest committed image is ${String(expectedId)}`);
        if (start.fellBack === true || (start.skipped ?? 0) > 0) fail(`${what}: restore fell back (${String(start.skipped)} skipped)`);
        const s = start.step ?? -1;
        if (expectedId !== null && before.steps.get(expectedId) !== s) fail(`${what}: restored step ${s}, image ${expectedId} holds step ${String(before.steps.get(expectedId))}`);
        if (ref[s] !== start.hash) fail(`${what}: restored state at step ${s} differs from the uninterrupted run`);
        if (expectedId === null) {
          report.freshStarts++;
          if (s !== 0) fail(`${what}: fresh start at step ${s}`);
        } else report.restoresVerified++;
      }
      for (const e of out.events) {
        if (e.e === 'committed') lastCommitted = { id: e.id!, step: e.step ?? null };
        else if (e.e === 'error') fail(`${what}: child error ${String(e.code)}: ${String(e.message)}`);
        else if (e.e === 'warning') {
          if (e.code === 'CKPT_WARN_CLEANUP') report.leftoversCleaned++;
          else if (incremental !== undefined && e.code === 'CKPT_WARN_RETENTION_PINNED') report.pinnedWarnings++;
          else fail(`${what}: unexpected warning ${String(e.code)}: ${String(e.message)}`);
        }
      }
      if (out.signal === 'SIGKILL') {
        report.kills++;
        const last = out.trace[out.trace.length - 1];
        if (p.point !== undefined) {
          const [name, hit] = p.point.split(':');
          if (last !== `${name} ${hit}`) fail(`${what}: killed, but the last fault point passed was ${String(last)}`);
          report.pointKills[name!] = (report.pointKills[name!] ?? 0) + 1;
        } else {
          report.timedKills++;
          const at = start === undefined ? 'startup/restore' : last === undefined ? 'outside checkpoint' : last.split(' ')[0]!;
          report.timedKillsAt[at] = (report.timedKillsAt[at] ?? 0) + 1;
        }
        if (report.kills % 100 === 0) log(`crash: ${report.kills} kills, ${report.restarts} restarts, ${report.failures.length} failures (${Math.round((performance.now() - t0) / 1000)} s)`);
        continue;
      }
      if (out.code !== 0 || out.signal !== null) {
        fail(`${what}: child exited with ${String(out.code)}/${String(out.signal)}: ${out.stderr.slice(0, 2000)}`);
        break;
      }
      const done = out.events.find((e) => e.e === 'done');
      if (done === undefined) {
        fail(`${what}: child exited 0 without finishing`);
        break;
      }
      if (done.step !== steps || done.hash !== ref[steps]) fail(`${what}: finished at step ${String(done.step)} with a result that differs from the uninterrupted run`);
      const after = await view(dir, `${where0} end`);
      if (!out.events.some((e) => e.e === 'committed')) {
        // The previous attempt committed the final image and was killed before
        // it finished (e.g. during retention): this run restored it and had
        // nothing to write, so nobody cleaned up yet. The leftovers must be
        // invisible (checked above) and removed by the next writer.
        report.finishedWithoutWriting++;
        await rm(dir, { recursive: true, force: true });
        return;
      }
      if (after.temps.length > 0) fail(`${where0}: temp files left after a finished run: ${after.temps.join(', ')}`);
      if (after.other.length > 0) fail(`${where0}: other files left after a finished run: ${after.other.join(', ')}`);
      if (incremental === undefined) {
        if (after.ids.length > 2) fail(`${where0}: ${after.ids.length} images left with keepLast 2`);
      } else {
        // The newest two and every image they need, transitively (a pinned image keeps what it needs).
        const needed = new Set<string>();
        const todo = after.ids.slice(0, 2);
        for (let id = todo.pop(); id !== undefined; id = todo.pop()) {
          if (needed.has(id)) continue;
          needed.add(id);
          todo.push(...(after.refs.get(id) ?? []));
        }
        const extra = after.ids.filter((id) => !needed.has(id));
        const missing = [...needed].filter((id) => !after.ids.includes(id));
        if (extra.length > 0) fail(`${where0}: images left that nothing kept needs, with keepLast 2: ${extra.join(', ')}`);
        if (missing.length > 0) fail(`${where0}: images needed by kept images are gone: ${missing.join(', ')}`);
      }
      if (after.ids[0] === undefined || after.steps.get(after.ids[0]) !== steps) fail(`${where0}: the newest image is not the final one`);
      await rm(dir, { recursive: true, force: true });
      return;
    }
    fail(`${where0}: never finished in ${maxAttempts} attempts`);
    await rm(dir, { recursive: true, force: true });
  }

  try {
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        while (report.kills < options.kills || cover.length > 0) await round(lane);
      }),
    );
  } finally {
    await cmd.dispose();
  }
  report.ms = performance.now() - t0;
  return report;
}

/** The one-line summary the suite prints. */
export function crashSummary(r: CrashReport, name = 'soak'): string {
  return `${name}: ${r.kills} kills (${Object.values(r.pointKills).reduce((a, b) => a + b, 0)} at fault points, ${r.timedKills} timed), ${r.restarts} restarts, ${r.restoresVerified} restores verified, ${r.freshStarts} fresh starts, ${r.rounds} rounds, ${r.imagesVerified} images verified, ${r.failures.length} failures`;
}
