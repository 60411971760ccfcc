/**
 * Record shapes for the object-graph benchmarks (bench/object-shapes.ts):
 * the same number of records laid out the ways applications lay out state,
 * because what an encoder costs depends on the shape more than on the size.
 *
 *   mixed    the object-graph scenario's records (bench/lib/data.ts): strings,
 *            numbers, three small arrays, a Map on every 10th
 *   flat     wide flat objects: 24 fields of numbers, short strings, booleans
 *   deep     deep nesting: each record a chain of 8 small objects
 *   arrays   many small arrays: each record an array of 6 short number arrays
 *   strings  string-heavy: names, paths, sentences (some non-ASCII), few numbers
 *   maps     Map-heavy: each record a Map of 8 entries, one a nested Map
 *
 * Every generator is deterministic (a seeded xorshift stream), and every
 * shape has the conversion to and from JSON a user would write for it
 * (JSON has no Map).
 */
import { records } from './data.js';

/** A deterministic xorshift32 stream in [0, 1). */
function noise(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** One record shape: a generator and the JSON conversions a user would write for it. */
export interface Shape {
  readonly name: string;
  /** One line describing a record. */
  readonly what: string;
  /** `n` records. */
  make(n: number): unknown[];
  /** The state as JSON text (converting what JSON cannot hold). */
  toJson(state: unknown[]): string;
  /** The inverse of {@link toJson}. */
  fromJson(text: string): unknown[];
}

const plainJson = {
  toJson: (state: unknown[]): string => JSON.stringify(state),
  fromJson: (text: string): unknown[] => JSON.parse(text) as unknown[],
};

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'sensor', 'north', 'valve', 'pump', 'zone', 'line', 'état', 'größe', 'cold', 'warm', 'idle', 'busy'];
const UNITS = ['kg', 'm', 's', 'K', 'Pa', 'mol', 'A', 'cd'];

const mixed: Shape = {
  name: 'mixed',
  what: '8 fields: strings, numbers, a boolean, 3 small arrays; a 3-entry Map on every 10th',
  make: (n) => records(n),
  toJson: (state) => JSON.stringify(state.map((r) => ((r as { attrs?: Map<string, unknown> }).attrs === undefined ? r : { ...(r as object), attrs: [...(r as { attrs: Map<string, unknown> }).attrs] }))),
  fromJson: (text) => {
    const state = JSON.parse(text) as { attrs?: unknown }[];
    for (const r of state) if (r.attrs !== undefined) r.attrs = new Map(r.attrs as [string, unknown][]);
    return state;
  },
};

const flat: Shape = {
  name: 'flat',
  what: '24 fields: 12 numbers (integers and fractions), 8 short strings, 4 booleans',
  make: (n) => {
    const rnd = noise(7);
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) {
      out.push({
        id: i, seq: i * 3, x: Math.round(rnd() * 1e6) / 1e3, y: Math.round(rnd() * 1e6) / 1e3, z: Math.round(rnd() * 1e4) / 1e2,
        count: (rnd() * 1000) | 0, limit: 1000, rate: Math.round(rnd() * 1e4) / 1e4, min: -((rnd() * 100) | 0), max: (rnd() * 1e5) | 0,
        ts: 1_700_000_000_000 + i * 1000, version: i % 7,
        name: `item-${i.toString(36)}`, kind: WORDS[i % 16], unit: UNITS[i % 8], owner: `user${i % 997}`,
        region: WORDS[(i >> 4) % 16], status: i % 5 === 0 ? 'error' : 'ok', code: `C${(i % 4096).toString(16)}`, tag: WORDS[(i * 7) % 16],
        active: i % 3 !== 0, dirty: i % 11 === 0, locked: false, visible: true,
      });
    }
    return out;
  },
  ...plainJson,
};

