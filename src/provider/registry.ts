/**
 * @module provider/registry
 *
 * Holds the registered providers and resources and validates them on entry.
 * Lookup rules: a provider is found by its id or by one of its aliases; ids
 * and aliases share one namespace (no alias may equal another provider's id or
 * alias). Order of registration is kept: restore runs in it, resources freeze
 * in reverse of it.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import { parseSecretPaths, type SecretPath } from '../codec/secret.js';
import type { Migration, Provider, Resource } from './provider.js';

/** Allowed provider and resource ids. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;

/** A provider as stored in the registry, with defaults applied. */
export interface RegisteredProvider {
  readonly id: string;
  readonly version: number;
  readonly tree: boolean;
  readonly aliases: readonly string[];
  readonly migrations: ReadonlyMap<number, Migration>;
  /** Parsed `secret` paths (empty when none). */
  readonly secret: readonly SecretPath[];
  readonly provider: Provider<unknown>;
}

function invalid(message: string): CkptError {
  return new CkptError(ErrorCodes.INVALID_ARGUMENT, message);
}

function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw invalid(`${what} ${JSON.stringify(id)} is not a valid id: use 1-128 characters of A-Z a-z 0-9 . _ - : / starting with a letter or digit`);
  }
  return id;
}

function checkHook(p: Record<string, unknown>, name: string, id: string, required: boolean): void {
  const v = p[name];
  if (v === undefined && !required) return;
  if (typeof v !== 'function') throw invalid(`provider ${JSON.stringify(id)}: ${name} must be a function${required ? '' : ' when given'}`);
}

/** Validate a provider registration and apply defaults. */
export function normalizeProvider(input: Provider<unknown>): RegisteredProvider {
  if (typeof input !== 'object' || input === null) throw invalid('register() needs a provider object { id, snapshot, restore }');
  const raw = input as unknown as Record<string, unknown>;
  const id = checkId(raw['id'], 'provider id');
  checkHook(raw, 'snapshot', id, true);
  checkHook(raw, 'restore', id, true);
  for (const h of ['prepare', 'resume', 'committed']) checkHook(raw, h, id, false);
  const version = raw['version'] ?? 1;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1 || version > 0x7fffffff) {
    throw invalid(`provider ${JSON.stringify(id)}: version must be a positive integer, got ${typeof version === 'number' ? String(version) : typeof version}`);
  }
  const tree = raw['tree'] ?? false;
  if (typeof tree !== 'boolean') throw invalid(`provider ${JSON.stringify(id)}: tree must be a boolean`);
  const aliasesRaw = raw['aliases'] ?? [];
  if (!Array.isArray(aliasesRaw)) throw invalid(`provider ${JSON.stringify(id)}: aliases must be an array of ids`);
  const aliases = aliasesRaw.map((a: unknown) => checkId(a, `provider ${JSON.stringify(id)}: alias`));
  if (new Set([id, ...aliases]).size !== aliases.length + 1) throw invalid(`provider ${JSON.stringify(id)}: aliases repeat each other or the id`);
  const migrations = new Map<number, Migration>();
  const migRaw = raw['migrations'];
  if (migRaw !== undefined) {
    if (typeof migRaw !== 'object' || migRaw === null || Array.isArray(migRaw)) {
      throw invalid(`provider ${JSON.stringify(id)}: migrations must be an object mapping target versions to functions, e.g. { 2: (v1) => v2 }`);
    }
    for (const [key, fn] of Object.entries(migRaw)) {
      const to = Number(key);
      if (!/^[0-9]+$/.test(key) || !Number.isSafeInteger(to) || to < 2 || to > version) {
        throw invalid(`provider ${JSON.stringify(id)}: migration key ${JSON.stringify(key)} must be an integer target version from 2 to ${version} (the provider's version)`);
      }
      if (typeof fn !== 'function') throw invalid(`provider ${JSON.stringify(id)}: migration ${key} must be a function`);
      migrations.set(to, fn as Migration);
    }
  }
  const secret = parseSecretPaths(raw['secret'], id);
  return { id, version, tree, aliases, migrations, secret, provider: input };
}

/** Registered providers and resources, in registration order. */
export class Registry {
  readonly #providers: RegisteredProvider[] = [];
  readonly #names = new Map<string, RegisteredProvider>();
  readonly #resources: Resource[] = [];

  /** Add a provider. Fails on bad input or an id/alias already taken. */
  addProvider(input: Provider<unknown>): RegisteredProvider {
    const p = normalizeProvider(input);
    for (const name of [p.id, ...p.aliases]) {
      const other = this.#names.get(name);
      if (other !== undefined) {
        throw new CkptError(ErrorCodes.DUPLICATE_ID, `provider id or alias ${JSON.stringify(name)} is already used by provider ${JSON.stringify(other.id)}; ids and aliases must be unique`, { provider: p.id });
      }
    }
    this.#providers.push(p);
    for (const name of [p.id, ...p.aliases]) this.#names.set(name, p);
    return p;
  }

  /** Remove a provider by id. Returns whether it existed. */
  removeProvider(id: string): boolean {
    const i = this.#providers.findIndex((p) => p.id === id);
    if (i < 0) return false;
    const [p] = this.#providers.splice(i, 1);
    for (const name of [p!.id, ...p!.aliases]) this.#names.delete(name);
    return true;
  }

  /** Add a resource. */
  addResource(r: Resource): void {
    if (typeof r !== 'object' || r === null) throw invalid('registerResource() needs an object { id, beforeCheckpoint?, afterCheckpoint?, afterRestore?, owns? }');
    const id = checkId(r.id, 'resource id');
    for (const h of ['beforeCheckpoint', 'afterCheckpoint', 'afterRestore', 'owns'] as const) {
      if (r[h] !== undefined && typeof r[h] !== 'function') throw invalid(`resource ${JSON.stringify(id)}: ${h} must be a function when given`);
    }
    if (this.#resources.some((x) => x.id === id)) throw new CkptError(ErrorCodes.DUPLICATE_ID, `resource id ${JSON.stringify(id)} is already registered`);
    this.#resources.push(r);
  }

  /** Providers in registration order. */
  get providers(): readonly RegisteredProvider[] {
    return this.#providers;
  }

  /** Resources in registration order. */
  get resources(): readonly Resource[] {
    return this.#resources;
  }

  /** The provider registered under `name` (id or alias). */
  lookup(name: string): RegisteredProvider | undefined {
    return this.#names.get(name);
  }
}
