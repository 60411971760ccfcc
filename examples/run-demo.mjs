// `npm run demo`: runs the heat-diffusion example end to end. First an
// uninterrupted run; then a run that is SIGKILLed mid-way and restarted, which
// must resume from its last checkpoint and end with a bit-identical grid.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const example = join(here, 'heat-diffusion.ts');
const args = ['--steps', '400', '--every', '25', '--delay-ms', '5'];

function run(dir, { killAfterCheckpoints } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', example, '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const events = [];
    let buf = '';
    let killed = false;
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let ev;
        try { ev = JSON.parse(line); } catch { continue; }
        events.push(ev);
        const n = events.filter((e) => e.event === 'checkpoint').length;
        if (killAfterCheckpoints !== undefined && n >= killAfterCheckpoints && !killed) {
          killed = true;
          // Let it run on a little past the checkpoint, then kill it hard.
          setTimeout(() => child.kill('SIGKILL'), 40);
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, events }));
  });
}

const root = await mkdtemp(join(tmpdir(), 'ckpt-demo-'));
try {
  console.log('1) uninterrupted run …');
  const a = await run(join(root, 'a'));
  const ref = a.events.find((e) => e.event === 'done');
  if (a.code !== 0 || ref === undefined) throw new Error(`uninterrupted run failed (exit ${a.code})`);
  console.log(`   finished at step ${ref.step}, grid sha256 ${ref.sha256.slice(0, 16)}…`);

  console.log('2) run that gets SIGKILLed mid-way …');
  const b1 = await run(join(root, 'b'), { killAfterCheckpoints: 5 });
  const last = b1.events.filter((e) => e.event === 'checkpoint').at(-1);
  if (b1.signal !== 'SIGKILL') throw new Error(`expected the run to be killed, it exited with ${b1.code}`);
  console.log(`   killed by ${b1.signal}; last committed checkpoint at step ${last?.step}`);

  console.log('3) restart …');
  const b2 = await run(join(root, 'b'));
  const resumed = b2.events.find((e) => e.event === 'resumed');
  const done = b2.events.find((e) => e.event === 'done');
  if (b2.code !== 0 || done === undefined) throw new Error(`restarted run failed (exit ${b2.code})`);
  if (resumed === undefined) throw new Error('restarted run did not resume from a checkpoint');
  console.log(`   resumed at step ${resumed.step} from image ${resumed.image}, finished at step ${done.step}`);

  const same = done.sha256 === ref.sha256;
  console.log(same
    ? `OK: the interrupted run resumed at step ${resumed.step} and its final grid matches the uninterrupted run (sha256 ${done.sha256.slice(0, 16)}…)`
    : `MISMATCH: ${done.sha256} != ${ref.sha256}`);
  process.exitCode = same ? 0 : 1;
} finally {
  await rm(root, { recursive: true, force: true });
}
