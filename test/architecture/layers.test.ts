/**
 * The dependency direction of `src/`: no lower layer imports a higher one,
 * and the CLI never imports ckpt/testing (map and rules in ./layers.ts).
 */
import { describe, expect, it } from 'vitest';
import { checkLayers, edgeText, importSpecifiers, layerOf, readImportGraph, resolveSpecifier, SRC_DIR, type ImportEdge } from './layers.js';

/**
 * Upward imports tolerated for now, each with a comment saying how it goes
 * away. Empty: every layer imports only its own and lower layers. The test
 * below fails on an entry that no longer occurs, so the list only shrinks.
 */
const KNOWN_VIOLATIONS: readonly string[] = [];

describe('dependency direction of src/', () => {
  const edges = readImportGraph(SRC_DIR);

  it('reads a real graph: every file is placed in a layer, and imports were found', () => {
    expect(edges.length).toBeGreaterThan(100);
    const files = new Set(edges.flatMap((e) => [e.from, e.to]));
    expect([...files].filter((f) => layerOf(f) === undefined)).toEqual([]);
    expect(edges).toContainEqual({ from: 'cli/errors.ts', to: 'index.ts' });
  });

  it('no lower layer imports a higher one, and the CLI does not import ckpt/testing (beyond the known violations)', () => {
    const found = checkLayers(edges).map((v) => `${edgeText(v)}  (${v.reason})`);
    const unexpected = found.filter((line) => !KNOWN_VIOLATIONS.some((k) => line.startsWith(`${k}  `)));
    expect(unexpected).toEqual([]);
  });

  it('every known violation still occurs (remove the ones that are fixed)', () => {
    const found = new Set(checkLayers(edges).map(edgeText));
    expect(KNOWN_VIOLATIONS.filter((k) => !found.has(k))).toEqual([]);
  });
});

describe('the checker', () => {
  it('reports an upward import in a fixture graph', () => {
    const graph: ImportEdge[] = [
      { from: 'image/reader.ts', to: 'codec/decode.ts' },
      { from: 'codec/decode.ts', to: 'checkpointer.ts' },
      { from: 'lifecycle/restore-run.ts', to: 'errors.ts' },
    ];
    const v = checkLayers(graph);
    expect(v.map(edgeText)).toEqual(['codec/decode.ts -> checkpointer.ts']);
    expect(v[0]!.reason).toBe('codec (rank 1) imports facade (rank 5), a higher layer');
  });

  it('reports the CLI importing ckpt/testing, though the CLI is the top layer', () => {
    const v = checkLayers([{ from: 'cli/main.ts', to: 'testing/index.ts' }, { from: 'cli/main.ts', to: 'index.ts' }]);
    expect(v.map(edgeText)).toEqual(['cli/main.ts -> testing/index.ts']);
    expect(v[0]!.reason).toMatch(/ckpt\/testing/);
  });

  it('reports a file no rule places, and allows imports within a layer and downward', () => {
    expect(checkLayers([{ from: 'newdir/x.ts', to: 'errors.ts' }])[0]!.reason).toMatch(/newdir\/x\.ts is in no layer/);
    expect(checkLayers([{ from: 'store/fs-store.ts', to: 'store/fs-ops.ts' }, { from: 'convert/plan.ts', to: 'provider/registry.ts' }, { from: 'image/reader.ts', to: 'store/store.ts' }])).toEqual([]);
  });

  it('finds static, type-only, re-export, side-effect, multi-line and dynamic imports, and skips commented-out ones', () => {
    const source = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "export { c } from './c.js';",
      "export * from './d.js';",
      "import './e.js';",
      'import {',
      '  f,',
      '  type G,',
      "} from './f.js';",
      "const h = await import('./h.js');",
      "// import { x } from './commented.js';",
      "/** example: import { y } from 'ckpt'; */",
      "import { z } from 'node:fs';",
    ].join('\n');
    expect(importSpecifiers(source)).toEqual(['./a.js', '../b.js', './c.js', './d.js', './e.js', './f.js', 'node:fs', './h.js']);
    expect(resolveSpecifier('cli/commands/ls.ts', '../../index.js')).toBe('index.ts');
    expect(resolveSpecifier('cli/ls.ts', 'commander')).toBeUndefined();
  });
});
