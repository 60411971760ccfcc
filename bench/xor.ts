/**
 * XOR of byte ranges, the work of XOR-delta segments (encode: current XOR
 * base; restore: each level of a chain): ckpt's WebAssembly SIMD kernel
 * (src/image/xor.ts) against the JavaScript word loop it replaced, over the
 * same 256 MiB cut into segments of 64 KiB, 1 MiB and 4 MiB, out of place
 * (encoding) and in place (decoding). Prints GB/s and the ratio; medians
 * over --reps (default 5), the two interleaved. --smoke: 16 MiB, 1 rep.
 *
 * Run: node --import tsx bench/xor.ts
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { XOR_KERNEL, xorBytes, xorLoop } from '../src/image/xor.js';
import { fmt, machine, median, MiB } from './lib/stats.js';

const { values } = parseArgs({ options: { smoke: { type: 'boolean', default: false }, reps: { type: 'string' } } });
const total = (values.smoke ? 16 : 256) * MiB;
const reps = Number(values.reps ?? (values.smoke ? 1 : 5));
const a = new Uint8Array(total).map((_, i) => (i * 7) & 0xff);
const b = new Uint8Array(total).map((_, i) => (i * 13 + 5) & 0xff);
const out = new Uint8Array(total);

function gbps(f: (x: Uint8Array, y: Uint8Array, o: Uint8Array) => void, seg: number, inPlace: boolean): number {
  const t = performance.now();
  for (let at = 0; at < total; at += seg) {
    const x = (inPlace ? out : a).subarray(at, at + seg);
    f(x, b.subarray(at, at + seg), inPlace ? x : out.subarray(at, at + seg));
  }
  return total / ((performance.now() - t) / 1000) / 1e9;
}

process.stderr.write(`xor bench: ${fmt(total / MiB)} MiB, ${reps} repetition(s), kernel ${XOR_KERNEL}; ${machine()}\n`);
console.log('| segment | mode | JS loop | kernel | ratio |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const seg of [64 * 1024, MiB, 4 * MiB]) {
  for (const inPlace of [false, true]) {
    const loop: number[] = [];
    const kernel: number[] = [];
    for (let r = 0; r < reps; r++) {
      for (const which of r % 2 === 0 ? ['loop', 'kernel'] : ['kernel', 'loop']) {
        if (which === 'loop') loop.push(gbps(xorLoop, seg, inPlace));
        else kernel.push(gbps(xorBytes, seg, inPlace));
      }
    }
    const l = median(loop);
    const k = median(kernel);
    console.log(`| ${seg >= MiB ? `${seg / MiB} MiB` : `${seg / 1024} KiB`} | ${inPlace ? 'in place' : 'out of place'} | ${l.toFixed(2)} GB/s | ${k.toFixed(2)} GB/s | ${(k / l).toFixed(2)}× |`);
  }
}
