/**
 * The long crash-consistency run (`npm run soak`): a child program that
 * checkpoints in a loop is SIGKILLed at random moments and at exact fault
 * points inside checkpoint(), then restarted, until the requested number of
 * kills; every restart must restore the newest committed image and every
 * finished run must equal an uninterrupted one. See docs/reliability.md.
 *
 *   node --import tsx scripts/soak.ts [--kills 1000] [--lanes 2] [--seed 1] [--json report.json]
 *     [--incremental segments|xor] [--full-every 4]
 *
 * With --incremental the child writes incremental images (references, or XOR
 * deltas) over a sparsely changing field with retention keepLast 2: every
 * listed image must verify with its references before each restart, and a
 * finished run must hold exactly the newest two images and what they need.
 *
 * Env: CKPT_SOAK_KILLS, CKPT_SOAK_LANES, CKPT_SOAK_SEED. Prints progress on
 * stderr and one summary line on stdout; exits 1 if any check failed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { crashSummary, reapCrashChildren, runCrashSuite } from '../test/reliability/crash-harness.js';
import { FAULT_POINTS } from '../src/lifecycle/fault-points.js';
import { removeBundles } from '../test/reliability/child-command.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string' },
    lanes: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'string' },
    incremental: { type: 'string' },
    'full-every': { type: 'string' },
  },
});
const kills = Number(values.kills ?? process.env['CKPT_SOAK_KILLS'] ?? 1000);
const lanes = Number(values.lanes ?? process.env['CKPT_SOAK_LANES'] ?? 2);
const seed = Number(values.seed ?? process.env['CKPT_SOAK_SEED'] ?? Date.now() % 1_000_000);
const deltaArg = values.incremental ?? process.env['CKPT_SOAK_INCREMENTAL'];
const delta = deltaArg === 'segments' || deltaArg === 'xor' ? deltaArg : undefined;
if (deltaArg !== undefined && delta === undefined) throw new Error(`--incremental must be 'segments' or 'xor', got ${deltaArg}`);
const fullEvery = Number(values['full-every'] ?? 4);
const incremental: { delta: 'segments' | 'xor'; fullEvery: number } | undefined = delta === undefined ? undefined : { delta, fullEvery };

const root = await mkdtemp(join(tmpdir(), 'ckpt-soak-'));
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    void reapCrashChildren()
      .then(() => Promise.all([rm(root, { recursive: true, force: true }), removeBundles()]))
      .finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}
const log = (line: string): void => void process.stderr.write(`${line}\n`);
log(`soak: ${kills} kills, ${lanes} lanes, seed ${seed}${incremental === undefined ? '' : `, incremental ${incremental.delta} fullEvery ${incremental.fullEvery}`}, stores under ${root}`);
try {
  const report = await runCrashSuite({ root, kills, lanes, seed, cover: FAULT_POINTS, log, ...(incremental === undefined ? {} : { incremental }) });
  log(`points: ${JSON.stringify(report.pointKills)}`);
  log(`timed kills landed at: ${JSON.stringify(report.timedKillsAt)}`);
  log(`leftovers cleaned at restart: ${report.leftoversCleaned}; rounds ending without a write: ${report.finishedWithoutWriting}; child: ${report.childKind}; ${(report.ms / 1000).toFixed(1)} s`);
  for (const f of report.failures.slice(0, 20)) log(`FAILURE ${f}`);
  if (values.json !== undefined) await writeFile(values.json, JSON.stringify({ seed, ...report }, null, 2));
  console.log(crashSummary(report) + (incremental === undefined ? '' : `, ${report.incrementalImagesVerified} incremental images verified, ${report.pinnedWarnings} pinned warnings`));
  process.exitCode = report.failures.length === 0 ? 0 : 1;
} finally {
  await reapCrashChildren();
  await rm(root, { recursive: true, force: true });
}
