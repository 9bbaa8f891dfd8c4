/**
 * @file Text output of the CLI from an evaluation result (the /evaluate blocks): the 12 COCO lines
 * per IoU type as pycocotools prints them (summaryLines), mmdetection's per-class table
 * (formatMapTable) and the mean losses with their detectron2 / mmdetection / Matterport names.
 */
import { formatMapTable, resolveParams, summaryLines, type Accumulated, type IouType } from '../eval/index.js';
import { LOSS_KEYS } from '../losses/index.js';

export interface ResultLike {
  images: number;
  coco: Partial<Record<IouType, { stats: Array<number | null> }>>;
  voc: { iou_thr: number; mode: string; classes: Array<{ class: string; gts: number; dets: number; recall: number; ap: number }>; mAP: number };
  losses: { sampling: string; mean: Record<string, number>; aliases: Record<string, Record<string, string>> } | null;
  losses_unavailable?: string;
  warnings: Array<{ path: string; message: string }>;
  counts: { images: number; gt_instances: number; detections: number };
}

/** The whole report as text lines. */
export function formatResult(r: ResultLike, header: string): string {
  const out: string[] = [header, ''];
  for (const t of ['bbox', 'segm'] as const) {
    const block = r.coco[t];
    if (!block) continue;
    // summaryLines reads only the params (thresholds, maxDets) of the accumulation
    const acc = { params: resolveParams(t, undefined) } as Accumulated;
    out.push(`Evaluate annotation type *${t}*`, ...summaryLines(acc, block.stats.map((v) => (v === null ? -1 : v))), '');
  }
  out.push(`Per-class table (VOC, IoU ${r.voc.iou_thr}, ${r.voc.mode}):`, formatMapTable(r.voc.classes, r.voc.mAP), '');
  if (r.losses) {
    out.push(`Losses (mean over ${r.images} images, sampling "${r.losses.sampling}"):`);
    for (const k of [...LOSS_KEYS, 'loss']) {
      const a = r.losses.aliases[k];
      const v = r.losses.mean[k];
      out.push(`  ${k.padEnd(17)} ${typeof v === 'number' ? v.toFixed(4) : 'n/a'}${a ? `   (detectron2 ${a.detectron2}, mmdetection ${a.mmdetection}, Matterport ${a.matterport})` : ''}`);
    }
  } else {
    out.push(`Losses: ${r.losses_unavailable ?? 'none (detections mode)'}`);
  }
  if (r.warnings.length > 0) {
    out.push('', 'Warnings:');
    for (const w of r.warnings) out.push(`  ${w.path}: ${w.message}`);
  }
  return `${out.join('\n')}\n`;
}
