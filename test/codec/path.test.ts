/**
 * @module test/codec/path
 *
 * Rendering of value paths for messages, and locating a value inside a state.
 */

import { describe, expect, it } from 'vitest';

import { findValuePath, renderPath, type PathSegment } from '../../src/codec/path.js';

describe('renderPath', () => {
  it.each<[PathSegment[], string]>([
    [[], ''],
    [[{ kind: 'prop', key: 'particles' }, { kind: 'index', index: 3 }, { kind: 'prop', key: 'onHit' }], 'particles[3].onHit'],
    [[{ kind: 'prop', key: 'cfg' }, { kind: 'prop', key: 'my key' }], 'cfg["my key"]'],
    [[{ kind: 'prop', key: '0abc' }], '["0abc"]'],
    [[{ kind: 'prop', key: '$ok_1' }], '$ok_1'],
    [[{ kind: 'prop', key: 'q"uote\n' }], '["q\\"uote\\n"]'],
    [[{ kind: 'prop', key: 'm' }, { kind: 'mapValue', key: 'k', index: 0 }], 'm.get("k")'],
    [[{ kind: 'prop', key: 'm' }, { kind: 'mapValue', key: 7, index: 0 }], 'm.get(7)'],
    [[{ kind: 'prop', key: 'm' }, { kind: 'mapValue', key: 5n, index: 0 }], 'm.get(5n)'],
    [[{ kind: 'prop', key: 'm' }, { kind: 'mapValue', key: null, index: 0 }], 'm.get(null)'],
    [[{ kind: 'prop', key: 'm' }, { kind: 'mapValue', key: {}, index: 4 }], 'm{value 4}'],
    [[{ kind: 'prop', key: 'm' }, { kind: 'mapKey', index: 2 }], 'm{key 2}'],
    [[{ kind: 'prop', key: 's' }, { kind: 'setItem', index: 2 }], 's{item 2}'],
    [[{ kind: 'index', index: 0 }, { kind: 'index', index: 1 }], '[0][1]'],
  ])('renders path %#', (segments, text) => {
    expect(renderPath(segments)).toBe(text);
  });

  it('shortens very long keys', () => {
    const text = renderPath([{ kind: 'prop', key: 'k'.repeat(500) }]);
    expect(text.length).toBeLessThan(80);
    expect(text).toContain('…');
  });
});

describe('findValuePath', () => {
  it('finds a target in nested containers in encoding order, through cycles', () => {
    const target = {};
    const root: Record<string, unknown> = { a: [1, { b: new Map<unknown, unknown>([['k', new Set([0, target])]]) }] };
    root['self'] = root;
    expect(renderPath(findValuePath(root, target) ?? [])).toBe('a[1].b.get("k"){item 1}');
    expect(findValuePath(root, {})).toBeUndefined();
    const keyTarget = {};
    expect(renderPath(findValuePath(new Map([[keyTarget, 1]]), keyTarget) ?? [])).toBe('{key 0}');
  });
});