const deep: Shape = {
  name: 'deep',
  what: 'a chain of 8 nested objects of 2–3 fields each',
  make: (n) => {
    const rnd = noise(11);
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) {
      let node: Record<string, unknown> = { leaf: i, v: Math.round(rnd() * 1e4) / 1e2 };
      for (let d = 7; d > 0; d--) node = { depth: d, name: WORDS[(i + d) % 16], child: node };
      out.push(node);
    }
    return out;
  },
  ...plainJson,
};

const arrays: Shape = {
  name: 'arrays',
  what: 'an array of 6 number arrays of 2–5 elements (integers and fractions)',
  make: (n) => {
    const rnd = noise(13);
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) {
      const rec: number[][] = [];
      for (let k = 0; k < 6; k++) {
        const len = 2 + ((i + k) % 4);
        const a: number[] = [];
        for (let j = 0; j < len; j++) a.push(k % 2 === 0 ? (i + j * 17) % 1000 : Math.round(rnd() * 1e5) / 1e2);
        rec.push(a);
      }
      out.push(rec);
    }
    return out;
  },
  ...plainJson,
};

const strings: Shape = {
  name: 'strings',
  what: '6 strings of 10–120 characters (paths, a sentence, some non-ASCII), 1 number',
  make: (n) => {
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) {
      const w = (k: number): string => WORDS[(i * 7 + k * 3) % 16]!;
      out.push({
        id: i,
        title: `${w(0)} ${w(1)} ${w(2)} #${i}`,
        path: `/var/data/${w(3)}/${w(4)}/${i.toString(36)}/${w(5)}.json`,
        text: `The ${w(6)} ${w(7)} reported ${(i % 1000).toString()} events in ${w(8)} ${w(9)}; next check after ${w(10)} ${w(11)}.`,
        email: `${w(12)}.${i.toString(36)}@example.org`,
        uuid: `${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}-${(i % 65536).toString(16).padStart(4, '0')}-4${(i % 4096).toString(16).padStart(3, '0')}-a000-${(i * 40503 >>> 0).toString(16).padStart(12, '0')}`,
        note: i % 4 === 0 ? `größe ${w(13)} – état ${w(14)} ✓` : w(15),
      });
    }
    return out;
  },
  ...plainJson,
};

/** JSON for Maps: every Map becomes its entry array, nested Maps included (the records are Maps). */
function mapsToJson(state: unknown[]): string {
  return JSON.stringify(state.map((m) => [...(m as Map<string, unknown>)].map(([k, v]) => (v instanceof Map ? [k, { $map: [...v] }] : [k, v]))));
}

function mapsFromJson(text: string): unknown[] {
  const state = JSON.parse(text) as [string, unknown][][];
  return state.map((entries) => new Map(entries.map(([k, v]) => (typeof v === 'object' && v !== null && '$map' in v ? [k, new Map((v as { $map: [unknown, unknown][] }).$map)] : [k, v]))));
}

const maps: Shape = {
  name: 'maps',
  what: 'a Map of 8 entries (strings, numbers) with one nested Map of 3',
  make: (n) => {
    const rnd = noise(17);
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) {
      out.push(
        new Map<string, unknown>([
          ['id', i],
          ['name', `node-${i.toString(36)}`],
          ['kind', WORDS[i % 16]],
          ['load', Math.round(rnd() * 1e4) / 1e4],
          ['peers', i % 50],
          ['zone', `z${i % 97}`],
          ['up', i % 7 !== 0],
          ['meta', new Map<string, unknown>([['rack', i % 40], ['row', WORDS[(i >> 2) % 16]], ['weight', Math.round(rnd() * 1e3) / 10]])],
        ]),
      );
    }
    return out;
  },
  toJson: mapsToJson,
  fromJson: mapsFromJson,
};

/** Every shape, in the order the benchmark reports them. */
export const SHAPES: readonly Shape[] = [mixed, flat, deep, arrays, strings, maps];

/** The shape named `name`; throws with the list of names when there is none. */
export function shapeByName(name: string): Shape {
  const s = SHAPES.find((x) => x.name === name);
  if (s === undefined) throw new Error(`unknown shape ${name}: one of ${SHAPES.map((x) => x.name).join(', ')}`);
  return s;
}
