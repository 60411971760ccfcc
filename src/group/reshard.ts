/**
 * @module group/reshard
 *
 * The coordinator's side of restoring a group image into another number of
 * parts: check that every provider of every saved part is sharded and that
 * the parts agree (providers, versions, kinds, steps) — otherwise fail
 * closed with `CKPT_ERR_GROUP_MISMATCH` before any part runs — and give each
 * new part the pieces it needs: for a range shard, the pieces overlapping
 * the elements {@link shardRange} gives it in the whole array (the parts'
 * arrays in part order); for a keyed shard, the pieces holding any of its
 * key groups. The part keeps exactly its elements and keys (shard-pieces).
 * Nothing is decoded here: the coordinator has no classes of the parts.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { PartState, SavedKeyedPiece, SavedProvider, SavedRangePiece, ShardPlace } from './protocol.js';
import { keyGroupRange, shardRange } from './shard.js';

function mismatch(image: string, from: number, to: number, why: string, provider?: string): CkptError {
  return new CkptError(
    ErrorCodes.GROUP_MISMATCH,
    `group image ${image} holds ${String(from)} part${from === 1 ? '' : 's'} and this group has ${String(to)}: it can restore into another number of parts only when every provider is sharded and the parts agree — ${why}. Add ${String(from)} workers or child processes, or start fresh in another store`,
    { image, ...(provider === undefined ? {} : { provider }) },
  );
}

function corrupt(image: string, part: number, id: string, what: string): CkptError {
  return new CkptError(ErrorCodes.CORRUPT, `group image ${image}: part ${String(part)}'s state of provider ${JSON.stringify(id)} ${what}; move the image out of the store`, { image, provider: id });
}

/** An entry carrying only what a shard is (its type, its container): the part decodes nothing for it. */
function placeholder(like: SavedProvider, shard: SavedProvider['shard']): SavedProvider {
  return { id: like.id, version: like.version, tree: like.tree, stream: new Uint8Array(0), blobs: [], ...(shard === undefined ? {} : { shard }) };
}

/** The provider ids of a part, in order, each once. */
function idsOf(state: PartState): string[] {
  return [...new Set(state.providers.map((p) => p.id))];
}

/**
 * The states to send to each of `parts` parts, from the `states` of the
 * group image `image` (another number of parts). Throws
 * `CKPT_ERR_GROUP_MISMATCH` naming the reason when the image cannot be
 * resharded, `CKPT_ERR_CORRUPT` when its pieces do not fit together.
 */
export function reshardStates(states: readonly PartState[], parts: number, image: string): PartState[] {
  const from = states.length;
  const fail = (why: string, provider?: string): CkptError => mismatch(image, from, parts, why, provider);
  const first = states[0];
  if (first === undefined) throw fail('it holds no part');
  const ids = idsOf(first);
  const unread = states.reduce((sum, s) => sum + (s.channels?.inbox.length ?? 0), 0);
  if (unread > 0) {
    throw fail(`its parts hold ${String(unread)} channel message(s) not yet received, addressed to part indexes of the old count; stop or finish the group where every channel message was received`);
  }
  const steps = new Set(states.map((s) => s.step));
  if (steps.size > 1) {
    throw fail(`its parts were at different steps (${[...steps].map(String).join(', ')}) and a part restored from pieces of several parts needs one step; stop or finish the group where every part is at the same step`);
  }
  // Per provider: the pieces of every old part, in part order.
  const byId = new Map<string, SavedProvider[][]>(ids.map((id) => [id, []]));
  states.forEach((s, i) => {
    const own = idsOf(s);
    if (own.length !== ids.length || own.some((id, k) => id !== ids[k])) throw fail(`part ${String(i)} saved providers ${JSON.stringify(own)}, part 0 ${JSON.stringify(ids)}`);
    for (const id of ids) byId.get(id)!.push(s.providers.filter((p) => p.id === id));
  });
  const out: SavedProvider[][] = Array.from({ length: parts }, () => []);
  for (const [id, perPart] of byId) {
    const all = perPart.flat();
    const one = all[0]!;
    if (all.some((p) => p.shard === undefined)) throw fail(`provider ${JSON.stringify(id)} is not sharded (register it with shard: { kind: 'range' } or { kind: 'keyed' })`, id);
    if (all.some((p) => p.version !== one.version || p.tree !== one.tree || p.shard!.kind !== one.shard!.kind)) {
      throw fail(`the parts saved provider ${JSON.stringify(id)} with different versions, tree settings or shard kinds`, id);
    }
    if (one.shard!.kind === 'range') reshardRange(image, id, perPart, out, fail);
    else reshardKeyed(image, id, perPart, out, fail);
  }
  // A piece several parts need is sent to each: every use after the first is a copy, so the
  // coordinator may transfer (detach) each part's buffers to it.
  const used = new Set<Uint8Array>();
  const own = (a: Uint8Array): Uint8Array => {
    if (!used.has(a)) {
      used.add(a);
      return a;
    }
    return a.slice();
  };
  return out.map((providers) => ({ step: first.step, providers: providers.map((p) => ({ ...p, stream: own(p.stream), blobs: p.blobs.map(own) })), resharded: { from } }));
}

