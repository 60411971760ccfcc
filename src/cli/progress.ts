/**
 * @module cli/progress
 *
 * A progress bar on stderr for long work (verify, convert, export of large
 * images). Drawn only when stderr is a terminal (and not under `--no-progress`
 * or `CI`); otherwise every call is a no-op, so logs and pipes stay clean.
 * Redraws at most ten times a second and erases itself when done.
 */
import { formatBytes, type TextStream } from './output.js';

/** A progress indicator over a known (or unknown, 0) total of bytes. */
export interface Progress {
  /** Add `n` bytes of work done. */
  add(n: number): void;
  /** Set the total (when it becomes known or changes). */
  setTotal(total: number): void;
  /** Change the label. */
  setLabel(label: string): void;
  /** Erase the bar. Idempotent. */
  done(): void;
}

/** A progress indicator that draws nothing. */
export const NO_PROGRESS: Progress = { add: () => undefined, setTotal: () => undefined, setLabel: () => undefined, done: () => undefined };

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Draw at all (false → {@link NO_PROGRESS}). */
  readonly enabled: boolean;
  /** Text before the bar. */
  readonly label: string;
  /** Total bytes (0: unknown, shows bytes done only). */
  readonly total?: number;
  /** Minimum ms between redraws (default 100). */
  readonly intervalMs?: number;
  /** Clock (tests). */
  readonly now?: () => number;
}

/** Render one line of a progress bar (without control characters). */
export function renderBar(label: string, done: number, total: number, width: number): string {
  if (total <= 0) return `${label} ${formatBytes(done)}`;
  const frac = Math.max(0, Math.min(1, done / total));
  const pct = `${Math.floor(frac * 100)}%`.padStart(4);
  const sizes = `${formatBytes(Math.min(done, total))} / ${formatBytes(total)}`;
  const barWidth = Math.max(10, Math.min(40, width - label.length - pct.length - sizes.length - 6));
  const filled = Math.round(frac * barWidth);
  return `${label} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${pct} ${sizes}`;
}

/** A progress bar on `stream` (stderr), or {@link NO_PROGRESS} when not enabled. */
export function createProgress(stream: TextStream, options: ProgressOptions): Progress {
  if (!options.enabled) return NO_PROGRESS;
  const now = options.now ?? Date.now;
  const interval = options.intervalMs ?? 100;
  let label = options.label;
  let total = options.total ?? 0;
  let done = 0;
  let last = -Infinity;
  let drawn = false;
  let finished = false;
  const draw = (force: boolean): void => {
    if (finished) return;
    const t = now();
    if (!force && t - last < interval) return;
    last = t;
    const width = stream.columns !== undefined && stream.columns > 0 ? stream.columns : 80;
    const line = renderBar(label, done, total, width).slice(0, Math.max(10, width - 1));
    stream.write(`\r\u001b[2K${line}`);
    drawn = true;
  };
  draw(true);
  return {
    add(n) {
      done += n;
      draw(false);
    },
    setTotal(t) {
      total = t;
      draw(false);
    },
    setLabel(l) {
      label = l;
      draw(true);
    },
    done() {
      if (finished) return;
      finished = true;
      if (drawn) stream.write('\r\u001b[2K');
    },
  };
}
