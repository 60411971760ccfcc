/**
 * @module cli/value-view
 *
 * Readable, JSON-ish text of a decoded provider state for `ckpt inspect
 * --provider`. Short structures stay on one line, long ones are indented;
 * typed arrays are summarised (class, length, min/max, first values) and
 * long arrays, maps, sets and strings are cut unless `full` is set.
 * Shared objects and cycles are printed once and referred to by path
 * (`<ref → particles[0]>`, `<cycle → cycle>`), never expanded twice.
 */
import {
  bytesOf,
  childPath,
  classNameOf,
  hexText,
  isNullProto,
  kindOf,
  numberText,
  showPath,
  summarizeTyped,
  typedName,
  type AnyTypedArray,
} from './values.js';

/** Options of {@link renderValue}. */
export interface ViewOptions {
  /** Print everything: every element of typed and plain arrays, whole strings. */
  readonly full?: boolean;
  /** Elements of arrays/maps/sets shown before `… N more` (default 100). */
  readonly maxItems?: number;
  /** Characters of a string shown before it is cut (default 200). */
  readonly maxString?: number;
  /** Line width to fit (default 100). */
  readonly width?: number;
}

/** A layout node: an atom, or a bracketed group of items. */
type Doc = string | Group;

interface Group {
  readonly open: string;
  readonly close: string;
  readonly items: Item[];
  /** Pack items several per line when broken (numbers, bytes). */
  readonly fill: boolean;
  /** Spaces inside the brackets when flat (`{ a: 1 }` vs `[1]`). */
  readonly pad: boolean;
  flat?: string;
}

interface Item {
  readonly prefix: string;
  readonly doc: Doc;
}

function group(open: string, close: string, items: Item[], opts: { fill?: boolean; pad?: boolean } = {}): Group {
  return { open, close, items, fill: opts.fill ?? false, pad: opts.pad ?? false };
}

function flatOf(d: Doc): string {
  if (typeof d === 'string') return d;
  if (d.flat !== undefined) return d.flat;
  const inner = d.items.map((i) => i.prefix + flatOf(i.doc)).join(', ');
  d.flat = d.items.length === 0 ? `${d.open}${d.close}` : d.pad ? `${d.open} ${inner} ${d.close}` : `${d.open}${inner}${d.close}`;
  return d.flat;
}