function reshardRange(image: string, id: string, perPart: SavedProvider[][], out: SavedProvider[][], fail: (why: string, provider?: string) => CkptError): void {
  // Each old part's pieces tile its own array; the parts' arrays, in order, tile the whole.
  const placed: { p: SavedProvider; shard: SavedRangePiece }[] = [];
  let base = 0;
  const type = (perPart[0]![0]!.shard as SavedRangePiece).type;
  perPart.forEach((pieces, part) => {
    const local = pieces.map((p) => p.shard as SavedRangePiece).sort((a, b) => a.offset - b.offset);
    const total = local[0]!.total;
    let at = 0;
    for (const s of local) {
      if (s.type !== type) throw fail(`the parts saved provider ${JSON.stringify(id)} as ${type} and ${s.type}`, id);
      if (s.total !== total || s.offset !== at) throw corrupt(image, part, id, 'has pieces that do not tile its array');
      at += s.length;
    }
    if (at !== total) throw corrupt(image, part, id, 'has pieces that do not tile its array');
    for (const p of pieces) {
      const s = p.shard as SavedRangePiece;
      placed.push({ p, shard: { ...s, offset: base + s.offset } });
    }
    base += total;
  });
  const whole = base;
  out.forEach((list, j) => {
    const { start, end } = shardRange(whole, j, out.length);
    const mine = placed.filter(({ shard }) => shard.offset < end && shard.offset + shard.length > start).map(({ p, shard }) => ({ ...p, shard: { ...shard, total: whole } }));
    // An empty range still needs the array's type: a placeholder says it.
    list.push(...(mine.length > 0 ? mine : [placeholder(placed[0]!.p, { kind: 'range', type, offset: start, length: 0, total: whole })]));
  });
}

function reshardKeyed(image: string, id: string, perPart: SavedProvider[][], out: SavedProvider[][], fail: (why: string, provider?: string) => CkptError): void {
  const all = perPart.flat();
  const shard0 = all[0]!.shard as SavedKeyedPiece;
  const { keyGroups, container } = shard0;
  if (all.some((p) => (p.shard as SavedKeyedPiece).keyGroups !== keyGroups || (p.shard as SavedKeyedPiece).container !== container)) {
    throw fail(`the parts saved provider ${JSON.stringify(id)} with different key-group counts or containers`, id);
  }
  if (out.length > keyGroups) throw fail(`provider ${JSON.stringify(id)} has ${String(keyGroups)} key groups, fewer than ${String(out.length)} parts`, id);
  out.forEach((list, j) => {
    const { start, end } = keyGroupRange(keyGroups, j, out.length);
    const mine = all.filter((p) => (p.shard as SavedKeyedPiece).groups.some((g) => g >= start && g < end));
    list.push(...(mine.length > 0 ? mine : [placeholder(all[0]!, { kind: 'keyed', container, keyGroups, groups: [] })]));
  });
}

/**
 * For a restore into the same number of parts: where each part's elements
 * of every range provider lie in the whole array (the parts' arrays in
 * order), so its `restore()` context says so. Nothing moves; a provider the
 * parts did not all save as a range shard gets no place (the part's own
 * restore reports what is wrong with it).
 */
export function placeRanges(states: readonly PartState[]): PartState[] {
  const first = states[0];
  if (first === undefined) return [];
  const totals = new Map<string, number[]>();
  for (const id of idsOf(first)) {
    const perPart = states.map((s) => {
      const piece = s.providers.find((p) => p.id === id)?.shard;
      return piece?.kind === 'range' ? piece.total : undefined;
    });
    if (perPart.every((t): t is number => t !== undefined)) totals.set(id, perPart);
  }
  if (totals.size === 0) return [...states];
  return states.map((s, i) => {
    const places: Record<string, ShardPlace> = {};
    for (const [id, perPart] of totals) {
      const start = perPart.slice(0, i).reduce((a, b) => a + b, 0);
      places[id] = { start, end: start + perPart[i]!, total: perPart.reduce((a, b) => a + b, 0) };
    }
    return { ...s, places };
  });
}
