/**
 * @module cli/value-view
 *
 * Readable, JSON-ish text of a decoded provider state for `ckpt inspect
 * --provider`. Short structures stay on one line, long ones are indented;
 * typed arrays are summarised (class, length, min/max, first values) and
 * long arrays, maps, sets and strings are cut unless `full` is set.
 * Shared objects and cycles are printed once and referred to by path
 * (`<ref → particles[0]>`, `<cycle → cycle>`), never expanded twice.
 * Every walk is iterative (see `walk.ts`), so depth costs heap, not stack;
 * text from the image (strings, keys, class names) is escaped for the
 * terminal (see `escape.ts`) and huge BigInts are shown as truncated hex.
 */
import { escapeText } from './escape.js';
import {
  bigintText,
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
import { descend, runWalk, type WalkStep } from './walk.js';

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

function* flatStep(d: Doc): WalkStep<string> {
  if (typeof d === 'string') return d;
  if (d.flat !== undefined) return d.flat;
  const parts: string[] = [];
  for (const i of d.items) parts.push(i.prefix + (yield* descend(flatStep(i.doc))));
  const inner = parts.join(', ');
  d.flat = d.items.length === 0 ? `${d.open}${d.close}` : d.pad ? `${d.open} ${inner} ${d.close}` : `${d.open}${inner}${d.close}`;
  return d.flat;
}

/** The one-line text of a layout node (iterative). */
function flatOf(d: Doc): string {
  return typeof d === 'string' ? d : d.flat ?? runWalk(flatStep(d));
}

function* layoutStep(d: Doc, indent: number, width: number): WalkStep<string> {
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
    for (const it of d.items) lines.push(`${pad}${it.prefix}${yield* descend(layoutStep(it.doc, indent + 2, width))},`);
  }
  return `${d.open}\n${lines.join('\n')}\n${' '.repeat(indent)}${d.close}`;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function keyText(k: string): string {
  return IDENT.test(k) && k !== '__proto__' ? k : escapeText(JSON.stringify(k));
}

function stringText(s: string, max: number, full: boolean): string {
  if (full || s.length <= max) return escapeText(JSON.stringify(s));
  return `${escapeText(JSON.stringify(s.slice(0, max))).slice(0, -1)}…" (${s.length} chars)`;
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

  function* walk(v: unknown, path: string): WalkStep<Doc> {
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
        return bigintText(v as bigint);
      case 'string':
        return stringText(v as string, maxString, full);
      case 'other':
        return `<${typeof v}>`;
      default:
        break;
    }
    const obj = v as object;
    if (stack.has(obj)) return `<cycle → ${escapeText(showPath(seen.get(obj) ?? path))}>`;
    const first = seen.get(obj);
    if (first !== undefined) return `<ref → ${escapeText(showPath(first))}>`;
    seen.set(obj, path);
    stack.add(obj);
    try {
      return yield* walkObject(obj, kind, path);
    } finally {
      stack.delete(obj);
    }
  }

  function* walkObject(obj: object, kind: string, path: string): WalkStep<Doc> {
    switch (kind) {
      case 'date': {
        const t = (obj as Date).getTime();
        return `Date(${Number.isNaN(t) ? 'Invalid' : (obj as Date).toISOString()})`;
      }
      case 'regexp':
        return escapeText(`/${(obj as RegExp).source}/${(obj as RegExp).flags}`);
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
          items.push({ prefix: '', doc: yield* descend(walk(arr[i], childPath(path, i))) });
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
          const kp = typeof k === 'string' || typeof k === 'number' ? `${path}.get(${escapeText(JSON.stringify(k))})` : `${path}.<entry ${i}>`;
          const keyDoc = flatOf(yield* descend(walk(k, `${path}.<key ${i}>`)));
          items.push({ prefix: `${keyDoc} => `, doc: yield* descend(walk(val, kp)) });
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
          items.push({ prefix: '', doc: yield* descend(walk(x, `${path}.<member ${i}>`)) });
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
        const items: Item[] = [];
        for (const k of keys) items.push({ prefix: `${keyText(k)}: `, doc: yield* descend(walk(rec[k], childPath(path, k))) });
        const open = kind === 'class' ? `${escapeText(classNameOf(obj))} {` : isNullProto(obj) ? '[null prototype] {' : '{';
        return group(open, '}', items, { pad: true });
      }
    }
  }

  return runWalk(layoutStep(runWalk(walk(value, '')), 0, width));
}