function layout(d: Doc, indent: number, width: number): string {
  const flat = flatOf(d);
  if (typeof d === 'string' || indent + flat.length <= width) return flat;
  const pad = ' '.repeat(indent + 2);
  const lines: string[] = [];
  if (d.fill) {
    let line = '';
    for (const it of d.items) {
      const t = `${it.prefix}${flatOf(it.doc)},`;
      if (line !== '' && indent + 2 + line.length + 1 + t.length > width) {
        lines.push(pad + line);
        line = t;
      } else line = line === '' ? t : `${line} ${t}`;
    }
    if (line !== '') lines.push(pad + line);
  } else {
    for (const it of d.items) lines.push(`${pad}${it.prefix}${layout(it.doc, indent + 2, width)},`);
  }
  return `${d.open}\n${lines.join('\n')}\n${' '.repeat(indent)}${d.close}`;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function keyText(k: string): string {
  return IDENT.test(k) && k !== '__proto__' ? k : JSON.stringify(k);
}

function stringText(s: string, max: number, full: boolean): string {
  if (full || s.length <= max) return JSON.stringify(s);
  return `${JSON.stringify(s.slice(0, max)).slice(0, -1)}…" (${s.length} chars)`;
}

/** Render a decoded state as readable text. */
export function renderValue(value: unknown, options: ViewOptions = {}): string {
  const full = options.full === true;
  const maxItems = full ? Infinity : (options.maxItems ?? 100);
  const maxString = options.maxString ?? 200;
  const width = options.width ?? 100;
  const seen = new Map<object, string>();
  const stack = new Set<object>();

  const more = (n: number, what: string): Item => ({ prefix: '', doc: `… ${n} more ${what}` });

  const walk = (v: unknown, path: string): Doc => {
    const kind = kindOf(v);
    switch (kind) {
      case 'undefined':
        return 'undefined';
      case 'null':
        return 'null';
      case 'boolean':
        return String(v);
      case 'number':
        return numberText(v as number);
      case 'bigint':
        return `${(v as bigint).toString()}n`;
      case 'string':
        return stringText(v as string, maxString, full);
      case 'other':
        return `<${typeof v}>`;
      default:
        break;
    }
    const obj = v as object;
    if (stack.has(obj)) return `<cycle → ${showPath(seen.get(obj) ?? path)}>`;
    const first = seen.get(obj);
    if (first !== undefined) return `<ref → ${showPath(first)}>`;
    seen.set(obj, path);
    stack.add(obj);
    try {
      return walkObject(obj, kind, path);
    } finally {
      stack.delete(obj);
    }
  };

  const walkObject = (obj: object, kind: string, path: string): Doc => {
    switch (kind) {
      case 'date': {
        const t = (obj as Date).getTime();
        return `Date(${Number.isNaN(t) ? 'Invalid' : (obj as Date).toISOString()})`;
      }
      case 'regexp':
        return `/${(obj as RegExp).source}/${(obj as RegExp).flags}`;
      case 'array': {
        const arr = obj as unknown[];
        const items: Item[] = [];
        let holes = 0;
        const flushHoles = (): void => {
          if (holes > 0) items.push({ prefix: '', doc: holes === 1 ? '<hole>' : `<${holes} holes>` });
          holes = 0;
        };
        const n = Math.min(arr.length, maxItems);
        for (let i = 0; i < n; i++) {
          if (!(i in arr)) {
            holes++;
            continue;
          }
          flushHoles();
          items.push({ prefix: '', doc: walk(arr[i], childPath(path, i)) });
        }
        flushHoles();
        if (arr.length > n) items.push(more(arr.length - n, 'items'));
        const allAtoms = items.every((i) => typeof i.doc === 'string' && i.doc.length <= 24);
        return group('[', ']', items, { fill: allAtoms });
      }
      case 'map': {
        const m = obj as Map<unknown, unknown>;
        const items: Item[] = [];
        let i = 0;
        for (const [k, val] of m) {
          if (i >= maxItems) break;
          const kp = typeof k === 'string' || typeof k === 'number' ? `${path}.get(${JSON.stringify(k)})` : `${path}.<entry ${i}>`;
          const keyDoc = flatOf(walk(k, `${path}.<key ${i}>`));
          items.push({ prefix: `${keyDoc} => `, doc: walk(val, kp) });
          i++;
        }
        if (m.size > i) items.push(more(m.size - i, 'entries'));
        return group(`Map(${m.size}) {`, '}', items, { pad: true });
      }
      case 'set': {
        const s = obj as Set<unknown>;
        const items: Item[] = [];
        let i = 0;
        for (const x of s) {
          if (i >= maxItems) break;
          items.push({ prefix: '', doc: walk(x, `${path}.<member ${i}>`) });
          i++;
        }
        if (s.size > i) items.push(more(s.size - i, 'members'));
        return group(`Set(${s.size}) [`, ']', items);
      }
      case 'typedarray': {
        const arr = obj as AnyTypedArray;
        const name = typedName(arr);
        if (full || arr.length <= 8) {
          const items: Item[] = [];
          for (let i = 0; i < arr.length; i++) {
            const x = arr[i]!;
            items.push({ prefix: '', doc: typeof x === 'bigint' ? `${x}n` : numberText(x) });
          }
          return group(`${name}(${arr.length}) [`, ']', items, { fill: true });
        }
        const s = summarizeTyped(arr);
        const num = (x: number | bigint | null): string => (x === null ? '-' : typeof x === 'bigint' ? `${x}n` : numberText(x));
        return `${name}(${s.length}) { min: ${num(s.min)}, max: ${num(s.max)}${s.nan > 0 ? `, NaN: ${s.nan}` : ''}, first: [${s.first.map(num).join(', ')}, …] }`;
      }
      case 'buffer':
      case 'arraybuffer':
      case 'dataview': {
        const bytes = bytesOf(obj as ArrayBuffer | ArrayBufferView);
        const name = kind === 'buffer' ? 'Buffer' : kind === 'arraybuffer' ? 'ArrayBuffer' : 'DataView';
        return `${name}(${bytes.length}) <${hexText(bytes, full ? Infinity : 32)}>`;
      }
      default: {
        const keys = Object.keys(obj);
        const rec = obj as Record<string, unknown>;
        const items: Item[] = keys.map((k) => ({ prefix: `${keyText(k)}: `, doc: walk(rec[k], childPath(path, k)) }));
        const open = kind === 'class' ? `${classNameOf(obj)} {` : isNullProto(obj) ? '[null prototype] {' : '{';
        return group(open, '}', items, { pad: true });
      }
    }
  };

  return layout(walk(value, ''), 0, width);
}
