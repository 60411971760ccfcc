/**
 * Property test of retention over references. A seeded PRNG (so a failure
 * can be replayed from its seed) draws chains of images whose references
 * are built the way an incremental writer builds them — each segment either
 * written again or referred to in the image that holds its bytes
 * (flattened), with a full image now and then — plus random policies,
 * random images whose references cannot be read, and random kills between
 * two deletes of a sweep. After every (possibly killed) sweep:
 *
 * - nothing a kept or pinned image refers to was deleted,
 * - every listed image's references are listed (so it is restorable),
 * - the deletions that happened are a newest-first prefix of the plan.
 *
 * The number of runs comes from CKPT_RETENTION_RUNS (short by default; the
 * `soak:retention` script runs many), the first seed from CKPT_RETENTION_SEED.
 */
import { describe, expect, it } from 'vitest';
import { Checkpointer, ErrorCodes, CkptError, MemoryStore, keepEverySteps, keepLabelled, keepLast, type CkptWarning, type ImageInfo, type RetentionPolicy, type WriterLock } from '../../src/index.js';
import { planRetention } from '../../src/retention/plan.js';
import { injectRefs } from '../helpers/inject-refs.js';

const RUNS = Number(process.env['CKPT_RETENTION_RUNS'] ?? 150);
const SEED = Number(process.env['CKPT_RETENTION_SEED'] ?? 20261205);
/** Long runs need more than the default per-test timeout (about 30 ms per run on a busy machine, with margin). */
const TIMEOUT = Math.max(60_000, RUNS * 200);

