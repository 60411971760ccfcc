/**
 * @module test/helpers/deep-equal
 *
 * A strict structural comparison for codec round trips. Unlike vitest's
 * `toStrictEqual` it distinguishes `-0` from `0`, holes from `undefined`,
 * typed array classes (and `Buffer` from `Uint8Array`), compares Map/Set
 * entries *in order*, compares prototypes exactly, and follows cycles (two
 * graphs are equal when they correspond object for object).
 */

function describe(v: unknown): string {
  if (typeof v === 'bigint') return `${v.toString()}n`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (Object.is(v, -0)) return '-0';
  if (typeof v !== 'object' || v === null) return String(v);
  const proto: unknown = Object.getPrototypeOf(v);
  const name = proto === null ? 'null-prototype object' : ((proto as { constructor?: { name?: string } }).constructor?.name ?? 'object');
  return name;
}

/**
 * Compare `actual` with `expected`. Returns `undefined` when they are equal,
 * else a description of the first difference with its path.
 *
 * @param sharing - also require the same sharing: an object that occurs twice
 *   in `expected` must be one object in `actual` (identity mode). Pass false
 *   for tree-mode results, where shared objects come back as copies (the
 *   graphs must then be acyclic).
 */
export function deepDiff(actual: unknown, expected: unknown, sharing = true): string | undefined {
  const pairs = new Map<object, object>();
  const walk = (a: unknown, e: unknown, path: string): string | undefined => {
    if (typeof a !== typeof e) return `${path}: ${describe(a)} !== ${describe(e)} (type)`;
    if (typeof e !== 'object' || e === null || a === null) {
      return Object.is(a, e) ? undefined : `${path}: ${describe(a)} !== ${describe(e)}`;
    }
    const ao = a as object;
    const eo = e;
    if (sharing) {
      const seen = pairs.get(eo);
      if (seen !== undefined) return seen === ao ? undefined : `${path}: object graph shape differs`;
      pairs.set(eo, ao);
    }
    if (Object.getPrototypeOf(ao) !== Object.getPrototypeOf(eo)) {
      return `${path}: prototype ${describe(ao)} !== ${describe(eo)}`;
    }
    if (eo instanceof Date) {
      return Object.is((ao as Date).getTime(), eo.getTime()) ? undefined : `${path}: date ${String((ao as Date).getTime())} !== ${String(eo.getTime())}`;
    }
    if (eo instanceof RegExp) {
      const ar = ao as RegExp;
      return ar.source === eo.source && ar.flags === eo.flags ? undefined : `${path}: ${String(ar)} !== ${String(eo)}`;
    }
    if (eo instanceof ArrayBuffer) {
      return bytesDiff(new Uint8Array(ao as ArrayBuffer), new Uint8Array(eo), path);
    }
    if (eo instanceof DataView) {
      const av = ao as DataView;
      return bytesDiff(new Uint8Array(av.buffer, av.byteOffset, av.byteLength), new Uint8Array(eo.buffer, eo.byteOffset, eo.byteLength), path);
    }
    if (ArrayBuffer.isView(eo)) {
      const at = ao as unknown as ArrayLike<unknown>;
      const et = eo as unknown as ArrayLike<unknown>;
      if (at.length !== et.length) return `${path}: length ${String(at.length)} !== ${String(et.length)}`;
      for (let i = 0; i < et.length; i++) {
        if (!Object.is(at[i], et[i])) return `${path}[${String(i)}]: ${describe(at[i])} !== ${describe(et[i])}`;
      }
      return undefined;
    }
    if (Array.isArray(eo)) {
      const aa = ao as unknown[];
      if (aa.length !== eo.length) return `${path}: length ${String(aa.length)} !== ${String(eo.length)}`;
      for (let i = 0; i < eo.length; i++) {
        const ein = i in eo;
        if (ein !== i in aa) return `${path}[${String(i)}]: hole ${String(!ein)} expected`;
        if (!ein) continue;
        const d = walk(aa[i], eo[i], `${path}[${String(i)}]`);
        if (d !== undefined) return d;
      }
      return keysDiff(ao, eo, path, walk, true);
    }
    if (eo instanceof Map) {
      const am = ao as Map<unknown, unknown>;
      if (am.size !== eo.size) return `${path}: Map size ${String(am.size)} !== ${String(eo.size)}`;
      const ae = [...am];
      let i = 0;
      for (const [k, v] of eo) {
        const pair = ae[i] as [unknown, unknown];
        const dk = walk(pair[0], k, `${path}{key ${String(i)}}`);
        if (dk !== undefined) return dk;
        const dv = walk(pair[1], v, `${path}{value ${String(i)}}`);
        if (dv !== undefined) return dv;
        i++;
      }
      return undefined;
    }
    if (eo instanceof Set) {
      const as = ao as Set<unknown>;
      if (as.size !== eo.size) return `${path}: Set size ${String(as.size)} !== ${String(eo.size)}`;
      const ai = [...as];
      let i = 0;
      for (const v of eo) {
        const d = walk(ai[i], v, `${path}{item ${String(i)}}`);
        if (d !== undefined) return d;
        i++;
      }
      return undefined;
    }
    return keysDiff(ao, eo, path, walk, false);
  };
  return walk(actual, expected, '$');
}

function bytesDiff(a: Uint8Array, e: Uint8Array, path: string): string | undefined {
  if (a.length !== e.length) return `${path}: byteLength ${String(a.length)} !== ${String(e.length)}`;
  for (let i = 0; i < e.length; i++) if (a[i] !== e[i]) return `${path}: byte ${String(i)} differs`;
  return undefined;
}

function keysDiff(
  a: object,
  e: object,
  path: string,
  walk: (a: unknown, e: unknown, path: string) => string | undefined,
  skipIndices: boolean,
): string | undefined {
  const filter = (k: string): boolean => !skipIndices || !/^\d+$/.test(k);
  const ak = Object.keys(a).filter(filter);
  const ek = Object.keys(e).filter(filter);
  if (ak.join('\u0000') !== ek.join('\u0000')) return `${path}: keys [${ak.join(',')}] !== [${ek.join(',')}]`;
  for (const k of ek) {
    const d = walk((a as Record<string, unknown>)[k], (e as Record<string, unknown>)[k], `${path}.${k}`);
    if (d !== undefined) return d;
  }
  return undefined;
}
