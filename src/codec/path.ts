/**
 * @module codec/path
 *
 * Paths to values inside a provider's state, for error messages
 * (`particles[3].onHit`, `cfg["my key"]`, `m.get("k")`, `s{item 2}`).
 *
 * The encoder never builds these on the happy path: a failing leaf throws, and
 * each container frame on the way up adds one {@link PathSegment}; the text is
 * rendered once, by {@link renderPath}, when the error reaches the top.
 */

/** One step from a container to one of its members. */
export type PathSegment =
  /** Property of a plain, null-prototype or class-instance object. */
  | { readonly kind: 'prop'; readonly key: string }
  /** Element of an array. */
  | { readonly kind: 'index'; readonly index: number }
  /** The key of a Map's `index`-th entry (0-based, insertion order). */
  | { readonly kind: 'mapKey'; readonly index: number }
  /** The value of a Map's `index`-th entry, whose key is `key`. */
  | { readonly kind: 'mapValue'; readonly key: unknown; readonly index: number }
  /** The `index`-th item of a Set (0-based, insertion order). */
  | { readonly kind: 'setItem'; readonly index: number };

/** Keys longer than this are shortened in messages. */
const MAX_KEY_CHARS = 60;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function quote(key: string): string {
  const shown = key.length > MAX_KEY_CHARS ? `${key.slice(0, MAX_KEY_CHARS)}…` : key;
  // JSON.stringify escapes quotes, control characters and lone surrogates.
  return JSON.stringify(shown);
}

/** `m.get(<key>)` when the key can be written as a literal, else undefined. */
function mapKeyLiteral(key: unknown): string | undefined {
  switch (typeof key) {
    case 'string':
      return quote(key);
    case 'number':
      return Object.is(key, -0) ? '-0' : String(key);
    case 'bigint':
      return `${key.toString()}n`;
    case 'boolean':
      return String(key);
    case 'undefined':
      return 'undefined';
    default:
      return key === null ? 'null' : undefined;
  }
}

/** Render one segment as it follows its container's path. */
export function renderSegment(segment: PathSegment): string {
  switch (segment.kind) {
    case 'prop':
      return segment.key.length <= MAX_KEY_CHARS && IDENTIFIER.test(segment.key) ? `.${segment.key}` : `[${quote(segment.key)}]`;
    case 'index':
      return `[${String(segment.index)}]`;
    case 'mapKey':
      return `{key ${String(segment.index)}}`;
    case 'mapValue': {
      const literal = mapKeyLiteral(segment.key);
      return literal === undefined ? `{value ${String(segment.index)}}` : `.get(${literal})`;
    }
    case 'setItem':
      return `{item ${String(segment.index)}}`;
  }
}

/**
 * Render a path, outermost segment first: `particles[3].onHit`,
 * `cfg["my key"]`, `m.get("k")`, `m{key 0}`, `s{item 2}`. The state itself
 * (no segments) renders as the empty string; a leading `.` is dropped.
 */
export function renderPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const segment of segments) out += renderSegment(segment);
  return out.startsWith('.') ? out.slice(1) : out;
}

/**
 * Find where `target` first occurs inside `root`, walking members in the
 * order the encoder does (array elements, own enumerable string keys, Map
 * entries key then value, Set items), each object visited once. Only used on
 * error paths (to name the *other* value of a conflict), so it favours
 * simplicity over speed. Returns `undefined` when `target` is not found.
 */
export function findValuePath(root: unknown, target: object): PathSegment[] | undefined {
  const seen = new Set<object>();
  const path: PathSegment[] = [];
  const visit = (value: unknown): boolean => {
    if (value === target) return true;
    if (typeof value !== 'object' || value === null || seen.has(value)) return false;
    seen.add(value);
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return false;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        path.push({ kind: 'index', index: i });
        if (visit(value[i])) return true;
        path.pop();
      }
      return false;
    }
    if (value instanceof Map) {
      let i = 0;
      for (const [k, v] of value as Map<unknown, unknown>) {
        path.push({ kind: 'mapKey', index: i });
        if (visit(k)) return true;
        path.pop();
        path.push({ kind: 'mapValue', key: k, index: i });
        if (visit(v)) return true;
        path.pop();
        i++;
      }
      return false;
    }
    if (value instanceof Set) {
      let i = 0;
      for (const v of value as Set<unknown>) {
        path.push({ kind: 'setItem', index: i });
        if (visit(v)) return true;
        path.pop();
        i++;
      }
      return false;
    }
    for (const key of Object.keys(value)) {
      path.push({ kind: 'prop', key });
      if (visit((value as Record<string, unknown>)[key])) return true;
      path.pop();
    }
    return false;
  };
  try {
    return visit(root) ? path : undefined;
  } catch {
    // A getter threw or the state is too deep for the stack: no second path.
    return undefined;
  }
}
