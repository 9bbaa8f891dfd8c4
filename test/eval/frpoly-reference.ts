/**
 * @file The straightforward port of `maskApi.c: rleFrPoly` (every upsampled boundary point walked in
 * the C code's order), kept as the reference that src/eval/polygon.ts's faster walk is checked
 * against point for point (test/eval/polygon-walk.test.ts).
 */
const SCALE = 5;

export function frPolyReference(xy: ArrayLike<number>, h: number, w: number): Uint32Array {
  const k = Math.floor(xy.length / 2);
  const hw = h * w;
  if (k === 0) return Uint32Array.of(hw);
  // 1. upsample the vertices, truncating toward zero like C's (int)
  const X = new Float64Array(k + 1), Y = new Float64Array(k + 1);
  for (let j = 0; j < k; j++) {
    X[j] = Math.trunc(SCALE * xy[2 * j]! + 0.5);
    Y[j] = Math.trunc(SCALE * xy[2 * j + 1]! + 0.5);
  }
  X[k] = X[0]!;
  Y[k] = Y[0]!;
  let steps = 0;
  for (let j = 0; j < k; j++) {
    steps += Math.max(Math.abs(X[j]! - X[j + 1]!), Math.abs(Y[j]! - Y[j + 1]!)) + 1;
  }
  if (!(steps <= 50_000_000)) throw new RangeError('too large');

  // 2+3. walk every edge densely; keep the x-transitions mapped back to pixel space. The transition
  // test is written out in both loops (a shared closure would keep the state in a heap context).
  let pos = new Uint32Array(1024);
  let np = 0;
  let pu = NaN, pv = 0; // previous point (NaN: none yet)
  const wMax = w - 1;
  for (let j = 0; j < k; j++) {
    let xs = X[j]!, xe = X[j + 1]!, ys = Y[j]!, ye = Y[j + 1]!;
    const dx = Math.abs(xe - xs), dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      let t = xs; xs = xe; xe = t;
      t = ys; ys = ye; ye = t;
    }
    const major = dx >= dy ? dx : dy;
    // dx = dy = 0 gives s = NaN: that point's v is never read (its neighbours share its u)
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy;
    for (let d = 0; d <= major; d++) {
      const t = flip ? major - d : d;
      let u: number, v: number;
      if (dx >= dy) {
        u = t + xs;
        v = Math.trunc(ys + s * t + 0.5);
      } else {
        u = Math.trunc(xs + s * t + 0.5);
        v = t + ys;
      }
      if (u !== pu && pu === pu) {
        let xd = u < pu ? u : u - 1;
        xd = (xd + 0.5) / SCALE - 0.5;
        if (Math.floor(xd) === xd && xd >= 0 && xd <= wMax) {
          let yd = v < pv ? v : pv;
          yd = (yd + 0.5) / SCALE - 0.5;
          if (yd < 0) yd = 0;
          else if (yd > h) yd = h;
          yd = Math.ceil(yd);
          if (np === pos.length) {
            const bigger = new Uint32Array(pos.length * 2);
            bigger.set(pos);
            pos = bigger;
          }
          pos[np++] = xd * h + yd;
        }
      }
      pu = u;
      pv = v;
    }
  }

  // 4. positions → runs: sentinel, sort, differences, fold zero differences
  const a = new Uint32Array(np + 1);
  a.set(pos.subarray(0, np));
  a[np] = hw;
  a.sort();
  let p = 0;
  for (let j = 0; j < a.length; j++) {
    const t = a[j]!;
    a[j] = t - p;
    p = t;
  }
  const b = new Uint32Array(a.length);
  let m = 0, j = 0;
  b[m++] = a[j++]!;
  while (j < a.length) {
    if (a[j]! > 0) b[m++] = a[j++]!;
    else {
      j++;
      if (j < a.length) b[m - 1] = b[m - 1]! + a[j++]!;
    }
  }
  return b.slice(0, m);
}

