/**
 * @module cli/value-diff
 *
 * The first differing paths between two decoded states, for `ckpt diff`.
 * Walks both graphs together (following shared references and cycles once),
 * compares typed arrays element by element (reporting the first differing
 * element and how many differ), maps by key, sets by member, class instances
 * by class name and fields, and stops after `limit` differences. The walk
 * is iterative (see `walk.ts`): depth costs heap, not stack. Texts are
 * exact (for `--json`); the human printer escapes them for the terminal.
 */
import {
  bigintText,
  bytesOf,
  childPath,
  classNameOf,
  kindOf,
  numberText,
  showPath,
  typedName,
  type AnyTypedArray,
} from './values.js';
import { descend, runWalk, type WalkStep } from './walk.js';

/** One difference. */
export interface ValueDifference {
  /** Where (`grid[12]`, `config.rate`, `(root)`). */
  readonly path: string;
  /** Short text of the value in A (`(absent)` when missing). */
  readonly a: string;
  /** Short text of the value in B. */
  readonly b: string;
  /** Extra facts (`1023 of 262144 elements differ`). */
  readonly note?: string;
}

/** The outcome of {@link diffValues}. */
export interface ValueDiff {
  /** The first differences found, at most `limit`. */
  readonly differences: readonly ValueDifference[];
  /** True when there were more than `limit`. */
  readonly truncated: boolean;
}

const ABSENT = '(absent)';

/** A short one-line description of a value. */
export function shortText(v: unknown): string {
  const kind = kindOf(v);
  switch (kind) {
    case 'undefined':
    case 'null':
    case 'boolean':
      return String(v);
    case 'number':
      return numberText(v as number);
    case 'bigint':
      return bigintText(v as bigint);
    case 'string': {
      const s = v as string;
      return s.length > 40 ? `${JSON.stringify(s.slice(0, 40)).slice(0, -1)}…" (${s.length} chars)` : JSON.stringify(s);
    }
    case 'array':
      return `Array(${(v as unknown[]).length})`;
    case 'map':
      return `Map(${(v as Map<unknown, unknown>).size})`;
    case 'set':
      return `Set(${(v as Set<unknown>).size})`;
    case 'date': {
      const t = (v as Date).getTime();
      return `Date(${Number.isNaN(t) ? 'Invalid' : (v as Date).toISOString()})`;
    }
    case 'regexp':
      return `/${(v as RegExp).source}/${(v as RegExp).flags}`;
    case 'typedarray':
      return `${typedName(v as AnyTypedArray)}(${(v as AnyTypedArray).length})`;
    case 'buffer':
      return `Buffer(${(v as Buffer).length})`;
    case 'arraybuffer':
      return `ArrayBuffer(${(v as ArrayBuffer).byteLength})`;
    case 'dataview':
      return `DataView(${(v as DataView).byteLength})`;
    case 'class':
      return `${classNameOf(v as object)} {…}`;
    case 'object':
      return Object.keys(v as object).length === 0 ? '{}' : '{…}';
    default:
      return `<${typeof v}>`;
  }
}

function isPrimitiveKey(k: unknown): k is string | number | boolean | bigint | null | undefined {
  return typeof k !== 'object' || k === null;
}

