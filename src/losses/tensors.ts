/**
 * Small readers for graph tensors: dtype/shape checks (contract violations throw a plain Error,
 * never an InputError: they are bugs of the export or the caller, not of user data) and
 * float32 helpers shared by the loss core.
 */
import type { GraphTensor, LossGraphOutputs } from './types.js';

/** Round to float32 (one torch float32 op). */
export const f32 = Math.fround;

/** torch.round / nearbyint: round half to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  const r = d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
  return r === 0 && (x < 0 || Object.is(x, -0)) ? -0 : r; // nearbyint keeps the sign of zero
}

function fail(name: string, msg: string): never {
  throw new Error(`loss graph output "${name}": ${msg}`);
}

/** The named output, or an Error naming it when missing. */
export function output(out: LossGraphOutputs, name: string): GraphTensor {
  const t = out[name];
  if (!t) fail(name, 'missing (is this a loss-capable export? see docs/architecture.md)');
  return t;
}

/**
 * A float32 output with `rank` dims; `inner` fixes trailing dims (null = any).
 * @returns the data and dims
 */
export function f32Output(
  out: LossGraphOutputs, name: string, rank: number, inner: ReadonlyArray<number | null> = [],
): { data: Float32Array; dims: number[] } {
  const t = output(out, name);
  if (!(t.data instanceof Float32Array)) fail(name, 'expected float32 data');
  checkDims(name, t, rank, inner);
  return { data: t.data, dims: [...t.dims] };
}

/** An integer output (int64 or int32) as plain numbers; `rank` dims. */
export function intOutput(out: LossGraphOutputs, name: string, rank: number): { data: number[]; dims: number[] } {
  const t = output(out, name);
  if (t.data instanceof Float32Array) fail(name, 'expected int64 data');
  checkDims(name, t, rank, []);
  const data: number[] = [];
  for (const v of t.data) data.push(Number(v));
  return { data, dims: [...t.dims] };
}

function checkDims(name: string, t: GraphTensor, rank: number, inner: ReadonlyArray<number | null>): void {
  if (t.dims.length !== rank) fail(name, `expected rank ${rank}, got dims [${t.dims.join(',')}]`);
  let n = 1;
  for (const d of t.dims) n *= d;
  if (n !== t.data.length) fail(name, `dims [${t.dims.join(',')}] do not match ${t.data.length} elements`);
  for (let i = 0; i < inner.length; i++) {
    const want = inner[i];
    const got = t.dims[rank - inner.length + i];
    if (want !== null && want !== undefined && got !== want) {
      fail(name, `expected dim ${rank - inner.length + i} = ${want}, got dims [${t.dims.join(',')}]`);
    }
  }
}

/** Element i of a typed array with the bounds check elided for the type system. */
export function at(a: ArrayLike<number>, i: number): number {
  return a[i] as number;
}
