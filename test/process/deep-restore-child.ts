// Child program for the deep-state test. `checkpoint` phase builds, for
// every container kind and both modes (tree, identity), a chain of DEPTH
// nested containers and checkpoints them all into DIR (one provider each);
// `restore` phase — a fresh process — restores the newest image and compares
// every provider's state with the chain it should be, level by level.
// An optional fourth argument (comma-separated kinds) limits the kinds.
// Prints one JSON line: { ok, results? | code?, message? }.
import { Checkpointer } from '../../src/index.js';

/** A registered class for the class-instance chain. */
class Link {
  next: unknown = null;
}

const [dir, phase, depthArg, only] = process.argv.slice(2);
const depth = Number(depthArg);
const KINDS = only?.split(',') ?? ['array', 'object', 'nullproto', 'mapvalue', 'mapkey', 'set', 'class', 'mixed'];

/** One container holding `inner`, of the kind for level `i` (mixed chains rotate through all kinds). */
function wrap(k: string, inner: unknown, i: number): unknown {
  switch (k) {
    case 'array':
      return [inner];
    case 'object':
      return { a: inner };
    case 'nullproto': {
      const o = Object.create(null) as Record<string, unknown>;
      o.a = inner;
      return o;
    }
    case 'mapvalue':
      return new Map([[1, inner]]);
    case 'mapkey':
      return new Map([[inner, 1]]);
    case 'set':
      return new Set([inner]);
    case 'class': {
      const l = new Link();
      l.next = inner;
      return l;
    }
    case 'mixed': {
      const kinds = ['array', 'object', 'nullproto', 'mapvalue', 'mapkey', 'set', 'class'];
      return wrap(kinds[i % kinds.length]!, inner, i);
    }
    default:
      throw new Error(`unknown kind ${k}`);
  }
}

/** The one member of a container of kind `k` (level `i`), or a description of what is wrong. */
function unwrap(k: string, v: unknown, i: number): { inner: unknown } | string {
  const at = `level ${String(i)}`;
  switch (k) {
    case 'array':
      return Array.isArray(v) && v.length === 1 && 0 in v ? { inner: v[0] } : `${at}: not a one-element array`;
    case 'object':
    case 'nullproto': {
      if (typeof v !== 'object' || v === null) return `${at}: not an object`;
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== (k === 'object' ? Object.prototype : null)) return `${at}: wrong prototype`;
      const keys = Object.keys(v);
      return keys.length === 1 && keys[0] === 'a' ? { inner: (v as Record<string, unknown>).a } : `${at}: keys ${keys.join()}`;
    }
    case 'mapvalue':
    case 'mapkey': {
      if (!(v instanceof Map) || v.size !== 1) return `${at}: not a one-entry Map`;
      const [[key, value]] = [...v.entries()] as [[unknown, unknown]];
      if (k === 'mapvalue') return key === 1 ? { inner: value } : `${at}: key ${String(key)}`;
      return value === 1 ? { inner: key } : `${at}: value ${String(value)}`;
    }
    case 'set':
      return v instanceof Set && v.size === 1 ? { inner: [...v][0] } : `${at}: not a one-item Set`;
    case 'class':
      return v instanceof Link && Object.keys(v).join() === 'next' ? { inner: v.next } : `${at}: not a Link`;
    default: {
      const kinds = ['array', 'object', 'nullproto', 'mapvalue', 'mapkey', 'set', 'class'];
      return unwrap(kinds[i % kinds.length]!, v, i);
    }
  }
}

/**
 * Compare a restored chain with the expected one level by level, without
 * recursion (a recursive comparison would itself need stack for every level).
 */
function checkChain(root: unknown, kind: string, tree: boolean): string | undefined {
  let v = root;
  for (let i = depth - 1; i >= 1; i--) {
    const r = unwrap(kind, v, i);
    if (typeof r === 'string') return r;
    v = r.inner;
  }
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) return 'bottom: not a plain object';
  const bottom = v as Record<string, unknown>;
  if (bottom.leaf !== 'bottom') return 'bottom: wrong leaf';
  const keys = Object.keys(bottom).join();
  if (tree) return keys === 'leaf' ? undefined : `bottom: keys ${keys}`;
  // Identity mode: the cycle at the bottom leads back to the restored root itself.
  return keys === 'leaf,root' && bottom.root === root ? undefined : 'bottom: the cycle does not lead back to the root';
}

/** DEPTH nested containers; in identity mode the innermost one refers back to the root (a cycle at the bottom). */
function build(kind: string, tree: boolean): unknown {
  const bottom: Record<string, unknown> = { leaf: 'bottom' };
  let v: unknown = bottom;
  // `bottom` itself is one container level.
  for (let i = 1; i < depth; i++) v = wrap(kind, v, i);
  if (!tree) bottom.root = v;
  return v;
}

const ckpt = new Checkpointer({ store: dir! });
ckpt.registerClass(Link, 'Link');
const restored = new Map<string, unknown>();
const expected: { id: string; kind: string; tree: boolean }[] = [];
for (const kind of KINDS) {
  for (const tree of [true, false]) {
    const id = `${kind}-${tree ? 'tree' : 'identity'}`;
    expected.push({ id, kind, tree });
    const state = phase === 'checkpoint' ? build(kind, tree) : undefined;
    ckpt.register({ id, tree, snapshot: () => state, restore: (s: unknown) => void restored.set(id, s) });
  }
}

try {
  if (phase === 'checkpoint') {
    await ckpt.checkpoint({ step: 1 });
    console.log(JSON.stringify({ ok: true }));
  } else {
    const result = await ckpt.restore();
    const results: Record<string, string> = {};
    for (const { id, kind, tree } of expected) {
      results[id] = result === undefined ? 'nothing restored' : (checkChain(restored.get(id), kind, tree) ?? 'ok');
    }
    console.log(JSON.stringify({ ok: Object.values(results).every((r) => r === 'ok'), results }));
  }
} catch (err) {
  const e = err as { code?: string; message?: string };
  console.log(JSON.stringify({ ok: false, code: e.code, message: String(e.message).slice(0, 400) }));
} finally {
  await ckpt.close();
}