/** Compare `a` and `b`; report up to `limit` differing paths. */
export function diffValues(a: unknown, b: unknown, limit = 10): ValueDiff {
  const out: ValueDifference[] = [];
  let truncated = false;
  const visited = new Map<object, Set<object>>();

  const report = (d: ValueDifference): void => {
    if (out.length < limit) out.push(d);
    else truncated = true;
  };
  const full = (): boolean => {
    if (out.length >= limit) {
      truncated = true;
      return true;
    }
    return false;
  };

  function* walk(x: unknown, y: unknown, path: string): WalkStep<void> {
    if (full()) return;
    if (Object.is(x, y)) return;
    const kx = kindOf(x);
    const ky = kindOf(y);
    if (kx !== ky || typeof x !== 'object' || x === null || typeof y !== 'object' || y === null) {
      report({ path: showPath(path), a: shortText(x), b: shortText(y) });
      return;
    }
    // Graph walk: each pair of objects once (shared references, cycles).
    let seen = visited.get(x);
    if (seen === undefined) visited.set(x, (seen = new Set()));
    if (seen.has(y)) return;
    seen.add(y);
    switch (kx) {
      case 'date':
        if (!Object.is((x as Date).getTime(), (y as Date).getTime())) report({ path: showPath(path), a: shortText(x), b: shortText(y) });
        return;
      case 'regexp':
        if ((x as RegExp).source !== (y as RegExp).source || (x as RegExp).flags !== (y as RegExp).flags) report({ path: showPath(path), a: shortText(x), b: shortText(y) });
        return;
      case 'typedarray':
        return typed(x as AnyTypedArray, y as AnyTypedArray, path);
      case 'buffer':
      case 'arraybuffer':
      case 'dataview':
        return bytes(bytesOf(x as ArrayBuffer | ArrayBufferView), bytesOf(y as ArrayBuffer | ArrayBufferView), path, shortText(x), shortText(y));
      case 'array': {
        const xa = x as unknown[];
        const ya = y as unknown[];
        const n = Math.max(xa.length, ya.length);
        if (xa.length !== ya.length) report({ path: showPath(path), a: shortText(x), b: shortText(y), note: 'lengths differ' });
        for (let i = 0; i < n && !full(); i++) {
          const p = childPath(path, i);
          const hx = i in xa;
          const hy = i in ya;
          if (!hx || !hy) {
            if (hx !== hy) report({ path: p, a: i >= xa.length ? ABSENT : hx ? shortText(xa[i]) : '<hole>', b: i >= ya.length ? ABSENT : hy ? shortText(ya[i]) : '<hole>' });
            continue;
          }
          yield* descend(walk(xa[i], ya[i], p));
        }
        return;
      }
      case 'map': {
        const xm = x as Map<unknown, unknown>;
        const ym = y as Map<unknown, unknown>;
        const keysPrimitive = [...xm.keys(), ...ym.keys()].every(isPrimitiveKey);
        if (keysPrimitive) {
          for (const k of new Set([...xm.keys(), ...ym.keys()])) {
            if (full()) return;
            const p = `${path}.get(${typeof k === 'string' ? JSON.stringify(k) : shortText(k)})`;
            if (!xm.has(k) || !ym.has(k)) report({ path: p, a: xm.has(k) ? shortText(xm.get(k)) : ABSENT, b: ym.has(k) ? shortText(ym.get(k)) : ABSENT });
            else yield* descend(walk(xm.get(k), ym.get(k), p));
          }
          return;
        }
        const xe = [...xm];
        const ye = [...ym];
        if (xe.length !== ye.length) report({ path: showPath(path), a: shortText(x), b: shortText(y), note: 'sizes differ' });
        for (let i = 0; i < Math.min(xe.length, ye.length) && !full(); i++) {
          yield* descend(walk(xe[i]![0], ye[i]![0], `${path}.<key ${i}>`));
          yield* descend(walk(xe[i]![1], ye[i]![1], `${path}.<entry ${i}>`));
        }
        return;
      }
      case 'set': {
        const xs = x as Set<unknown>;
        const ys = y as Set<unknown>;
        if ([...xs, ...ys].every(isPrimitiveKey)) {
          const removed = [...xs].filter((m) => !ys.has(m));
          const added = [...ys].filter((m) => !xs.has(m));
          if (removed.length + added.length > 0) {
            const list = (l: unknown[]): string => (l.length === 0 ? 'none' : l.slice(0, 5).map(shortText).join(', ') + (l.length > 5 ? ', …' : ''));
            report({ path: showPath(path), a: shortText(x), b: shortText(y), note: `removed: ${list(removed)}; added: ${list(added)}` });
          }
          return;
        }
        const xl = [...xs];
        const yl = [...ys];
        if (xl.length !== yl.length) report({ path: showPath(path), a: shortText(x), b: shortText(y), note: 'sizes differ' });
        for (let i = 0; i < Math.min(xl.length, yl.length) && !full(); i++) yield* descend(walk(xl[i], yl[i], `${path}.<member ${i}>`));
        return;
      }
      default: {
        if (kx === 'class' && classNameOf(x) !== classNameOf(y)) {
          report({ path: showPath(path), a: shortText(x), b: shortText(y), note: 'classes differ' });
          return;
        }
        const xr = x as Record<string, unknown>;
        const yr = y as Record<string, unknown>;
        const keys = new Set([...Object.keys(xr), ...Object.keys(yr)]);
        for (const k of keys) {
          if (full()) return;
          const p = childPath(path, k);
          const hx = Object.prototype.hasOwnProperty.call(xr, k);
          const hy = Object.prototype.hasOwnProperty.call(yr, k);
          if (!hx || !hy) report({ path: p, a: hx ? shortText(xr[k]) : ABSENT, b: hy ? shortText(yr[k]) : ABSENT });
          else yield* descend(walk(xr[k], yr[k], p));
        }
      }
    }
  }

  const typed = (x: AnyTypedArray, y: AnyTypedArray, path: string): void => {
    if (typedName(x) !== typedName(y)) {
      report({ path: showPath(path), a: shortText(x), b: shortText(y), note: 'element types differ' });
      return;
    }
    const n = Math.min(x.length, y.length);
    let count = 0;
    let first = -1;
    for (let i = 0; i < n; i++) {
      if (!Object.is(x[i], y[i])) {
        if (first === -1) first = i;
        count++;
      }
    }
    const el = (v: number | bigint | undefined): string => (v === undefined ? ABSENT : typeof v === 'bigint' ? `${v}n` : numberText(v));
    if (x.length !== y.length) {
      report({ path: showPath(path), a: shortText(x), b: shortText(y), note: `lengths differ${count > 0 ? `; ${count} of the first ${n} elements differ, first at [${first}]` : ''}` });
      return;
    }
    if (count > 0) report({ path: childPath(path, first), a: el(x[first]), b: el(y[first]), note: `${count} of ${n} elements of ${showPath(path)} differ` });
  };

  const bytes = (x: Uint8Array, y: Uint8Array, path: string, tx: string, ty: string): void => {
    const n = Math.min(x.length, y.length);
    let count = 0;
    let first = -1;
    for (let i = 0; i < n; i++) {
      if (x[i] !== y[i]) {
        if (first === -1) first = i;
        count++;
      }
    }
    if (x.length !== y.length) report({ path: showPath(path), a: tx, b: ty, note: 'lengths differ' });
    else if (count > 0) report({ path: `${showPath(path)}<byte ${first}>`, a: `0x${x[first]!.toString(16).padStart(2, '0')}`, b: `0x${y[first]!.toString(16).padStart(2, '0')}`, note: `${count} of ${n} bytes differ` });
  };

  runWalk(walk(a, b, ''));
  return { differences: out, truncated };
}
