/**
 * @module test/architecture/layers
 *
 * The dependency direction of `src/`: the layer map, an import-graph reader
 * (parses the import and re-export specifiers of every `.ts` file; no
 * dependency needed) and the checker that reports every import from a lower
 * layer into a higher one, plus the extra rules (the CLI never imports
 * `ckpt/testing`). The README's "Source layout" section shows the same map.
 *
 * Layers, low → high (a file may import its own layer and any lower one):
 *
 * | rank | layer      | files                                                                                   |
 * | ---- | ---------- | --------------------------------------------------------------------------------------- |
 * | 0    | foundation | `errors.ts`, `events.ts`, `info.ts`, `version.ts`, `store/store.ts` (the Store, ImageSource and ImageSink contracts: interfaces only) |
 * | 1    | codec      | `codec/`                                                                                |
 * | 1    | provider   | `provider/` (what a provider is, the registry; no encoding)                             |
 * | 2    | image      | `image/`, `crypto/` (encrypted images: keys, sealing, the crypto block)                 |
 * | 3    | store      | `store/` (the implementations: FsStore, MemoryStore, locks, file operations)            |
 * | 3    | store      | `s3/` (`ckpt/s3`: S3Store, its lease, sink and source)                                  |
 * | 3    | convert    | `convert/` (format versions, migrations, restore plans)                                 |
 * | 4    | lifecycle  | `lifecycle/`, `options.ts` (the Checkpointer's options and their validation)           |
 * | 4    | retention  | `retention/`                                                                            |
 * | 5    | facade     | `checkpointer.ts`, `index.ts`, `format/` (`ckpt/format`), `testing/` (`ckpt/testing`), `group/` (checkpoint groups) |
 * | 6    | cli        | `cli/`                                                                                  |
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';

/** A layer: its name and rank (higher ranks may import lower ones, never the reverse). */
export interface Layer {
  readonly name: string;
  readonly rank: number;
}

/** Where a file (path relative to `src/`, `/`-separated, with `.ts`) belongs; first matching rule wins. */
export interface LayerRule {
  /** A file (`errors.ts`) or a folder prefix ending in `/` (`codec/`). */
  readonly match: string;
  readonly layer: Layer;
}

const L = {
  foundation: { name: 'foundation', rank: 0 },
  codec: { name: 'codec', rank: 1 },
  provider: { name: 'provider', rank: 1 },
  image: { name: 'image', rank: 2 },
  store: { name: 'store', rank: 3 },
  convert: { name: 'convert', rank: 3 },
  lifecycle: { name: 'lifecycle', rank: 4 },
  retention: { name: 'retention', rank: 4 },
  facade: { name: 'facade', rank: 5 },
  cli: { name: 'cli', rank: 6 },
} as const satisfies Record<string, Layer>;

/** The layer map of `src/` (see the module comment). */
export const LAYER_RULES: readonly LayerRule[] = [
  { match: 'errors.ts', layer: L.foundation },
  { match: 'events.ts', layer: L.foundation },
  { match: 'info.ts', layer: L.foundation },
  { match: 'version.ts', layer: L.foundation },
  { match: 'store/store.ts', layer: L.foundation },
  { match: 'codec/', layer: L.codec },
  { match: 'provider/', layer: L.provider },
  { match: 'image/', layer: L.image },
  { match: 'crypto/', layer: L.image },
  { match: 'store/', layer: L.store },
  { match: 's3/', layer: L.store },
  { match: 'convert/', layer: L.convert },
  { match: 'lifecycle/', layer: L.lifecycle },
  { match: 'options.ts', layer: L.lifecycle },
  { match: 'retention/', layer: L.retention },
  { match: 'checkpointer.ts', layer: L.facade },
  { match: 'index.ts', layer: L.facade },
  { match: 'format/', layer: L.facade },
  { match: 'testing/', layer: L.facade },
  { match: 'group/', layer: L.facade },
  { match: 'cli/', layer: L.cli },
];

