/**
 * @module image/format-list
 *
 * An ordered list of format versions and the generic code that walks it:
 * read an index of any listed version (decode, then each newer version's
 * upgrade step, then the newest version's mapping to the live model), write
 * one (the reverse, through downgrade steps), and describe what a conversion
 * between two versions changes. Nothing here knows a version number: the
 * production list is `format-registry`; tests build their own lists (e.g.
 * with an extra, test-only version) with {@link createFormatList}.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { FormatVersion } from './format-version.js';
import type { IndexLimits } from './index-common.js';
import type { ImageIndex } from './index-model.js';

/**
 * How the newest version of a list maps to the live model and back. It sits
 * with the list, not in the version module, so released version modules
 * never depend on the model. `fromModel` fails with
 * `CKPT_ERR_INVALID_ARGUMENT` if the model holds something the version
 * cannot.
 */
export interface ModelMapping<N> {
  /** The live model of an index of the newest version. */
  toModel(index: N): ImageIndex;
  /** The newest version's index of a live model. */
  fromModel(model: ImageIndex): N;
}

/** Options of {@link createFormatList}. */
export interface FormatListOptions {
  /** Version written when none is asked for (default: the newest; must be writable). */
  readonly current?: number;
}

/** A checked, frozen, ordered list of format versions. Build one with {@link createFormatList}. */
export class FormatList {
  /** The versions, oldest first, consecutive. */
  readonly versions: readonly FormatVersion[];
  /** Every version this list reads, oldest first. */
  readonly readable: readonly number[];
  /** Every version this list writes (the newest and each one reachable by supported downgrades), oldest first. */
  readonly writable: readonly number[];
  /** The oldest version listed. */
  readonly oldest: number;
  /** The newest version listed (the one the live model maps to). */
  readonly newest: number;
  /** The version written when none is asked for. */
  readonly current: number;
  readonly #model: ModelMapping<unknown>;

  /** Use {@link createFormatList}, which checks the list. */
  private constructor(versions: readonly FormatVersion[], model: ModelMapping<unknown>, current: number) {
    this.versions = Object.freeze([...versions]);
    this.#model = model;
    this.readable = Object.freeze(versions.map((v) => v.version));
    this.oldest = versions[0]!.version;
    this.newest = versions[versions.length - 1]!.version;
    const writable: number[] = [this.newest];
    for (let i = versions.length - 1; i > 0 && versions[i]!.previous?.downgrade.supported === true; i--) writable.unshift(versions[i - 1]!.version);
    this.writable = Object.freeze(writable);
    this.current = current;
    Object.freeze(this);
  }

