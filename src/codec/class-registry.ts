/**
 * @module codec/class-registry
 *
 * {@link ClassRegistry}: the application's classes whose instances may appear
 * in checkpointed state, each under a stable name that is written into images.
 * The codec only sees it through the read-only {@link ClassLookup} contract.
 *
 * How an instance is saved and restored (the contract users must know):
 * - saved: the registered name plus the instance's own enumerable string-keyed
 *   properties (`Object.keys` order). Private `#fields`, symbol-keyed and
 *   non-enumerable properties are not saved.
 * - restored: `Object.create(Class.prototype)` and then the properties are
 *   defined on it. **The constructor is not called** — which is what lets
 *   cycles through class instances work (the object exists before its
 *   properties are decoded, so a property can refer back to it) and keeps
 *   restore free of constructor side effects. Methods and getters come from
 *   the prototype as usual.
 * - lookup is by the instance's *exact* prototype: a subclass is not covered by
 *   its base class's registration and must be registered itself.
 */

import { CkptError, ErrorCodes } from '../errors.js';
import type { ClassLookup } from './types.js';

/** Any class (constructor function with a `prototype`), whatever its parameters. */
export type ClassConstructor = abstract new (...args: never[]) => unknown;

/**
 * Built-in classes whose instances keep their state in internal slots that
 * `Object.create(prototype)` cannot recreate (a restored "Map subclass"
 * instance would be an object that throws on `.get()`); subclasses of these
 * cannot be registered.
 */
const SLOTTED_BUILTINS: readonly (abstract new (...args: never[]) => object)[] = [
  Array,
  Map,
  Set,
  WeakMap,
  WeakSet,
  WeakRef,
  Date,
  RegExp,
  Error,
  Promise,
  ArrayBuffer,
  SharedArrayBuffer,
  DataView,
  Object.getPrototypeOf(Uint8Array) as abstract new (...args: never[]) => object, // %TypedArray%
  Function,
  Number,
  String,
  Boolean,
];

/**
 * Registry of application classes, by name and by exact prototype.
 *
 * @example
 * ```ts
 * const classes = new ClassRegistry();
 * classes.register(Particle);            // saved as "Particle"
 * classes.register(Vec2, 'geom.Vec2');   // explicit stable name
 * ```
 */
export class ClassRegistry implements ClassLookup {
  readonly #byName = new Map<string, object>();
  readonly #byProto = new Map<object, string>();

  /**
   * Register `ctor` under `name` (default: `ctor.name`). The name is written
   * into images, so choose one that survives renames and minification when
   * that matters.
   *
   * @throws CkptError INVALID_ARGUMENT when `ctor` is not a class with a
   *   prototype object, extends a built-in with internal state (Map, Date,
   *   Array, typed arrays, Error, …), or the name is empty or not a string.
   * @throws CkptError DUPLICATE_ID when the name or the class is already registered.
   */
  register(ctor: ClassConstructor, name?: string): void {
    if (typeof ctor !== 'function') {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'registerClass() needs a class (a constructor function)');
    }
    const proto: unknown = ctor.prototype;
    if (typeof proto !== 'object' || proto === null) {
      throw new CkptError(
        ErrorCodes.INVALID_ARGUMENT,
        `cannot register ${ctor.name || 'this function'}: it has no prototype object (arrow functions and bound functions are not classes)`,
      );
    }
    const effectiveName = name ?? ctor.name;
    if (typeof effectiveName !== 'string' || effectiveName.length === 0) {
      throw new CkptError(
        ErrorCodes.INVALID_ARGUMENT,
        'cannot register an anonymous class without a name — pass one: registerClass(Class, "stable.Name")',
      );
    }
    for (const builtin of SLOTTED_BUILTINS) {
      if (proto === builtin.prototype || Object.prototype.isPrototypeOf.call(builtin.prototype, proto)) {
        throw new CkptError(
          ErrorCodes.INVALID_ARGUMENT,
          `cannot register class ${effectiveName}: it ${proto === builtin.prototype ? 'is' : 'extends'} the built-in ${builtin.name || 'TypedArray'}, ` +
            'whose internal state cannot be restored without calling its constructor — keep the data in a plain class that holds the built-in as a property',
        );
      }
    }
    if (proto === Object.prototype) {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'cannot register Object: plain objects are saved without registration');
    }
    if (this.#byName.has(effectiveName)) {
      throw new CkptError(ErrorCodes.DUPLICATE_ID, `a class is already registered under the name "${effectiveName}" — pass a different name`);
    }
    const existing = this.#byProto.get(proto);
    if (existing !== undefined) {
      throw new CkptError(ErrorCodes.DUPLICATE_ID, `class ${ctor.name || effectiveName} is already registered (as "${existing}")`);
    }
    this.#byName.set(effectiveName, proto);
    this.#byProto.set(proto, effectiveName);
  }

  /** Registered name of an object's exact prototype, or `undefined`. */
  nameOf(proto: object): string | undefined {
    return this.#byProto.get(proto);
  }

  /** Prototype registered under `name`, or `undefined`. */
  protoOf(name: string): object | undefined {
    return this.#byName.get(name);
  }

  /** Every registered name, in registration order. */
  names(): string[] {
    return [...this.#byName.keys()];
  }
}
