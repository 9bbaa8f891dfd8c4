/**
 * @file The inputs of a model-mode evaluation, checked before any inference: uploaded files matched
 * to `annotations.images[].file_name` (exact, else unique base name), the ground truth of the matched
 * images validated, each image's annotations with their JSON paths, and the ground truth a model
 * evaluation scores (restricted to the uploaded images). Also the GT of one image as the losses (and
 * the graph's `gt_boxes`) want it, following torchvision's reference training (coco_utils): crowd
 * annotations left out, boxes xywh → xyxy, masks from the segmentation (polygons or RLE; the box
 * when absent), labels = COCO category ids (= the model's class indices 1..N).
 */
import { decodeToRowMajor, frBbox, InputError, loadGroundTruth, segmentationToRle, WarningCollector } from '../eval/index.js';
import { expectArray, expectObject, isObject } from '../eval/json-check.js';
import type { LossGroundTruth } from '../losses/index.js';
import { MultipartError } from './errors.js';

/** An uploaded file: its name and the input path used in errors (`image[3]`). */
export interface UploadedFile {
  fileName: string;
  field: string;
}

/** One annotation of an image with its JSON path (`annotations.annotations[7]`). */
export interface AnnotationRef {
  ann: Record<string, unknown>;
  path: string;
}

/** What one image is evaluated against: its `annotations.images[index]` entry and its annotations. */
export interface ImageTarget {
  entry: Record<string, unknown>;
  index: number;
  anns: AnnotationRef[];
}

/** A model-mode evaluation's inputs after matching: `files[k]` is `annotations.images[images[k]]`. */
export interface ModelInput<F extends UploadedFile = UploadedFile> {
  annotations: Record<string, unknown>;
  /** The files in upload order, each with its `annotations.images` index. */
  images: Array<F & { index: number }>;
}

const base = (p: string): string => p.slice(Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\')) + 1);

/** `annotations.images` as objects (400/422 with the path otherwise). */
export function imageEntries(gt: Record<string, unknown>): Array<Record<string, unknown>> {
  return expectArray(gt.images, 'annotations.images').map((e, i) => expectObject(e, `annotations.images[${i}]`));
}

/**
 * Matches uploaded files to `entries` (`annotations.images`) by file_name: exact, else unique base
 * name. Returns the entry index of each file, in upload order.
 * @throws InputError (the file's field) when a file matches no entry or several; MultipartError
 *   when a file is uploaded twice.
 */
export function matchUploads(entries: Array<Record<string, unknown>>, files: readonly UploadedFile[]): number[] {
  const byName = new Map<string, number[]>();
  entries.forEach((e, i) => {
    if (typeof e.file_name !== 'string') return;
    for (const key of new Set([e.file_name, base(e.file_name)])) byName.set(key, [...(byName.get(key) ?? []), i]);
  });
  const used = new Set<number>();
  return files.map((f) => {
    const hits = byName.get(f.fileName) ?? byName.get(base(f.fileName)) ?? [];
    if (hits.length !== 1) {
      throw new InputError(f.field, hits.length === 0
        ? `uploaded file "${f.fileName}" matches no annotations.images[].file_name`
        : `uploaded file "${f.fileName}" matches ${hits.length} annotations.images entries`);
    }
    const index = hits[0]!;
    if (used.has(index)) throw new MultipartError(`file "${f.fileName}" is uploaded twice`, f.field);
    used.add(index);
    return index;
  });
}

/** Annotations of each image id, with their JSON paths (non-objects are skipped). */
export function annotationsByImage(anns: unknown[]): Map<unknown, AnnotationRef[]> {
  const out = new Map<unknown, AnnotationRef[]>();
  anns.forEach((a, i) => {
    if (!isObject(a)) return;
    const list = out.get(a.image_id) ?? [];
    list.push({ ann: a, path: `annotations.annotations[${i}]` });
    out.set(a.image_id, list);
  });
  return out;
}

/**
 * The ground truth restricted to the evaluated (uploaded) images, i.e. what is evaluated; adds the
 * `images-not-uploaded` warning when some annotated images were not uploaded.
 */
export function evaluatedGroundTruth(gtJson: Record<string, unknown>, ids: Set<unknown>, warnings?: WarningCollector): Record<string, unknown> {
  const allImages = expectArray(gtJson.images, 'annotations.images');
  const anns = expectArray(gtJson.annotations ?? [], 'annotations.annotations');
  if (warnings && ids.size < allImages.length) {
    warnings.add('images-not-uploaded', 'annotations.images', `${allImages.length - ids.size} of ${allImages.length} annotated images were not uploaded and are left out of the evaluation`);
  }
  return {
    ...gtJson,
    images: allImages.filter((e) => isObject(e) && ids.has(e.id)),
    annotations: anns.filter((a) => isObject(a) && ids.has(a.image_id)),
  };
}

/**
 * Matches `files` to `annotations.images[].file_name` and validates the ground truth of the
 * matched images, so that everything that can be checked before running is.
 * @throws InputError naming the file (`image[i]`) or the JSON path under `annotations`; MultipartError
 */
export function prepareModelInput<F extends UploadedFile>(annotations: unknown, files: readonly F[]): ModelInput<F> {
  const gt = expectObject(annotations, 'annotations');
  const entries = imageEntries(gt);
  const matched = matchUploads(entries, files);
  const images = files.map((f, k) => ({ ...f, index: matched[k]! }));
  loadGroundTruth(evaluatedGroundTruth(gt, new Set(images.map((im) => entries[im.index]!.id))), 'annotations', new WarningCollector());
  return { annotations: gt, images };
}

/** The targets of a prepared input's images, in upload order. */
export function imageTargets(input: ModelInput): ImageTarget[] {
  const entries = input.annotations.images as Array<Record<string, unknown>>;
  const annsOf = annotationsByImage((input.annotations.annotations as unknown[] | undefined) ?? []);
  return input.images.map((im) => {
    const entry = entries[im.index]!;
    return { entry, index: im.index, anns: annsOf.get(entry.id) ?? [] };
  });
}

/** Non-crowd GT of one image as the losses (and the graph's gt_boxes) want it, with each kept annotation's path. */
export function lossGroundTruth(anns: AnnotationRef[], H: number, W: number): { gt: LossGroundTruth; paths: string[] } {
  const kept = anns.filter(({ ann }) => !ann.iscrowd);
  const boxes = new Float32Array(kept.length * 4);
  const labels = new Int32Array(kept.length);
  const masks: Uint8Array[] = [];
  kept.forEach(({ ann, path }, i) => {
    const b = expectArray(ann.bbox, `${path}.bbox`);
    const [x, y, w, h] = b.map(Number) as [number, number, number, number];
    boxes.set([x, y, x + w, y + h], i * 4);
    labels[i] = Number(ann.category_id);
    const rle = ann.segmentation !== undefined && ann.segmentation !== null
      ? segmentationToRle(ann.segmentation, `${path}.segmentation`, H, W)
      : { counts: frBbox([x, y, w, h], H, W) };
    masks.push(decodeToRowMajor(rle.counts, H, W));
  });
  return { gt: { boxes, labels, masks, height: H, width: W }, paths: kept.map((k) => k.path) };
}
