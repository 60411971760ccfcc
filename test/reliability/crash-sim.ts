// The deterministic program of the crash-consistency suite: a field of
// numbers relaxed step by step, a bounded log of records and a Map of
// statistics. The child program (crash-child.ts) runs it under ckpt.loop();
// the harness runs it uninterrupted in-process to know the expected state
// (its hash) at every step.
import { createHash } from 'node:crypto';

/** Raw state of the simulation, as its providers save it. */
export interface SimState {
  step: number;
  field: Float64Array;
  log: { step: number; v: number; tag: string }[];
  stats: Map<string, number>;
}

/**
 * How a step changes the field: `dense` relaxes every element (every segment
 * changes); `sparse` changes a clustered window and, every third step,
 * scattered elements — the changes an incremental checkpoint saves on.
 */
export type SimMode = 'dense' | 'sparse';

export class Sim {
  state: SimState;

  constructor(
    readonly size: number,
    readonly mode: SimMode = 'dense',
  ) {
    this.state = {
      step: 0,
      field: new Float64Array(size).map((_, i) => Math.cos(i / 7)),
      log: [],
      stats: new Map([
        ['sum', 0],
        ['max', -Infinity],
      ]),
    };
  }

  /** One step: the state after it is "step + 1 steps done". */
  advance(): void {
    const s = this.state;
    const f = s.field;
    if (this.mode === 'dense') {
      for (let i = 1; i < f.length; i++) f[i] = f[i]! * 0.998 + f[i - 1]! * 0.002 + s.step * 1e-9;
    } else {
      const len = Math.max(1, Math.floor(f.length / 100));
      const start = (s.step * 7919) % (f.length - len);
      for (let i = start; i < start + len; i++) f[i] = f[i]! * 0.998 + s.step * 1e-6;
      if (s.step % 3 === 0) for (let i = s.step % 97; i < f.length; i += 97) f[i] = f[i]! + 1e-3;
    }
    const v = f[(s.step * 7919) % f.length]!;
    s.log.push({ step: s.step, v, tag: `t${s.step % 13}` });
    if (s.log.length > 64) s.log.shift();
    s.stats.set('sum', s.stats.get('sum')! + v);
    s.stats.set('max', Math.max(s.stats.get('max')!, v));
    s.step++;
  }

  hash(): string {
    const s = this.state;
    const h = createHash('sha256');
    h.update(new Uint8Array(s.field.buffer, s.field.byteOffset, s.field.byteLength));
    h.update(JSON.stringify({ step: s.step, log: s.log, stats: [...s.stats] }));
    return h.digest('hex').slice(0, 32);
  }
}

/** Hash of the uninterrupted run after every step 0..steps. */
export function referenceHashes(size: number, steps: number, mode: SimMode = 'dense'): string[] {
  const sim = new Sim(size, mode);
  const out = [sim.hash()];
  for (let i = 0; i < steps; i++) {
    sim.advance();
    out.push(sim.hash());
  }
  return out;
}