/** An import that is never allowed, whatever the layers say. */
export interface ForbiddenImport {
  /** Importing files: a file or a folder prefix ending in `/`. */
  readonly from: string;
  /** Imported files: a file or a folder prefix ending in `/`. */
  readonly to: string;
  /** Why. */
  readonly why: string;
}

/** Extra rules. */
export const FORBIDDEN_IMPORTS: readonly ForbiddenImport[] = [
  { from: 'cli/', to: 'testing/', why: 'the CLI ships in the package; ckpt/testing is for tests of apps and stores' },
];

/** One edge of the import graph: `from` imports `to` (both relative to `src/`, with `.ts`). */
export interface ImportEdge {
  readonly from: string;
  readonly to: string;
}

/** A forbidden edge, with the reason. */
export interface Violation extends ImportEdge {
  readonly reason: string;
}

function matches(file: string, pattern: string): boolean {
  return pattern.endsWith('/') ? file.startsWith(pattern) : file === pattern;
}

/** The layer of `file`, or undefined when no rule places it. */
export function layerOf(file: string, rules: readonly LayerRule[] = LAYER_RULES): Layer | undefined {
  return rules.find((r) => matches(file, r.match))?.layer;
}

/** Every module specifier `source` imports or re-exports (static, side-effect and literal dynamic imports). */
export function importSpecifiers(source: string): string[] {
  // Comments may quote imports (examples in doc comments): drop them first.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  const statement = /(?:^|[;}\n])\s*(?:import|export)\s+(?:type\s+)?(?:[\w$*{},\s]+?\s+from\s+)?['"]([^'"\n]+)['"]/g;
  const dynamic = /\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g;
  for (const re of [statement, dynamic]) for (let m = re.exec(code); m !== null; m = re.exec(code)) found.push(m[1]!);
  return found;
}

/** Resolve a relative specifier of `from` to a file relative to `src/` (`../errors.js` → `errors.ts`); undefined for packages. */
export function resolveSpecifier(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  return posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\.js$/, '.ts');
}

/** The import graph of the `.ts` files under `srcDir`, as edges between files relative to it. */
export function readImportGraph(srcDir: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const from = relative(srcDir, path).split(sep).join('/');
        for (const spec of importSpecifiers(readFileSync(path, 'utf8'))) {
          const to = resolveSpecifier(from, spec);
          if (to !== undefined) edges.push({ from, to });
        }
      }
    }
  };
  walk(srcDir);
  return edges;
}

/** What the checker is given. */
export interface LayerCheckOptions {
  readonly rules?: readonly LayerRule[];
  readonly forbidden?: readonly ForbiddenImport[];
}

/**
 * Every edge that breaks the rules: an import into a higher layer, an
 * import of (or from) a file no rule places, or a forbidden import.
 */
export function checkLayers(edges: readonly ImportEdge[], options: LayerCheckOptions = {}): Violation[] {
  const rules = options.rules ?? LAYER_RULES;
  const forbidden = options.forbidden ?? FORBIDDEN_IMPORTS;
  const out: Violation[] = [];
  for (const e of edges) {
    const a = layerOf(e.from, rules);
    const b = layerOf(e.to, rules);
    if (a === undefined || b === undefined) {
      out.push({ ...e, reason: `${a === undefined ? e.from : e.to} is in no layer: add it to the layer map` });
      continue;
    }
    if (b.rank > a.rank) out.push({ ...e, reason: `${a.name} (rank ${a.rank}) imports ${b.name} (rank ${b.rank}), a higher layer` });
    for (const f of forbidden) if (matches(e.from, f.from) && matches(e.to, f.to)) out.push({ ...e, reason: f.why });
  }
  return out;
}

/** `from -> to` of an edge, for allow-lists and messages. */
export function edgeText(e: ImportEdge): string {
  return `${e.from} -> ${e.to}`;
}

/** `src/` of this checkout. */
export const SRC_DIR = join(dirname(new URL(import.meta.url).pathname), '../../src');
