/**
 * @module cli/escape
 *
 * Making text that comes from an image safe to print on a terminal. Labels,
 * app names, hostnames, meta keys and values, provider ids, class names and
 * decoded strings are written by whoever wrote the image; printed raw, a
 * hostile one could retitle or clear the terminal, move the cursor, or
 * print a fake `ok` line. Human output passes such text through
 * {@link escapeText}; `--json` output stays exact (JSON escapes what it must).
 *
 * Escaped: C0 controls (U+0000–U+001F, including newline, tab and ESC),
 * DEL (U+007F), C1 controls (U+0080–U+009F), the line and paragraph
 * separators U+2028/U+2029, and the bidirectional formatting characters
 * (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), which can make
 * text display in an order other than the one it has. Each becomes a
 * visible escape: `\n`, `\t`, `\r`, `\x1b`, `\u202e`.
 */

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(ch: string): string {
  const named = NAMED[ch];
  if (named !== undefined) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** {@link UNSAFE} without the global flag: `test` on it keeps no state between calls. */
const UNSAFE_ANY = new RegExp(UNSAFE.source);

/** True when `s` holds a character {@link escapeText} would escape. */
export function hasUnsafeText(s: string): boolean {
  return UNSAFE_ANY.test(s);
}

/** `s` with every terminal control, separator and bidi character made a visible escape. */
export function escapeText(s: string): string {
  return s.replace(UNSAFE, escapeChar);
}

/** The SGR sequences the CLI's own colours use (see `makeColors` in output.ts). */
// eslint-disable-next-line no-control-regex
const OWN_SGR = /\u001b\[(?:1|2|22|31|32|33|39)m/y;

/**
 * The last line of defence for a whole block of human output: escapes like
 * {@link escapeText}, but keeps the CLI's own colour sequences and (unless
 * `keepNewlines` is false, as for a table cell) newlines. Text from an image is escaped where it is
 * inserted (so its newlines cannot start a fake line); this catches what
 * was missed.
 */
export function escapeOutput(s: string, keepNewlines = true): string {
  let out = '';
  let last = 0;
  UNSAFE.lastIndex = 0;
  for (let m = UNSAFE.exec(s); m !== null; m = UNSAFE.exec(s)) {
    const i = m.index;
    const ch = m[0];
    if (ch === '\n' && keepNewlines) continue;
    if (ch === '\u001b') {
      OWN_SGR.lastIndex = i;
      const sgr = OWN_SGR.exec(s);
      if (sgr !== null) {
        UNSAFE.lastIndex = i + sgr[0].length;
        continue;
      }
    }
    out += s.slice(last, i) + escapeChar(ch);
    last = i + 1;
  }
  UNSAFE.lastIndex = 0;
  return last === 0 ? s : out + s.slice(last);
}
