/**
 * @module image/xor
 *
 * `out = a XOR b` over byte ranges: the encoding and decoding of XOR-delta
 * segments (format 3). V8 runs a JavaScript loop over 32-bit words at about
 * 1 GB/s, which made XOR deltas the slowest part of incremental images; a
 * small WebAssembly module XORs 16 bytes per instruction (SIMD). Its memory
 * is separate from the caller's buffers, so ranges go through it in chunks
 * that stay in the CPU cache: copy both in, XOR, copy the result out —
 * several times faster than the loop all the same
 * (`bench/xor.ts` measures both). Short ranges, and runtimes without
 * WebAssembly SIMD, use the loop. The two give the same bytes (tested on
 * every alignment and length). Work that XORs the same ranges again and
 * again (an XOR-delta chain) keeps them in the module's memory
 * ({@link xorArena}), where no copy is needed.
 *
 * The module (158 bytes, embedded below) was assembled with wabt's
 * `wat2wasm --enable-simd` from:
 *
 * ```wat
 * (module
 *   (memory (export "memory") 1)
 *   (func (export "xor") (param $dst i32) (param $a i32) (param $b i32) (param $n i32)
 *     (local $i i32) (local $end16 i32)
 *     (local.set $end16 (i32.and (local.get $n) (i32.const -16)))
 *     (block $done16 (loop $l16
 *       (br_if $done16 (i32.ge_u (local.get $i) (local.get $end16)))
 *       (v128.store (i32.add (local.get $dst) (local.get $i))
 *         (v128.xor (v128.load (i32.add (local.get $a) (local.get $i)))
 *                   (v128.load (i32.add (local.get $b) (local.get $i)))))
 *       (local.set $i (i32.add (local.get $i) (i32.const 16)))
 *       (br $l16)))
 *     (block $done (loop $l
 *       (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
 *       (i32.store8 (i32.add (local.get $dst) (local.get $i))
 *         (i32.xor (i32.load8_u (i32.add (local.get $a) (local.get $i)))
 *                  (i32.load8_u (i32.add (local.get $b) (local.get $i)))))
 *       (local.set $i (i32.add (local.get $i) (i32.const 1)))
 *       (br $l)))))
 * ```
 */

const XOR_WASM =
  'AGFzbQEAAAABCAFgBH9/f38AAwIBAAUDAQABBxACBm1lbW9yeQIAA3hvcgAACm8BbQECfyADQXBxIQUCQANAIAQgBU8NASAAIARqIAEgBGr9AAQAIAIgBGr9AAQA/VH9CwQAIARBEGohBAwACwsCQANAIAQgA08NASAAIARqIAEgBGotAAAgAiAEai0AAHM6AAAgBEEBaiEEDAALCws=';

/** Bytes XORed per call into the module: both operands fit the CPU cache together. */
const CHUNK = 128 * 1024;
/** Below this many bytes the loop is as fast (no copies). */
const MIN_KERNEL_BYTES = 4096;

/** The module's memory (grows; a grown memory has a new buffer). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface Kernel {
  readonly memory: WasmMemory;
  /** A view of all of `memory` (renewed when it grew). */
  view: Uint8Array;
  readonly xor: (dst: number, a: number, b: number, n: number) => void;
}

/** 64 KiB: the unit WebAssembly memory grows by. */
const PAGE = 65536;

/** The part of the WebAssembly API used here (this project's TypeScript libs do not declare it). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: Record<string, unknown> };
}

/** The module, instantiated once per thread (undefined: no WebAssembly SIMD here). */
const kernel: Kernel | undefined = (() => {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return undefined;
  try {
    const instance = new wasm.Instance(new wasm.Module(Buffer.from(XOR_WASM, 'base64')));
    const memory = instance.exports['memory'] as WasmMemory;
    // Room for two chunks; an arena (xorArena) may follow them.
    memory.grow(Math.ceil((2 * CHUNK) / PAGE) - memory.buffer.byteLength / PAGE);
    return { memory, view: new Uint8Array(memory.buffer), xor: instance.exports['xor'] as Kernel['xor'] };
  } catch {
    return undefined;
  }
})();

/** Whether this thread XORs with WebAssembly SIMD (else the loop). */
export const XOR_KERNEL: 'wasm-simd' | 'js' = kernel === undefined ? 'js' : 'wasm-simd';

/** `out = a XOR b` with a loop: 32 bits at a time where all three views are aligned. */
export function xorLoop(a: Uint8Array, b: Uint8Array, out: Uint8Array): void {
  const n = out.length;
  let i = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0 && out.byteOffset % 4 === 0 && n >= 64) {
    const words = n >>> 2;
    const x = new Int32Array(a.buffer, a.byteOffset, words);
    const y = new Int32Array(b.buffer, b.byteOffset, words);
    const o = new Int32Array(out.buffer, out.byteOffset, words);
    for (let w = 0; w < words; w++) o[w] = x[w]! ^ y[w]!;
    i = words << 2;
  }
  for (; i < n; i++) out[i] = a[i]! ^ b[i]!;
}

/**
 * `out[i] = a[i] ^ b[i]` for every byte of `out` (`a` and `b` at least as
 * long). `out` may be `a` itself (XOR in place); it must not overlap `b`
 * otherwise.
 */
export function xorBytes(a: Uint8Array, b: Uint8Array, out: Uint8Array): void {
  const n = out.length;
  if (kernel === undefined || n < MIN_KERNEL_BYTES) {
    xorLoop(a, b, out);
    return;
  }
  const buffer = kernel.memory.buffer;
  if (a.buffer === buffer && b.buffer === buffer && out.buffer === buffer) {
    // All three in the module's memory (an arena): no copies.
    kernel.xor(out.byteOffset, a.byteOffset, b.byteOffset, n);
    return;
  }
  const mem = memoryView(kernel);
  for (let at = 0; at < n; at += CHUNK) {
    const len = Math.min(CHUNK, n - at);
    mem.set(a.subarray(at, at + len), 0);
    mem.set(b.subarray(at, at + len), CHUNK);
    kernel.xor(0, 0, CHUNK, len);
    out.set(mem.subarray(0, len), at);
  }
}

/** A view of the kernel's whole memory, renewed after it grew. */
function memoryView(k: Kernel): Uint8Array {
  if (k.view.buffer !== k.memory.buffer) k.view = new Uint8Array(k.memory.buffer);
  return k.view;
}

/**
 * Two ranges of `n` bytes each in the kernel's own memory, for work that
 * XORs the same bytes again and again (decoding an XOR-delta chain: the
 * segment accumulates in `acc`, each delta is decompressed into `delta`,
 * and {@link xorBytes} of the two runs without a copy). Valid until the
 * next call on this thread (the memory may grow and move); undefined
 * without the kernel.
 */
export function xorArena(n: number): { readonly acc: Uint8Array; readonly delta: Uint8Array } | undefined {
  if (kernel === undefined) return undefined;
  const start = 2 * CHUNK;
  const need = Math.ceil((start + 2 * n) / PAGE);
  const have = kernel.memory.buffer.byteLength / PAGE;
  if (need > have) kernel.memory.grow(need - have);
  const mem = memoryView(kernel);
  return { acc: mem.subarray(start, start + n), delta: mem.subarray(start + n, start + 2 * n) };
}
