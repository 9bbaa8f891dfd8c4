/**
 * @file ④ Postprocess (pure): graph outputs → instances in the user's pixel frame.
 *
 * - Reads the detections of either graph flavour: loss-capable (`det_boxes`, `det_labels`,
 *   `det_scores`, un-pasted `det_masks` [D,1,M,M]) or a stock torchvision export (`boxes`,
 *   `labels`, `scores`, pasted `masks` [D,1,H,W]); names come from the manifest's `outputs` map.
 * - Keeps detections with score >= threshold, best first, at most `maxDetections`.
 * - Masks are made only for kept detections: pasted exactly like torchvision (paste-masks.ts),
 *   thresholded at 0.5, written into one reused H×W buffer, encoded straight to pycocotools
 *   compressed RLE (src/eval/rle.ts) or traced to polygons (polygon.ts), then the region is cleared.
 * - `area` is the mask's pixel count (COCO `area` of a segmentation); without masks, the box area.
 *
 * Used by src/pipeline/predict.ts (for /predict and the model mode of /evaluate).
 */
import { countsToString, encodeRowMajorRegion, rleArea } from '../eval/rle.js';
import type { ModelFormat } from './manifest.js';
import { clearRegion, pasteMask, type PasteRegion } from './paste-masks.js';
import { maskToPolygons } from './polygon.js';
import type { Tensor, TensorMap } from './session-types.js';

/** How masks are returned. */
export type MaskFormat = 'rle' | 'polygon' | 'none';

/** Compressed RLE as pycocotools' `mask.encode` returns it (counts as a string). */
export interface CocoRle {
  size: [number, number];
  counts: string;
}

/** One detected instance (COCO result fields + label name). */
export interface Instance {
  category_id: number;
  label: string;
  score: number;
  /** COCO [x, y, w, h] in image pixels. */
  bbox: [number, number, number, number];
  /** Mask pixel count (box area when the model has no masks). */
  area: number;
  segmentation?: CocoRle | number[][];
}

/** Logical output names → graph output names for the detections. */
export interface DetectionOutputNames {
  boxes: string;
  labels: string;
  scores: string;
  masks: string;
}

/** Default names per format (overridden by the manifest's `outputs`). */
export function detectionOutputNames(format: ModelFormat, outputs: Record<string, string>): DetectionOutputNames {
  const pick = (k: string): string => outputs[k] ?? k;
  return format === 'loss-capable'
    ? { boxes: pick('det_boxes'), labels: pick('det_labels'), scores: pick('det_scores'), masks: pick('det_masks') }
    : { boxes: pick('boxes'), labels: pick('labels'), scores: pick('scores'), masks: pick('masks') };
}

/** Options of {@link postprocess}. */
export interface PostprocessOptions {
  format: ModelFormat;
  names: DetectionOutputNames;
  width: number;
  height: number;
  /** Class names; category id c is classes[c - 1]. */
  classes: readonly string[];
  scoreThreshold: number;
  maxDetections: number;
  maskFormat: MaskFormat;
  /** Called with each kept instance's binary mask while it is in the shared buffer (rendering). */
  onMask?: (instance: Instance, mask: Uint8Array, region: PasteRegion) => void;
}

function tensor(outputs: TensorMap, name: string): Tensor {
  const t = outputs[name];
  if (!t) throw new Error(`graph output "${name}" is missing (outputs: ${Object.keys(outputs).join(', ')})`);
  return t;
}

/** Output `name` as numbers (int64 labels arrive as BigInt64Array). */
function asNumber(t: Tensor, i: number): number {
  const v = t.data[i];
  return typeof v === 'bigint' ? Number(v) : (v ?? NaN);
}

/**
 * Turns the graph's detections into instances.
 * @throws Error when an expected output is missing or has an unexpected shape (a model bug: 500).
 */
export function postprocess(outputs: TensorMap, opts: PostprocessOptions): Instance[] {
  const { width: W, height: H } = opts;
  const boxes = tensor(outputs, opts.names.boxes);
  const labels = tensor(outputs, opts.names.labels);
  const scores = tensor(outputs, opts.names.scores);
  const masks = outputs[opts.names.masks];
  const D = scores.dims[0] ?? 0;
  if (boxes.data.length !== D * 4 || labels.data.length !== D) {
    throw new Error(`inconsistent detection outputs: boxes ${boxes.dims}, labels ${labels.dims}, scores ${scores.dims}`);
  }
  let pasted = false;
  let maskSize = 0;
  if (masks) {
    const [md, mc, mh, mw] = masks.dims;
    if (md !== D || mc !== 1 || mh === undefined || mw === undefined) throw new Error(`unexpected masks shape [${masks.dims}]`);
    pasted = opts.format === 'stock';
    if (pasted && (mh !== H || mw !== W)) throw new Error(`pasted masks are ${mw}x${mh}, image is ${W}x${H}`);
    if (!pasted && mh !== mw) throw new Error(`un-pasted masks must be square, got ${mh}x${mw}`);
    maskSize = mh;
  }
  const order: number[] = [];
  for (let i = 0; i < D; i++) {
    const s = asNumber(scores, i);
    if (s >= opts.scoreThreshold) order.push(i);
  }
  order.sort((a, b) => asNumber(scores, b) - asNumber(scores, a) || a - b);
  order.length = Math.min(order.length, opts.maxDetections);

  const buf = masks ? new Uint8Array(W * H) : null;
  const bd = boxes.data as Float32Array;
  const md = masks?.data as Float32Array | undefined;
  const instances: Instance[] = [];
  for (const i of order) {
    const x1 = bd[4 * i]!, y1 = bd[4 * i + 1]!, x2 = bd[4 * i + 2]!, y2 = bd[4 * i + 3]!;
    const categoryId = asNumber(labels, i);
    const inst: Instance = {
      category_id: categoryId,
      label: opts.classes[categoryId - 1] ?? `class_${categoryId}`,
      score: asNumber(scores, i),
      bbox: [x1, y1, x2 - x1, y2 - y1],
      area: Math.max(0, x2 - x1) * Math.max(0, y2 - y1),
    };
    if (buf && md) {
      let region: PasteRegion;
      if (pasted) {
        region = { x0: 0, y0: 0, x1: W, y1: H };
        const off = i * W * H;
        for (let p = 0; p < W * H; p++) buf[p] = md[off + p]! > 0.5 ? 1 : 0;
      } else {
        const probs = md.subarray(i * maskSize * maskSize, (i + 1) * maskSize * maskSize);
        region = pasteMask(probs, maskSize, [x1, y1, x2, y2], buf, W, H, 0.5);
      }
      const counts = encodeRowMajorRegion(buf, H, W, region.x0, region.y0, region.x1, region.y1);
      inst.area = rleArea(counts);
      if (opts.maskFormat === 'rle') inst.segmentation = { size: [H, W], counts: countsToString(counts) };
      else if (opts.maskFormat === 'polygon') inst.segmentation = maskToPolygons(buf, W, H, region);
      opts.onMask?.(inst, buf, region);
      if (pasted) buf.fill(0);
      else clearRegion(buf, W, region);
    }
    instances.push(inst);
  }
  return instances;
}
