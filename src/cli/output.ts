/**
 * @module cli/output
 *
 * Where output goes and how it looks. Results go to stdout (human text, or
 * one JSON document under `--json`); logs, warnings and progress go to
 * stderr. Colour is used only when the stream is a terminal, never when
 * `NO_COLOR` is set (https://no-color.org), and can be forced with
 * `FORCE_COLOR=1`. Also small formatters shared by the commands: sizes,
 * ratios, dates and aligned tables. Human output passes through
 * `escapeOutput` (escape.ts) so no terminal control from an image reaches
 * the terminal; JSON output is exact.
 */
import { escapeOutput } from './escape.js';

/** A writable text stream (process.stdout/stderr, or a test double). */
export interface TextStream {
  /** Write text. */
  write(chunk: string | Uint8Array): boolean;
  /** True when the stream is a terminal. */
  readonly isTTY?: boolean;
  /** Terminal width, when a terminal. */
  readonly columns?: number;
  /** Wait for an event once (`drain`, for backpressure); absent on test doubles. */
  once?(event: 'drain', listener: () => void): unknown;
}

/**
 * Write many chunks to `stream`, waiting for `drain` whenever it asks to
 * (so a slow pipe never makes the whole output pile up in memory).
 */
export async function writeChunks(stream: TextStream, chunks: Iterable<string | Uint8Array>): Promise<void> {
  for (const chunk of chunks) {
    if (!stream.write(chunk) && stream.once !== undefined) {
      const s = stream;
      await new Promise<void>((resolve) => s.once?.('drain', resolve));
    }
  }
}

/** The process environment as the CLI sees it. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Streams and environment of one CLI run. */
export interface Io {
  /** Results. */
  readonly stdout: TextStream;
  /** Logs, warnings, progress, errors. */
  readonly stderr: TextStream;
  /** Environment variables. */
  readonly env: Env;
  /** Working directory relative paths resolve against. */
  readonly cwd: string;
}

/** ANSI styling functions; identity functions when colour is off. */
export interface Colors {
  /** Whether colour is on. */
  readonly enabled: boolean;
  /** Errors, damage. */
  red(s: string): string;
  /** Success. */
  green(s: string): string;
  /** Warnings. */
  yellow(s: string): string;
  /** Less important text. */
  dim(s: string): string;
  /** Headings. */
  bold(s: string): string;
}

/**
 * Whether to colour `stream`: never with `NO_COLOR` (non-empty) or
 * `--no-color`; always with `FORCE_COLOR` (not `0`); else only on a terminal
 * whose `TERM` is not `dumb`.
 */
export function colorEnabled(stream: TextStream, env: Env, flag = true): boolean {
  if (!flag) return false;
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  const force = env['FORCE_COLOR'];
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  return stream.isTTY === true && env['TERM'] !== 'dumb';
}

/** Styling functions for `enabled`. */
export function makeColors(enabled: boolean): Colors {
  const wrap = (open: number, close: number) => (s: string): string => (enabled ? `\u001b[${open}m${s}\u001b[${close}m` : s);
  return { enabled, red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), dim: wrap(2, 22), bold: wrap(1, 22) };
}

/** Options every command accepts. */
export interface CommonOptions {
  /** Machine-readable output on stdout. */
  readonly json?: boolean;
  /** Stack traces for errors. */
  readonly debug?: boolean;
  /** `--no-color` sets this to false. */
  readonly color?: boolean;
  /** `--no-progress` sets this to false. */
  readonly progress?: boolean;
}

/** The output context of one command. */
export class Output {
  /** True under `--json`. */
  readonly json: boolean;
  /** Colours for stdout. */
  readonly c: Colors;
  /** Colours for stderr. */
  readonly ce: Colors;
  /** The streams. */
  readonly io: Io;
  /** Whether a progress bar may be drawn on stderr. */
  readonly progress: boolean;

  /**
   * @param io - streams and environment
   * @param options - the command's common options
   */
  constructor(io: Io, options: CommonOptions) {
    this.io = io;
    this.json = options.json === true;
    this.c = makeColors(colorEnabled(io.stdout, io.env, options.color !== false));
    this.ce = makeColors(colorEnabled(io.stderr, io.env, options.color !== false));
    this.progress = options.progress !== false && io.stderr.isTTY === true && io.env['CI'] === undefined;
  }

  /** Write lines of human output to stdout (nothing under `--json`). */
  print(...lines: string[]): void {
    if (this.json) return;
    for (const l of lines) this.io.stdout.write(`${escapeOutput(l)}\n`);
  }

  /** Write the JSON result document to stdout (only under `--json`). */
  data(value: unknown): void {
    if (!this.json) return;
    this.io.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
  }

  /** A log line on stderr. */
  log(line: string): void {
    this.io.stderr.write(`${escapeOutput(line)}\n`);
  }

  /** A warning line on stderr. */
  warn(line: string): void {
    this.io.stderr.write(`${this.ce.yellow('warning:')} ${escapeOutput(line)}\n`);
  }
}

/** JSON.stringify replacer: BigInt as strings, Dates as ISO strings. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  return value;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** `1536` → `1.5 KiB`; bytes below 1 KiB as `123 B`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${n} B`;
  if (Number.isInteger(v)) return `${v} ${UNITS[u]}`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${UNITS[u]}`;
}

/** A signed size difference, `+1.2 KiB` / `-300 B` / `±0 B`. */
export function formatDelta(n: number): string {
  if (n === 0) return '±0 B';
  return `${n > 0 ? '+' : '-'}${formatBytes(Math.abs(n))}`;
}

/** Compression ratio raw/stored, `2.31×`-style text without the sign (`2.31`), `-` when undefined. */
export function ratio(raw: number, stored: number): number | null {
  if (stored <= 0) return null;
  return Math.round((raw / stored) * 100) / 100;
}

/** Text of a ratio. */
export function formatRatio(r: number | null): string {
  return r === null ? '-' : `${r.toFixed(2)}x`;
}

/** An ISO date as `2026-01-01 12:30:00Z` (UTC, seconds). */
export function formatDate(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** Visible length of text that may hold ANSI colour codes. */
export function visibleLength(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*m/g, '').length;
}

/** Pad (right) to a visible width. */
export function pad(s: string, width: number): string {
  const n = visibleLength(s);
  return n >= width ? s : s + ' '.repeat(width - n);
}

/**
 * Lay out rows as aligned columns (two spaces apart); the last column is
 * not padded. `indent` is put before every row.
 */
export function table(rows: readonly (readonly string[])[], indent = ''): string[] {
  // A cell is one line: anything from an image in it is escaped, newlines included.
  rows = rows.map((r) => r.map((cell) => escapeOutput(cell, false)));
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  return rows.map((r) => indent + r.map((cell, i) => (i === r.length - 1 ? cell : pad(cell, widths[i] ?? 0))).join('  ').trimEnd());
}

/** `1 image` / `3 images`. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
