// The CLI's small parts, in process: colour rules, the progress bar, value
// rendering, path diffs and export tagging.
import { describe, expect, it } from 'vitest';
import { colorEnabled, formatBytes, Output, table, type TextStream } from '../../src/cli/output.js';
import { createProgress, renderBar } from '../../src/cli/progress.js';
import { diffValues } from '../../src/cli/value-diff.js';
import { jsonChunks, toMsgpackTree } from '../../src/cli/value-export.js';
import { renderValue } from '../../src/cli/value-view.js';

function sink(isTTY: boolean, columns = 60): TextStream & { text: string } {
  const s = {
    text: '',
    isTTY,
    columns,
    write(chunk: string | Uint8Array): boolean {
      s.text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    },
  };
  return s;
}

describe('colour and streams', () => {
  it('colour only on a terminal; NO_COLOR wins; FORCE_COLOR forces; --no-color disables', () => {
    expect(colorEnabled(sink(true), {})).toBe(true);
    expect(colorEnabled(sink(false), {})).toBe(false);
    expect(colorEnabled(sink(true), { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled(sink(true), { NO_COLOR: '' })).toBe(true);
    expect(colorEnabled(sink(true), { TERM: 'dumb' })).toBe(false);
    expect(colorEnabled(sink(false), { FORCE_COLOR: '1' })).toBe(true);
    expect(colorEnabled(sink(false), { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled(sink(true), {}, false)).toBe(false);
  });

  it('human text goes to stdout, JSON only under --json, progress only on a terminal stderr', () => {
    const io = { stdout: sink(false), stderr: sink(false), env: {}, cwd: '/' };
    const human = new Output(io, {});
    human.print('hello');
    human.data({ a: 1 });
    expect(io.stdout.text).toBe('hello\n');
    expect(human.progress).toBe(false);
    const machine = new Output({ ...io, stdout: sink(false) }, { json: true });
    machine.print('hidden');
    machine.data({ a: 1n });
    expect((machine.io.stdout as TextStream & { text: string }).text).toBe('{\n  "a": "1"\n}\n');
    expect(new Output({ ...io, stderr: sink(true) }, {}).progress).toBe(true);
    expect(new Output({ ...io, stderr: sink(true) }, { progress: false }).progress).toBe(false);
  });

  it('sizes and tables', () => {
    expect([0, 1023, 1024, 1536, 4 * 1024 * 1024, 1.5 * 2 ** 30].map(formatBytes)).toEqual(['0 B', '1023 B', '1 KiB', '1.50 KiB', '4 MiB', '1.50 GiB']);
    expect(table([['a', 'bb', 'c'], ['ccc', 'd', 'e']])).toEqual(['a    bb  c', 'ccc  d   e']);
  });
});

describe('progress bar', () => {
  it('draws on a terminal, throttles redraws, and erases itself', () => {
    let now = 0;
    const s = sink(true, 80);
    const p = createProgress(s, { enabled: true, label: 'verifying', total: 1000, now: () => now });
    expect(s.text).toContain('verifying [');
    p.add(100);
    const drawn = s.text.length;
    now = 50;
    p.add(100);
    expect(s.text.length).toBe(drawn);
    now = 200;
    p.add(300);
    expect(s.text).toContain(' 50% ');
    p.done();
    expect(s.text.endsWith('\r\u001b[2K')).toBe(true);
    p.done();
  });

  it('writes nothing when disabled', () => {
    const s = sink(false);
    const p = createProgress(s, { enabled: false, label: 'x', total: 10 });
    p.add(5);
    p.done();
    expect(s.text).toBe('');
  });

  it('renders a bar that fits the width', () => {
    const line = renderBar('converting', 512 * 1024, 1024 * 1024, 60);
    expect(line).toMatch(/^converting \[#+-+\] {2}50% 512 KiB \/ 1 MiB$/);
    expect(line.length).toBeLessThanOrEqual(60);
    expect(renderBar('reading', 2048, 0, 60)).toBe('reading 2 KiB');
  });
});

describe('renderValue', () => {
  it('cuts long arrays and strings unless full', () => {
    const v = { list: Array.from({ length: 150 }, (_, i) => i), s: 'y'.repeat(500) };
    const short = renderValue(v);
    expect(short).toContain('… 50 more items');
    expect(short).toContain('…" (500 chars)');
    const full = renderValue(v, { full: true });
    expect(full).toContain('149');
    expect(full).not.toContain('more items');
  });

  it('summarises typed arrays with min, max, NaN count and the first values', () => {
    const a = Float32Array.from({ length: 20 }, (_, i) => (i === 3 ? NaN : i - 5));
    expect(renderValue(a)).toBe('Float32Array(20) { min: -5, max: 14, NaN: 1, first: [-5, -4, -3, NaN, -1, 0, 1, 2, …] }');
    expect(renderValue(BigInt64Array.of(5n, -7n, 2n, 1n, 1n, 1n, 1n, 1n, 1n))).toContain('min: -7n, max: 5n');
  });
});

describe('diffValues', () => {
  it('finds the first differing paths in nested state', () => {
    const a = { cfg: { rate: 0.5, tags: ['a', 'b'] }, m: new Map([['k', 1]]), s: new Set([1, 2]), d: new Date(0) };
    const b = { cfg: { rate: 0.75, tags: ['a', 'c', 'd'] }, m: new Map([['k', 2], ['n', 3]]), s: new Set([2, 3]), d: new Date(1) };
    const d = diffValues(a, b, 20);
    expect(d.differences.map((x) => `${x.path}: ${x.a} → ${x.b}`)).toEqual([
      'cfg.rate: 0.5 → 0.75',
      'cfg.tags: Array(2) → Array(3)',
      'cfg.tags[1]: "b" → "c"',
      'cfg.tags[2]: (absent) → "d"',
      'm.get("k"): 1 → 2',
      'm.get("n"): (absent) → 3',
      's: Set(2) → Set(2)',
      'd: Date(1970-01-01T00:00:00.000Z) → Date(1970-01-01T00:00:00.001Z)',
    ]);
    expect(d.differences[6]!.note).toBe('removed: 1; added: 3');
  });

  it('typed arrays: the first differing element and how many differ; -0 and NaN are values', () => {
    const a = new Float64Array(1000);
    const b = new Float64Array(1000);
    b[10] = 1;
    b[20] = -0;
    expect(diffValues(a, b).differences).toEqual([{ path: '[10]', a: '0', b: '1', note: '2 of 1000 elements of (root) differ' }]);
    expect(diffValues([NaN], [NaN]).differences).toEqual([]);
  });

  it('follows cycles once and stops at the limit', () => {
    const a: Record<string, unknown> = { n: 1 };
    a['self'] = a;
    const b: Record<string, unknown> = { n: 2 };
    b['self'] = b;
    expect(diffValues(a, b).differences).toEqual([{ path: 'n', a: '1', b: '2' }]);
    const many = diffValues(Array.from({ length: 50 }, () => 0), Array.from({ length: 50 }, () => 1), 5);
    expect(many.differences).toHaveLength(5);
    expect(many.truncated).toBe(true);
  });
});

describe('export tagging', () => {
  it('wraps objects that use the tag keys, so they cannot be mistaken for tags', () => {
    const text = [...jsonChunks({ x: { $type: 'bigint', value: '1' } })].join('');
    expect(JSON.parse(text)).toEqual({ x: { $type: 'Object', value: { $type: 'bigint', value: '1' } } });
  });

  it('msgpack: objects as maps (a "__proto__" key stays a key), bytes as bytes', () => {
    const o: Record<string, unknown> = {};
    Object.defineProperty(o, '__proto__', { value: 1, enumerable: true });
    const tree = toMsgpackTree({ o, u: Uint16Array.of(1, 2) }) as Map<string, unknown>;
    expect((tree.get('o') as Map<string, unknown>).get('__proto__')).toBe(1);
    const u = tree.get('u') as Map<string, unknown>;
    expect(u.get('$type')).toBe('Uint16Array');
    expect(Array.from(u.get('bytes') as Uint8Array)).toEqual([1, 0, 2, 0]);
  });
});
