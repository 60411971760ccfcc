/**
 * @module codec/decode-props
 *
 * Storing one decoded property on an object, shared by the recursive and the
 * iterative decoder (`codec/decode`, `codec/decode-deep`) so that both treat
 * hostile keys the same way.
 */

/** Define an own, enumerable, writable data property — never triggers a setter or `__proto__`. */
export function defineOwn(obj: object, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * Store `key: value` on `obj`. `__proto__` (and, for class instances
 * (`viaProto`), any key the prototype chain already has — it could be a
 * setter or a read-only property) becomes an own data property through
 * defineProperty; a plain assignment of `__proto__` would replace the
 * object's prototype, which hostile input must never be able to do.
 */
export function setProp(obj: object, key: string, value: unknown, viaProto: boolean): void {
  if (key === '__proto__' || (viaProto && key in obj)) defineOwn(obj, key, value);
  else (obj as Record<string, unknown>)[key] = value;
}
