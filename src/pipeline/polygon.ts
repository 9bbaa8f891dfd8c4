/**
 * @file ④ Mask → COCO polygons (pure), for `mask_format=polygon`.
 *
 * Method: crack following. Every edge between a foreground pixel and a background pixel (or the
 * image border) becomes a directed unit segment on the pixel-corner lattice, oriented with the
 * foreground on its right (clockwise around objects in image coordinates, y down). Segments are
 * chained into closed walks; at a corner shared by two diagonal foreground pixels the walk turns
 * right, so diagonal neighbours are not glued by a zero-width bridge. A walk continues through such
 * corners until no segment leaves its vertex, so a shape that touches itself diagonally stays one
 * polygon. Collinear vertices are dropped: a polygon's vertices are exactly its corners, in pixel
 * corner coordinates (pixel (x, y) covers [x, x+1] × [y, y+1]).
 *
 * Walks with negative signed area are holes; COCO polygons cannot express holes (pycocotools
 * rasterises each polygon and unites them), so holes are omitted: a ring-shaped mask comes back
 * filled. Otherwise pycocotools' `frPyObjects` + `decode` of the output reproduces the mask up to
 * its polygon rasteriser's rounding at the boundary (tested in test/pipeline/polygon.test.ts).
 */

/** Bits of the outgoing-segment mask of a lattice vertex: +x, +y, −x, −y (y points down). */
const DX = [1, 0, -1, 0] as const;
const DY = [0, 1, 0, -1] as const;

/** Region of the mask to scan (half-open), e.g. the paste region; defaults to the whole image. */
export interface Bounds {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * Traces the outer boundaries of a binary mask.
 * @param mask row-major `width × height`, nonzero = foreground.
 * @param bounds only pixels inside are read (pixels outside must be background).
 * @returns COCO polygons `[[x0, y0, x1, y1, ...], ...]`, largest first; [] for an empty mask.
 */
export function maskToPolygons(mask: Uint8Array, width: number, height: number, bounds?: Bounds): number[][] {
  const bx0 = Math.max(0, bounds?.x0 ?? 0), by0 = Math.max(0, bounds?.y0 ?? 0);
  const bx1 = Math.min(width, bounds?.x1 ?? width), by1 = Math.min(height, bounds?.y1 ?? height);
  if (bx1 <= bx0 || by1 <= by0) return [];
  const vw = bx1 - bx0 + 1; // vertex lattice of the region
  const vh = by1 - by0 + 1;
  const out = new Uint8Array(vw * vh);
  const fg = (x: number, y: number): boolean => x >= bx0 && x < bx1 && y >= by0 && y < by1 && mask[y * width + x] !== 0;
  let edges = 0;
  for (let y = by0; y < by1; y++) {
    for (let x = bx0; x < bx1; x++) {
      if (mask[y * width + x] === 0) continue;
      const lx = x - bx0, ly = y - by0;
      if (!fg(x, y - 1)) { out[ly * vw + lx]! |= 1; edges++; } // top: (x,y) → (x+1,y)
      if (!fg(x + 1, y)) { out[ly * vw + lx + 1]! |= 2; edges++; } // right: (x+1,y) → (x+1,y+1)
      if (!fg(x, y + 1)) { out[(ly + 1) * vw + lx + 1]! |= 4; edges++; } // bottom: (x+1,y+1) → (x,y+1)
      if (!fg(x - 1, y)) { out[(ly + 1) * vw + lx]! |= 8; edges++; } // left: (x,y+1) → (x,y)
    }
  }
  const polys: Array<{ area: number; xy: number[] }> = [];
  for (let start = 0; start < out.length && edges > 0; start++) {
    while (out[start] !== 0) {
      const sx = start % vw, sy = (start - sx) / vw;
      let x = sx, y = sy;
      let dir = firstBit(out[start]!);
      const xs: number[] = [], ys: number[] = [];
      let prevDir = -1;
      // Walk until no segment leaves the current vertex (always back at the start vertex).
      for (;;) {
        const v = y * vw + x;
        if (prevDir >= 0) {
          const avail = out[v]!;
          if (avail === 0) break;
          const right = (prevDir + 1) & 3, straight = prevDir, left = (prevDir + 3) & 3;
          dir = avail & (1 << right) ? right : avail & (1 << straight) ? straight : avail & (1 << left) ? left : firstBit(avail);
        }
        out[v]! &= ~(1 << dir);
        edges--;
        if (dir !== prevDir) { xs.push(x); ys.push(y); } // a corner
        prevDir = dir;
        x += DX[dir]!;
        y += DY[dir]!;
      }
      // The closing vertex equals the first; drop a collinear first point.
      if (xs.length >= 3 && prevDir === dirBetween(xs[0]!, ys[0]!, xs[1]!, ys[1]!)) { xs.shift(); ys.shift(); }
      let area2 = 0;
      const xy: number[] = [];
      for (let i = 0; i < xs.length; i++) {
        const j = (i + 1) % xs.length;
        area2 += xs[i]! * ys[j]! - xs[j]! * ys[i]!;
        xy.push(xs[i]! + bx0, ys[i]! + by0);
      }
      // Clockwise on screen (y down) = positive shoelace sum: outer boundary.
      if (area2 > 0 && xs.length >= 3) polys.push({ area: area2 / 2, xy });
    }
  }
  polys.sort((a, b) => b.area - a.area);
  return polys.map((p) => p.xy);
}

function firstBit(m: number): number {
  return m & 1 ? 0 : m & 2 ? 1 : m & 4 ? 2 : 3;
}

function dirBetween(x0: number, y0: number, x1: number, y1: number): number {
  if (x1 > x0) return 0;
  if (y1 > y0) return 1;
  if (x1 < x0) return 2;
  return 3;
}
