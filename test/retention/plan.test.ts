import { describe, expect, it } from 'vitest';
import type { ImageInfo } from '../../src/index.js';
import { keepLabelled, keepLast } from '../../src/index.js';
import { explainDecision, planRetention, type RefsOf } from '../../src/retention/plan.js';

/** Images with ids `ids` (any order), newest first, like a store lists them. */
function infos(ids: readonly number[], labels: Record<number, string> = {}): ImageInfo[] {
  return [...ids]
    .sort((a, b) => b - a)
    .map((n) => ({
      id: String(n).padStart(12, '0'),
      step: n,
      label: labels[n] ?? null,
      createdAt: new Date(n * 1000),
      bytes: 100,
      app: null,
      formatVersion: 2,
      library: '0.1.0',
      node: 'v22',
      hostname: null,
      meta: {},
      providers: [],
    }));
}

const id = (n: number): string => String(n).padStart(12, '0');

/** refsOf from a table of numbers; records every call. */
function refsTable(table: Record<number, number[]>, calls: string[] = []): RefsOf {
  return (x) => {
    calls.push(x);
    return (table[Number(x)] ?? []).map(id);
  };
}

describe('planRetention: mark and sweep over references', () => {
  it('pins what kept images refer to, deletes the rest newest first', async () => {
    const calls: string[] = [];
    const plan = await planRetention(infos([1, 2, 3, 4, 5, 6]), [keepLast(2)], refsTable({ 6: [4, 1], 5: [1] }, calls));
    expect(plan.decisions.map((d) => [d.id, d.action])).toEqual([
      [id(6), 'keep'],
      [id(5), 'keep'],
      [id(4), 'pinned'],
      [id(3), 'delete'],
      [id(2), 'delete'],
      [id(1), 'pinned'],
    ]);
    expect(plan.deleteOrder).toEqual([id(3), id(2)]);
    expect(plan.pinned).toEqual([id(4), id(1)]);
    const one = plan.decisions.find((d) => d.id === id(1))!;
    expect(one.pinnedBy).toEqual([id(6), id(5)]);
    expect(one.reasons).toEqual([]);
    // Only live images' references are read, each once.
    expect([...calls].sort()).toEqual([id(1), id(4), id(5), id(6)]);
    expect(plan.decisions.find((d) => d.id === id(3))!.refs).toBeNull();
    expect(plan.decisions.find((d) => d.id === id(6))!.refs).toEqual([id(4), id(1)]);
  });

  it('follows the references of pinned images too (a pinned image must stay restorable)', async () => {
    const plan = await planRetention(infos([1, 2, 3, 4]), [keepLast(1)], refsTable({ 4: [3], 3: [1] }));
    expect(plan.pinned).toEqual([id(3), id(1)]);
    expect(plan.deleteOrder).toEqual([id(2)]);
    expect(plan.decisions.find((d) => d.id === id(1))!.pinnedBy).toEqual([id(3)]);
  });

  it('a kept image whose references cannot be read pins every older image (fail closed)', async () => {
    for (const broken of [() => undefined, () => Promise.reject(new Error('EIO')), () => { throw new Error('boom'); }] as const) {
      const refsOf: RefsOf = (x) => (x === id(4) ? broken() : []);
      const plan = await planRetention(infos([1, 2, 3, 4, 5]), [keepLast(2)], refsOf);
      expect(plan.unknownRefs).toEqual([id(4)]);
      expect(plan.deleteOrder).toEqual([]);
      expect(plan.pinned).toEqual([id(3), id(2), id(1)]);
      const d = plan.decisions.find((x) => x.id === id(2))!;
      expect(d.pinnedBy).toEqual([id(4)]);
      expect(explainDecision(d, plan.unknownRefs)).toMatch(/references of newer image 000000000004 cannot be read/);
    }
  });

  it('an unreadable image is kept, its references unknown: older images are pinned, refsOf is not asked about it', async () => {
    const calls: string[] = [];
    // 3 is listed but unreadable (not among the images the policies see).
    const plan = await planRetention(infos([1, 2, 4, 5]), [keepLast(1)], refsTable({}, calls), { unreadable: [id(3)] });
    expect(plan.decisions.map((d) => [d.id, d.action, d.reasons])).toEqual([
      [id(5), 'keep', ['policy', 'newest']],
      [id(4), 'delete', []],
      [id(3), 'keep', ['unreadable']],
      [id(2), 'pinned', []],
      [id(1), 'pinned', []],
    ]);
    expect(calls).not.toContain(id(3));
    expect(plan.unknownRefs).toEqual([id(3)]);
  });

  it('references to images that are not listed are reported as dangling', async () => {
    const plan = await planRetention(infos([2, 3]), [keepLast(1)], refsTable({ 3: [1, 2] }));
    expect(plan.dangling).toEqual([{ from: id(3), to: id(1) }]);
    expect(plan.pinned).toEqual([id(2)]);
  });

  it('the newest image and alwaysKeep survive any policy; keptBy names every policy that keeps an image', async () => {
    const images = infos([1, 2, 3, 4], { 2: 'x', 4: 'y' });
    const plan = await planRetention(images, [keepLast(1), keepLabelled()], refsTable({}), { alwaysKeep: [id(1)] });
    const by = new Map(plan.decisions.map((d) => [d.id, d]));
    expect(by.get(id(4))!.keptBy).toEqual(['keepLast(1)', 'keepLabelled()']);
    expect(by.get(id(2))!.keptBy).toEqual(['keepLabelled()']);
    expect(by.get(id(1))!.reasons).toEqual(['always-keep']);
    expect(plan.deleteOrder).toEqual([id(3)]);
    expect(explainDecision(by.get(id(4))!)).toBe('kept by keepLast(1), keepLabelled(); newest image');
    expect(explainDecision(by.get(id(1))!)).toMatch(/restore\(\) picks it/);
    expect(explainDecision(by.get(id(3))!)).toMatch(/no policy keeps it/);
  });

  it('no policies: every image is kept and no index is read', async () => {
    const calls: string[] = [];
    const plan = await planRetention(infos([1, 2, 3]), [], refsTable({ 3: [1] }, calls));
    expect(plan.decisions.every((d) => d.action === 'keep')).toBe(true);
    expect(plan.deleteOrder).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('an empty store plans nothing; a self-reference is ignored', async () => {
    expect((await planRetention([], [keepLast(1)], refsTable({}))).decisions).toEqual([]);
    const plan = await planRetention(infos([1, 2]), [keepLast(1)], refsTable({ 2: [2] }));
    expect(plan.deleteOrder).toEqual([id(1)]);
  });

  it('a pinned image explains who needs it', async () => {
    const plan = await planRetention(infos([1, 2, 3]), [keepLast(2)], refsTable({ 3: [1], 2: [1] }));
    const d = plan.decisions.find((x) => x.id === id(1))!;
    expect(explainDecision(d, plan.unknownRefs)).toBe('pinned: no policy keeps it, but kept images 000000000003, 000000000002 refer to it');
  });
});
