/**
 * The states the benchmarks checkpoint: a simulation's typed arrays
 * (realistic numbers: smooth fields with noise, quantized values, integer
 * topology — neither constant nor random) and an object graph of small records.
 */

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

/** A grid simulation's fields. */
export interface SimState {
  step: number;
  /** K, smooth with sensor-like noise in the low bits: compresses barely. */
  temperature: Float64Array;
  /** Pa, smooth, quantized to 0.01 Pa: compresses a little. */
  pressure: Float64Array;
  /** m/s, a smooth wave: compresses a little. */
  velocity: Float64Array;
  /** Index of each cell's east neighbour (grid topology with a few holes). */
  neighbour: Int32Array;
  /** Material id per cell, in long runs. */
  material: Int32Array;
}

/**
 * About `bytes` of simulation state: three Float64Arrays of bytes/4 each and
 * two Int32Arrays of bytes/8 each (so 1 GiB = 3 × 256 MiB + 2 × 128 MiB).
 */
export function simState(bytes: number): SimState {
  const n = Math.floor(bytes / 32); // elements per Float64Array (8 bytes × n = bytes/4)
  const width = 4096;
  const rnd = noise(0x9e3779b9);
  const temperature = new Float64Array(n);
  const pressure = new Float64Array(n);
  const velocity = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = i % width;
    const y = (i / width) | 0;
    temperature[i] = 300 + 20 * Math.sin(x * 1e-3) * Math.cos(y * 7e-4) + (rnd() - 0.5) * 0.05;
    pressure[i] = Math.round((101325 + 800 * Math.sin((x + y) * 2e-3)) * 100) / 100;
    velocity[i] = 3 * Math.sin(x * 5e-3 + y * 1e-3);
  }
  const m = Math.floor(bytes / 32); // Int32Array elements (4 bytes × m = bytes/8)
  const neighbour = new Int32Array(m);
  const material = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    const x = i % width;
    neighbour[i] = x === width - 1 || i % 1009 === 0 ? -1 : i + 1;
    material[i] = ((i / 65536) | 0) % 7 === 3 ? 2 : (i >>> 20) & 3;
  }
  return { step: 0, temperature, pressure, velocity, neighbour, material };
}

/** Bytes of typed-array data in a {@link SimState}. */
export function simBytes(s: SimState): number {
  return s.temperature.byteLength + s.pressure.byteLength + s.velocity.byteLength + s.neighbour.byteLength + s.material.byteLength;
}

/** One small record of the object-graph scenario. */
export interface Rec {
  id: number;
  name: string;
  kind: string;
  score: number;
  active: boolean;
  pos: number[];
  tags: string[];
  history: number[];
  /** On every 10th record. */
  attrs?: Map<string, string | number>;
}

const KINDS = ['sensor', 'actuator', 'gateway', 'relay', 'probe'];
const TAGS = ['north', 'south', 'east', 'west', 'hot', 'cold', 'new', 'old'];

/** `n` records of strings, numbers, nested arrays, and a Map on every 10th. */
export function records(n: number): Rec[] {
  const rnd = noise(12345);
  const out: Rec[] = [];
  for (let i = 0; i < n; i++) {
    const r: Rec = {
      id: i,
      name: `device-${i.toString(36)}`,
      kind: KINDS[i % KINDS.length]!,
      score: Math.round(rnd() * 1e6) / 1e3,
      active: i % 3 !== 0,
      pos: [Math.round(rnd() * 1e4) / 100, Math.round(rnd() * 1e4) / 100, i % 50],
      tags: [TAGS[i % 8]!, TAGS[(i >> 3) % 8]!],
      history: [i % 100, (i * 7) % 100, (i * 13) % 100, (i * 31) % 100],
    };
    if (i % 10 === 0) r.attrs = new Map<string, string | number>([['firmware', `1.${i % 20}.3`], ['rssi', -40 - (i % 50)], ['zone', `z${i % 97}`]]);
    out.push(r);
  }
  return out;
}
