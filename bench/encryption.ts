/**
 * Encrypted images against plaintext ones, measured in the same run
 * (medians over the repetitions, the two variants interleaved): the table of
 * docs/encryption.md.
 *
 *   durable checkpoint   checkpoint() of a typed state (3 Float64Arrays +
 *                        2 Int32Arrays) into an FsStore, until fsynced
 *   restore              restore() of that image into a fresh Checkpointer
 *   incremental          with `incremental: true` on both sides: after a full
 *                        image, 1 % of the temperature field changed (one
 *                        contiguous run), checkpoint() of the incremental
 *                        image and restore() of it (its references read from
 *                        the full image) — encrypted: format 5
 *
 * Prints each time and the ratio encrypted / plaintext. Sizes: default
 * 64 MiB of state (--mb N to change; the target is set at 1 GiB),
 * --reps N (default 3), --smoke (8 MiB, 1 repetition), --dir PATH (scratch
 * directory, default the OS temp dir).
 *
 * Run: npm run bench:encryption [-- --mb 1024]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Checkpointer, type CheckpointerOptions } from 'ckpt';
import { simBytes, simState } from './lib/data.js';
import { collect, fmt, machine, median, MiB, settle } from './lib/stats.js';

const { values } = parseArgs({
  options: { smoke: { type: 'boolean', default: false }, mb: { type: 'string' }, reps: { type: 'string' }, dir: { type: 'string' } },
});
const smoke = values.smoke;
const mb = Number(values.mb ?? (smoke ? 8 : 64));
const reps = Number(values.reps ?? (smoke ? 1 : 3));
const log = (s: string): void => void process.stderr.write(`${s}\n`);

const state = simState(mb * MiB);
const key = randomBytes(32);
const variants: { name: string; options: Partial<CheckpointerOptions> }[] = [
  { name: 'plaintext', options: {} },
  { name: 'encrypted', options: { encryption: { keys: { k1: key }, current: 'k1' } } },
];

/** Time restore() of the newest image of `dir` into a fresh read-only Checkpointer. */
async function restoreMs(dir: string, options: Partial<CheckpointerOptions>): Promise<number> {
  const r = new Checkpointer({ store: dir, readOnly: true, ...options });
  let back: unknown;
  r.register({ id: 'sim', snapshot: () => back, restore: (s) => void (back = s) });
  collect();
  await settle();
  const t = performance.now();
  await r.restore();
  const ms = performance.now() - t;
  await r.close();
  back = undefined;
  return ms;
}

async function once(options: Partial<CheckpointerOptions>): Promise<{ checkpoint: number; restore: number; bytes: number }> {
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'ckpt-bench-enc-'));
  try {
    const w = new Checkpointer({ store: dir, ...options });
    w.register({ id: 'sim', snapshot: () => state, restore: () => undefined });
    collect();
    await settle();
    const t = performance.now();
    const info = await w.checkpoint();
    const checkpoint = performance.now() - t;
    await w.close();
    return { checkpoint, restore: await restoreMs(dir, options), bytes: info.bytes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A full image, 1 % of the temperature changed, then the incremental image: its checkpoint and restore times. */
async function onceIncremental(options: Partial<CheckpointerOptions>): Promise<{ checkpoint: number; restore: number; written: number }> {
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'ckpt-bench-enc-'));
  const t0 = state.temperature;
  const run = Math.floor(t0.length / 100);
  const saved = t0.slice(0, run);
  try {
    const w = new Checkpointer({ store: dir, incremental: true, ...options });
    w.register({ id: 'sim', snapshot: () => state, restore: () => undefined });
    await w.checkpoint();
    for (let i = 0; i < run; i++) t0[i]! += 0.5;
    collect();
    await settle();
    const t = performance.now();
    const info = await w.checkpoint();
    const checkpoint = performance.now() - t;
    await w.close();
    if (info.kind !== 'incremental') throw new Error(`expected an incremental image, got ${info.kind}`);
    return { checkpoint, restore: await restoreMs(dir, options), written: info.bytesWritten };
  } finally {
    t0.set(saved);
    await rm(dir, { recursive: true, force: true });
  }
}

log(`encryption bench: ${fmt(simBytes(state) / MiB)} MiB typed state, ${reps} repetition(s); ${machine()}`);
const samples = new Map<string, { checkpoint: number[]; restore: number[]; bytes: number }>();
for (const v of variants) samples.set(v.name, { checkpoint: [], restore: [], bytes: 0 });
for (let i = 0; i < reps; i++) {
  for (const v of i % 2 === 0 ? variants : [...variants].reverse()) {
    const r = await once(v.options);
    const s = samples.get(v.name)!;
    s.checkpoint.push(r.checkpoint);
    s.restore.push(r.restore);
    s.bytes = r.bytes;
    log(`  ${v.name}: checkpoint ${fmt(r.checkpoint)} ms, restore ${fmt(r.restore)} ms`);
  }
}
const p = samples.get('plaintext')!;
const e = samples.get('encrypted')!;
const row = (what: string, a: number[], b: number[]): string => `| ${what} | ${fmt(median(a))} ms | ${fmt(median(b))} ms | ${(median(b) / median(a)).toFixed(2)}× |`;
console.log(`| ${fmt(simBytes(state) / MiB)} MiB typed state | plaintext | encrypted | ratio |`);
console.log('| --- | ---: | ---: | ---: |');
console.log(row('durable checkpoint', p.checkpoint, e.checkpoint));
console.log(row('restore', p.restore, e.restore));
console.log(`| image size | ${fmt(p.bytes / MiB, 1)} MiB | ${fmt(e.bytes / MiB, 1)} MiB | ${(e.bytes / p.bytes).toFixed(3)}× |`);

const incr = new Map<string, { checkpoint: number[]; restore: number[]; written: number }>();
for (const v of variants) incr.set(v.name, { checkpoint: [], restore: [], written: 0 });
for (let i = 0; i < reps; i++) {
  for (const v of i % 2 === 0 ? variants : [...variants].reverse()) {
    const r = await onceIncremental(v.options);
    const s = incr.get(v.name)!;
    s.checkpoint.push(r.checkpoint);
    s.restore.push(r.restore);
    s.written = r.written;
    log(`  ${v.name} incremental: checkpoint ${fmt(r.checkpoint)} ms, restore ${fmt(r.restore)} ms`);
  }
}
const pi = incr.get('plaintext')!;
const ei = incr.get('encrypted')!;
console.log('');
console.log(`| incremental, 1 % changed | plaintext (format 3) | encrypted (format 5) | ratio |`);
console.log('| --- | ---: | ---: | ---: |');
console.log(row('durable checkpoint', pi.checkpoint, ei.checkpoint));
console.log(row('restore', pi.restore, ei.restore));
console.log(`| bytes written | ${fmt(pi.written / MiB, 1)} MiB | ${fmt(ei.written / MiB, 1)} MiB | ${(ei.written / pi.written).toFixed(3)}× |`);