  /** @internal Build and check a list (see {@link createFormatList}). */
  static build(versions: readonly FormatVersion[], model: ModelMapping<unknown>, options: FormatListOptions): FormatList {
    const bad = (what: string): never => {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `invalid format list: ${what}`);
    };
    if (versions.length === 0) bad('it lists no version');
    for (let i = 1; i < versions.length; i++) {
      const v = versions[i]!;
      if (v.version !== versions[i - 1]!.version + 1) bad(`version ${v.version} follows ${versions[i - 1]!.version}; versions must be consecutive, oldest first`);
      if (v.previous === undefined) bad(`version ${v.version} declares no step from version ${v.version - 1}`);
    }
    const list = new FormatList(versions, model, options.current ?? versions[versions.length - 1]!.version);
    if (!list.writable.includes(list.current)) bad(`the current version ${list.current} is not writable (writable: ${list.writable.join(', ')})`);
    return list;
  }

  /** The entry of `version`, or undefined if not listed. */
  get(version: number): FormatVersion | undefined {
    return this.versions[version - this.oldest];
  }

  /** The entry of `version`, which the caller checked is listed. */
  #at(version: number): FormatVersion {
    const v = this.get(version);
    if (v === undefined) throw new CkptError(ErrorCodes.INTERNAL, `format version ${version} is not in the list`);
    return v;
  }

  /**
   * Decode index bytes of format `version` into the live model. Fails with
   * `CKPT_ERR_FORMAT_NEWER` for a version newer than the list's,
   * `CKPT_ERR_UNSUPPORTED_FEATURE` for one older than it, and the version's
   * own errors (`CKPT_ERR_CORRUPT`, `CKPT_ERR_LIMIT`) for a bad index.
   */
  decodeIndex(version: number, bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image = 'image'): ImageIndex {
    if (version > this.newest) {
      throw new CkptError(ErrorCodes.FORMAT_NEWER, `${image} has image format version ${version}; this ckpt reads versions ${this.readable.join(', ')}; upgrade ckpt to read it`, { image });
    }
    if (version < this.oldest) {
      throw new CkptError(
        ErrorCodes.UNSUPPORTED_FEATURE,
        `${image} has image format version ${version}; this ckpt reads versions ${this.readable.join(', ')}; convert it with an older ckpt ('ckpt convert --to ${this.oldest}') first`,
        { image },
      );
    }
    let index = this.#at(version).decode(bytes, indexOffset, limits, image);
    for (let v = version + 1; v <= this.newest; v++) index = this.#at(v).previous!.upgrade(index);
    return this.#model.toModel(index);
  }

  /**
   * Encode the live model in the layout of format `version` (default: the
   * current one). Fails with `CKPT_ERR_INVALID_ARGUMENT` for a version that
   * cannot be written, or when this index holds something that version cannot.
   */
  encodeIndex(model: ImageIndex, version: number = this.current): Buffer {
    this.checkWritable(version);
    let index = this.#model.fromModel(model);
    for (let v = this.newest; v > version; v--) {
      const down = this.#at(v).previous!.downgrade;
      // checkWritable proved every step down to `version` is supported.
      if (down.supported) index = down.map(index);
    }
    return this.#at(version).encode(index);
  }

  /** Fail with `CKPT_ERR_INVALID_ARGUMENT` (and the reason) unless `version` is writable. */
  checkWritable(version: number): void {
    if (this.writable.includes(version)) return;
    let reason = '';
    if (version >= this.oldest && version < this.newest) {
      for (let v = this.newest; v > version; v--) {
        const down = this.#at(v).previous!.downgrade;
        if (!down.supported) {
          reason = ` (format ${v} cannot be downgraded to ${v - 1}: ${down.reason})`;
          break;
        }
      }
    }
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `cannot write image format version ${version}; this ckpt writes versions ${this.writable.join(', ')}${reason}`);
  }

  /**
   * What converting an image from format `from` to format `to` changes, one
   * line per change, starting with the header's (empty when equal). Both must
   * be listed.
   */
  changes(from: number, to: number): string[] {
    if (from === to) return [];
    this.#at(from);
    this.#at(to);
    const lines = [`header: format version ${from} → ${to}`];
    if (from < to) {
      for (let v = from + 1; v <= to; v++) lines.push(...this.#at(v).previous!.upgradeChanges);
    } else {
      for (let v = from; v > to; v--) lines.push(...this.#at(v).previous!.downgradeChanges);
    }
    return lines;
  }
}

/**
 * Build a format list: `versions` oldest first and consecutive, each after
 * the first with its step from the previous one; `model` maps the last
 * (newest) one to the live model. Fails with `CKPT_ERR_INVALID_ARGUMENT`
 * for a list that breaks these rules.
 *
 * @example A test list with one more version than this ckpt's
 * ```ts
 * const list = createFormatList([...FORMATS.versions, formatV4], v4Model);
 * ```
 */
export function createFormatList<N>(
  versions: readonly [...FormatVersion[], FormatVersion<N, unknown>],
  model: ModelMapping<N>,
  options: FormatListOptions = {},
): FormatList {
  return FormatList.build(versions, model, options);
}
