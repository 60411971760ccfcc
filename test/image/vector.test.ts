// The hex test vector in docs/FORMAT.md is the format's contract: the writer
// must produce exactly those bytes, and the reader must read them back.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ImageReader } from '../../src/image/reader.js';
import { FIXED_MANIFEST, captured, imageBytes, memorySource } from '../helpers/image-bytes.js';

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
