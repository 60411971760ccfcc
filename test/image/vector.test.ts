// The hex test vector in docs/FORMAT.md is the format's contract: the writer
// must produce exactly those bytes, and the reader must read them back.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openStoreImage } from '../../src/image/open-store.js';
import { ImageReader } from '../../src/image/reader.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { FIXED_MANIFEST, captured, imageBytes, memorySource } from '../helpers/image-bytes.js';
import { writeChainImage } from '../helpers/incremental-images.js';

function vectorFromDoc(version = 1): Buffer {
  const doc = readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8');
  const m = new RegExp(`## Test vector \\(format ${version}\\)[\\s\\S]*?\`\`\`hex\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (m === null) throw new Error(`docs/FORMAT.md has no hex test vector for format ${version}`);
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'hex');
}

describe('FORMAT.md test vector', () => {
  it('the writer produces the documented bytes', async () => {
    const bytes = await imageBytes([captured('demo', { n: 1, s: 'hi', t: new Float64Array([1.5, -0]) })], { formatVersion: 1 });
    expect(bytes.toString('hex')).toBe(vectorFromDoc().toString('hex'));
  });

  it('the reader reads the documented bytes', async () => {
    const reader = await ImageReader.open(memorySource(vectorFromDoc(), '000000000001'));
    expect(reader.header).toEqual({ formatVersion: 1, codecId: 1, requiredFlags: 0, optionalFlags: 0 });
    expect(reader.manifest.step).toBe(7);
    expect(reader.manifest.app).toBe('vector');
    expect(reader.providers.map((p) => [p.id, p.version, p.rawBytes, p.segments])).toEqual([['demo', 1, 34, 1]]);
    const state = (await reader.readProvider('demo')) as { n: number; s: string; t: Float64Array };
    expect(state.n).toBe(1);
    expect(state.s).toBe('hi');
    expect(state.t).toBeInstanceOf(Float64Array);
    expect(state.t[0]).toBe(1.5);
    expect(Object.is(state.t[1], -0)).toBe(true);
    const report = await reader.verify();
    expect(report).toMatchObject({ ok: true, problems: [], segmentsChecked: 1, providersDecoded: 1 });
  });

  it('format 2: the writer produces the documented bytes, and the reader reads them', async () => {
    const manifest = { ...FIXED_MANIFEST, hostname: 'vector-host', meta: { run: 'a' } };
    const bytes = await imageBytes([captured('demo', { n: 1, s: 'hi', t: new Float64Array([1.5, -0]) })], {}, manifest);
    expect(bytes.toString('hex')).toBe(vectorFromDoc(2).toString('hex'));
    const reader = await ImageReader.open(memorySource(vectorFromDoc(2), '000000000001'));
    expect(reader.header.formatVersion).toBe(2);
    expect(reader.manifest.hostname).toBe('vector-host');
    expect({ ...reader.manifest.meta }).toEqual({ run: 'a' });
    expect(((await reader.readProvider('demo')) as { s: string }).s).toBe('hi');
  });
});

/** Every hex block of the format-3 vector section: the holder, then the incremental image. */
function format3VectorsFromDoc(): Buffer[] {
  const doc = readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8');
  const section = /## Test vector \(format 3\)([\s\S]*?)\n## /.exec(doc);
  if (section === null) throw new Error('docs/FORMAT.md has no format 3 test vector');
  return [...section[1]!.matchAll(/```hex\n([\s\S]*?)```/g)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'hex'));
}

describe('FORMAT.md test vector (format 3)', () => {
  const manifest = { app: 'vector', createdAt: '2026-01-01T00:00:00.000Z', step: 7, label: null, library: 'ckpt test-vector', node: 'v0.0.0', platform: 'test', hostname: 'vector-host', meta: {} };
  const demo = { id: 'demo', state: { n: 1, s: 'hi', t: new Float64Array([1.5, -0]) } };

  it('an incremental writer (the reference builder) produces the documented bytes', async () => {
    const [holder, incr] = format3VectorsFromDoc();
    const store = new MemoryStore();
    const a = await writeChainImage(store, [demo, { id: 'count', state: { n: 1 } }], { uuid: '00112233445566778899aabbccddeeff', manifest });
    const b = await writeChainImage(store, [demo, { id: 'count', state: { n: 2 } }], { uuid: 'ffeeddccbbaa99887766554433221100', manifest: { ...manifest, step: 8 }, parent: a.id, delta: 'xor' });
    expect([a.referenced, a.xor, b.referenced, b.xor]).toEqual([0, 0, 1, 1]);
    for (const [id, doc] of [[a.id, holder!], [b.id, incr!]] as const) {
      const src = await store.open(id);
      expect(Buffer.from(await src.read(0, src.size)).toString('hex')).toBe(doc.toString('hex'));
      await src.close();
    }
  });

  it('the reader reads the documented bytes through the store, and each part means what the text says', async () => {
    const [holder, incr] = format3VectorsFromDoc();
    const store = new MemoryStore();
    const lock = await store.acquireWriter();
    for (const bytes of [holder!, incr!]) {
      const sink = await store.create(lock);
      await sink.write(bytes);
      await sink.commit();
    }
    await lock.release();
    const r = await openStoreImage(store, '000000000002');
    expect(r.header).toEqual({ formatVersion: 3, codecId: 1, requiredFlags: 2, optionalFlags: 0 });
    expect(r.manifest.uuid).toBe('ffeeddccbbaa99887766554433221100');
    expect(r.index.refs).toEqual([{ imageId: '000000000001', uuid: '00112233445566778899aabbccddeeff' }]);
    expect(r.index.segments.map((s) => [s.offset, s.storedLength, s.rawLength, s.codec, s.flags, s.ref, s.base])).toEqual([
      [32, 34, 34, 0, 2, { image: 0, segment: 0 }, undefined],
      [32, 17, 4, 2, 0, undefined, { image: 0, segment: 1 }],
    ]);
    expect(r.index.segments.every((s) => typeof s.hash === 'bigint')).toBe(true);
    expect(Buffer.from(await r.readRawSegment(1)).toString('hex')).toBe('81a16e02');
    expect(await r.readProvider('count')).toEqual({ n: 2 });
    expect(((await r.readProvider('demo')) as { s: string }).s).toBe('hi');
    expect((await r.verify()).ok).toBe(true);
    await r.close();
  });
});
