/**
 * @module cli/commands/shared
 *
 * Small pieces several commands print the same way: an image check as JSON,
 * a problem as one line, a provider's restore plan.
 */
import type { ImageInfo } from '../../index.js';
import type { VerifyProblem } from '../../format/index.js';
import type { ImageCheck } from '../check.js';

/** An image description as JSON (dates as ISO strings). */
export function infoJson(info: ImageInfo): Record<string, unknown> {
  return {
    step: info.step,
    label: info.label,
    createdAt: info.createdAt.toISOString(),
    app: info.app,
    formatVersion: info.formatVersion,
    library: info.library,
    node: info.node,
    hostname: info.hostname,
    meta: { ...info.meta },
    providers: info.providers.map((p) => ({ id: p.id, version: p.version, rawBytes: p.rawBytes, storedBytes: p.storedBytes })),
  };
}

/** An image check as JSON. */
export function imageJson(c: ImageCheck): Record<string, unknown> {
  return {
    id: c.id,
    path: c.path,
    bytes: c.bytes,
    status: c.status,
    verified: c.verified,
    ...(c.encrypted === undefined ? {} : { encrypted: { keyId: c.encrypted.keyId, authenticated: !c.encrypted.locked } }),
    ...(c.info === null ? {} : infoJson(c.info)),
    problems: c.problems.map((p) => ({ code: p.code, where: p.where, message: p.message })),
  };
}

/** `CKPT_ERR_CORRUPT at segment 0: …` (+ `(and 2 more)`). */
export function problemLine(p: VerifyProblem, count = 1): string {
  return `${p.code} at ${p.where}: ${p.message}${count > 1 ? ` (and ${count - 1} more)` : ''}`;
}
