/**
 * Ground-truth validation for the loss core. Invalid user data raises InputError with a JSON path
 * (default `gt.boxes[i]`, `gt.labels[i]`, `gt.masks[i]`, `gt.height`; the route may map indices to
 * its own request paths via `LossPathMapper`).
 */
import { InputError } from '../eval/errors.js';
import type { LossGroundTruth } from './types.js';

/** Maps a GT field (and object index) to the request's JSON path. */
export type LossPathMapper = (field: 'boxes' | 'labels' | 'masks' | 'height' | 'width', index?: number) => string;

/** Default paths: `gt.<field>[index]`. */
export const defaultLossPath: LossPathMapper = (field, index) =>
  index === undefined ? `gt.${field}` : `gt.${field}[${index}]`;

/**
 * Check image size, box geometry (finite, positive size, inside [0,W]x[0,H]), labels 1..C-1,
 * mask count, size and 0/1 values.
 * @returns G
 */
export function validateGroundTruth(gt: LossGroundTruth, numClasses: number, path: LossPathMapper = defaultLossPath): number {
  const { height: H, width: W } = gt;
  if (!Number.isInteger(H) || H < 1) throw new InputError(path('height'), `image height must be a positive integer, got ${H}`);
  if (!Number.isInteger(W) || W < 1) throw new InputError(path('width'), `image width must be a positive integer, got ${W}`);
  const G = gt.labels.length;
  if (gt.boxes.length !== G * 4) {
    throw new InputError(path('boxes'), `expected ${G} boxes (4 numbers each) for ${G} labels, got ${gt.boxes.length} numbers`);
  }
  if (gt.masks.length !== G) throw new InputError(path('masks'), `expected ${G} masks for ${G} objects, got ${gt.masks.length}`);
  for (let i = 0; i < G; i++) {
    const x1 = gt.boxes[i * 4]!, y1 = gt.boxes[i * 4 + 1]!, x2 = gt.boxes[i * 4 + 2]!, y2 = gt.boxes[i * 4 + 3]!;
    const b = `[${x1}, ${y1}, ${x2}, ${y2}]`;
    if (![x1, y1, x2, y2].every(Number.isFinite)) throw new InputError(path('boxes', i), `box ${b} has a non-finite coordinate`);
    if (!(x2 > x1) || !(y2 > y1)) throw new InputError(path('boxes', i), `box ${b} has zero or negative width or height`);
    if (x1 < 0 || y1 < 0 || x2 > W || y2 > H) {
      throw new InputError(path('boxes', i), `box ${b} lies outside the ${W}x${H} image`);
    }
    const l = gt.labels[i]!;
    if (!(l >= 1 && l <= numClasses - 1)) {
      throw new InputError(path('labels', i), `label ${l} out of range 1..${numClasses - 1}`);
    }
    const m = gt.masks[i]!;
    if (m.length !== H * W) {
      throw new InputError(path('masks', i), `mask has ${m.length} pixels, expected ${H}x${W} = ${H * W}`);
    }
    for (let k = 0; k < m.length; k++) {
      if (m[k]! > 1) throw new InputError(path('masks', i), `mask value ${m[k]} at pixel ${k} is not 0 or 1`);
    }
  }
  return G;
}
