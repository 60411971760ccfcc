/**
 * @module test/group/chan-misuse-part
 *
 * A worker thread of the channel misuse tests. `mode: 'codes'`: tries bad
 * calls on its channel (a part out of range, a value that cannot be cloned,
 * a bad `max`, a send from a provider's snapshot during a capture), waits
 * for one group checkpoint, finishes, tries a send after finishing, and
 * reports each error's code. `mode: 'unread'`: part 0 sends part 1 a message
 * and waits for the run to end; part 1 finishes without receiving it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { isCkptError, joinGroup } from '../../src/index.js';

const { mode } = workerData as { mode: 'codes' | 'unread' };
const ckpt = await joinGroup();
const ch = ckpt.channel();
const codeOf = (f: () => unknown): string => {
  try {
    f();
    return 'none';
  } catch (err) {
    return isCkptError(err) ? err.code : `not a CkptError: ${String(err)}`;
  }
};
const codes: Record<string, string> = {};
ckpt.register<number>({
  id: 'n',
  snapshot: () => {
    codes['duringCapture'] ??= codeOf(() => ch.send(0, 1));
    return 1;
  },
  restore: () => undefined,
});
await ckpt.restore();
if (mode === 'codes') {
  codes['outOfRange'] = codeOf(() => ch.send(ckpt.parts, 1));
  codes['negative'] = codeOf(() => ch.send(-1, 1));
  codes['fraction'] = codeOf(() => ch.send(0.5, 1));
  codes['notCloneable'] = codeOf(() => ch.send(0, () => 1));
  codes['badMax'] = codeOf(() => ch.receive(-1));
  codes['sameObject'] = ckpt.channel() === ch ? 'same' : 'other';
  parentPort!.postMessage({ event: 'ready', part: ckpt.index });
  while (ckpt.epoch < 1) {
    if (ckpt.due) await ckpt.safepoint(0);
    await sleep(1);
  }
  await ckpt.finish(0);
  codes['afterFinish'] = codeOf(() => ch.send(0, 1));
  parentPort!.postMessage({ event: 'codes', part: ckpt.index, codes });
} else if (ckpt.index === 0) {
  ch.send(1, 'never read');
  for (;;) {
    if (ckpt.due && (await ckpt.safepoint(0)).stop) break;
    await sleep(1);
  }
} else {
  await ckpt.finish(0);
}