/** mulberry32: small, seeded, good enough to draw test cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const id = (n: number): string => String(n).padStart(12, '0');

/** Draws from one PRNG. */
class Draw {
  constructor(readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/**
 * A writer's chain: `segments` segments; each new image rewrites each
 * segment with probability `dirty` and refers to its current holder
 * otherwise; every `fullEvery`-th image (and the first) is full.
 */
class Chain {
  readonly #holder: number[];
  #count = 0;
  constructor(
    readonly segments: number,
    readonly dirty: number,
    readonly fullEvery: number,
  ) {
    this.#holder = new Array<number>(segments).fill(0);
  }
  /** The references of the next image, `n` (ids are numbers here). */
  next(d: Draw, n: number): number[] {
    const full = this.#count % this.fullEvery === 0;
    this.#count++;
    const refs = new Set<number>();
    for (let s = 0; s < this.segments; s++) {
      if (full || d.chance(this.dirty)) this.#holder[s] = n;
      else refs.add(this.#holder[s]!);
    }
    refs.delete(n);
    return [...refs].sort((a, b) => b - a);
  }
}

function randomPolicies(d: Draw): RetentionPolicy[] {
  const out: RetentionPolicy[] = [keepLast(d.int(1, 4))];
  if (d.chance(0.3)) out.push(keepEverySteps(d.int(2, 6)));
  if (d.chance(0.3)) out.push(keepLabelled());
  return out;
}

/** A memory store that dies after `deletesLeft` deletes: retention stops there, like a kill. */
class DyingStore extends MemoryStore {
  deletesLeft = Infinity;
  override async delete(lock: WriterLock, x: string): Promise<void> {
    if (this.deletesLeft <= 0) throw new CkptError(ErrorCodes.STORE_IO, 'the disk went away');
    this.deletesLeft--;
    await super.delete(lock, x);
  }
}

function info(n: number, label: string | null): ImageInfo {
  return { id: id(n), step: n, label, createdAt: new Date(n * 1000), bytes: 1, app: null, formatVersion: 3, library: '0', node: 'v22', hostname: null, meta: {}, providers: [] };
}

describe('retention over references: random chains, policies and kills', () => {
  it(`plan + sweep: nothing referenced by a kept image is ever deleted (${RUNS} runs from seed ${SEED})`, async () => {
    let sweeps = 0;
    let killed = 0;
    let pinnedSeen = 0;
    for (let run = 0; run < RUNS; run++) {
      const seed = SEED + run;
      const d = new Draw(prng(seed));
      const chain = new Chain(d.int(1, 8), d.next() * 0.6, d.int(1, 10));
      const policies = randomPolicies(d);
      const refs = new Map<number, number[]>();
      const labels = new Map<number, string | null>();
      const listed = new Set<number>();
      const images = d.int(2, 40);
      for (let n = 1; n <= images; n++) {
        refs.set(n, chain.next(d, n));
        labels.set(n, d.chance(0.1) ? `l${n}` : null);
        listed.add(n);
        // Some images cannot be read this time (their references are unknown).
        const unreadable = [...listed].filter(() => d.chance(0.03));
        const infos = [...listed].filter((x) => !unreadable.includes(x)).sort((a, b) => b - a).map((x) => info(x, labels.get(x) ?? null));
        const failRefs = new Set([...listed].filter(() => d.chance(0.03)));
        const plan = await planRetention(infos, policies, (x) => (failRefs.has(Number(x)) ? undefined : refs.get(Number(x))!.map(id)), { unreadable: unreadable.map(id) });
        sweeps++;
        pinnedSeen += plan.pinned.length;
        const live = new Set(plan.decisions.filter((x) => x.action !== 'delete').map((x) => Number(x.id)));
        // A kill lets only a prefix of the deletes through.
        const allowed = d.chance(0.3) ? d.int(0, plan.deleteOrder.length) : plan.deleteOrder.length;
        if (allowed < plan.deleteOrder.length) killed++;
        for (const x of plan.deleteOrder.slice(0, allowed)) listed.delete(Number(x));
        const where = `seed ${seed}, image ${n}`;
        expect(listed.has(n), `${where}: the newest image was deleted`).toBe(true);
        for (const x of live) {
          expect(listed.has(x), `${where}: live image ${x} deleted`).toBe(true);
          for (const r of refs.get(x)!) expect(listed.has(r), `${where}: ${r}, referred to by live ${x}, deleted`).toBe(true);
        }
        // Whatever is still listed (even an image the plan meant to delete) is restorable.
        for (const x of listed) for (const r of refs.get(x)!) expect(listed.has(r), `${where}: listed ${x} refers to deleted ${r}`).toBe(true);
      }
    }
    // The runs really exercised pins and kills (so the checks above could fail).
    expect(sweeps).toBeGreaterThan(RUNS);
    expect(pinnedSeen).toBeGreaterThan(0);
    expect(killed).toBeGreaterThan(0);
  }, TIMEOUT);

  it('through a Checkpointer: a sweep cut short by a failing delete never leaves a dangling reference', async () => {
    const runs = Math.max(3, Math.ceil(RUNS / 15));
    let cut = 0;
    for (let run = 0; run < runs; run++) {
      const seed = SEED + 100_000 + run;
      const d = new Draw(prng(seed));
      const chain = new Chain(d.int(1, 6), d.next() * 0.5, d.int(2, 8));
      const refs = new Map<string, string[]>();
      const undo = injectRefs(refs);
      try {
        const store = new DyingStore();
        const warnings: CkptWarning[] = [];
        const ckpt = new Checkpointer({ store, retention: { keepLast: d.int(1, 3) }, signals: false });
        ckpt.on('warning', (w) => warnings.push(w));
        ckpt.register({ id: 'p', snapshot: (ctx) => ctx.step, restore: () => undefined });
        const count = d.int(3, 20);
        for (let n = 1; n <= count; n++) {
          refs.set(id(n), chain.next(d, n).map(id));
          store.deletesLeft = d.chance(0.4) ? d.int(0, 2) : Infinity;
          const committed = await ckpt.checkpoint({ step: n });
          expect(committed.id, `seed ${seed}: ids are sequential`).toBe(id(n));
          const ids = new Set((await store.list()).map((e) => e.id));
          for (const x of ids) for (const r of refs.get(x)!) expect(ids.has(r), `seed ${seed}: ${x} refers to deleted ${r}`).toBe(true);
        }
        cut += warnings.filter((w) => w.code === 'CKPT_WARN_RETENTION_FAILED').length;
        await ckpt.close();
      } finally {
        undo();
      }
    }
    expect(cut).toBeGreaterThan(0);
  }, TIMEOUT);
});
