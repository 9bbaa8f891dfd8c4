/**
 * @file The report's data as JSON (GET /evaluations/{id}/report with `Accept: application/json`):
 * the PR curves drawn in the HTML (precision at pycocotools' 101 recall thresholds, per class and
 * IoU type, at IoU 0.5 and averaged over 0.5:0.95), the loss diagnosis and the worst-image
 * overlays — for people who want to plot them their own way.
 */
import { Type } from '@sinclair/typebox';
import type { EvaluationResponse } from '../evaluation/response.js';
import type { Job, ReportData } from '../jobs/types.js';
import { prCurve } from './curves.js';

const Curve = Type.Union([Type.Array(Type.Number()), Type.Null()], { description: 'Precision at each recall threshold; null when the class has no ground truth' });
const Curves = Type.Object({
  recall_thresholds: Type.Array(Type.Number()),
  classes: Type.Array(Type.Object({ category_id: Type.Integer(), name: Type.String(), iou_50: Curve, iou_50_95: Curve })),
});

export const ReportDataSchema = Type.Object({
  id: Type.String(),
  pr_curves: Type.Object({ bbox: Type.Optional(Curves), segm: Type.Optional(Curves) }),
  diagnosis: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], { description: 'The diagnosis of the result (`result.losses.diagnosis`): shares of the total, explanations, flags (model mode with losses)' }),
  worst_images: Type.Array(Type.Object({ file_name: Type.String(), image_id: Type.Integer(), reason: Type.String(), png: Type.String({ description: 'data:image/png;base64 overlay: ground truth (green) vs predictions (orange, dashed)' }) })),
}, {
  title: 'EvaluationReportData',
  description: 'The data behind the HTML report (send `Accept: application/json`)',
  examples: [{ id: '3f2b8c1e-7d4a-4e8b-9a51-0c6f2d9e1b7a', pr_curves: { bbox: { recall_thresholds: [0, 0.01, 1], classes: [{ category_id: 1, name: 'square', iou_50: [1, 1, 0], iou_50_95: [0.8, 0.8, 0] }] } }, diagnosis: null, worst_images: [] }],
});

/** The PR curves of a done job's result, per IoU type (the report's JSON `pr_curves`; its charts draw these). */
export function prCurveData(report: ReportData, result: EvaluationResponse): Record<string, unknown> {
  const pr: Record<string, unknown> = {};
  for (const t of ['bbox', 'segm'] as const) {
    const acc = report.curves[t];
    const block = result.coco[t];
    if (!acc || !block) continue;
    pr[t] = {
      recall_thresholds: Array.from(acc.params.recThrs),
      classes: block.per_category.map((c, k) => ({ category_id: c.category_id, name: c.name, iou_50: prCurve(acc, k, 0.5), iou_50_95: prCurve(acc, k, 'mean') })),
    };
  }
  return pr;
}

/** The JSON report of a done job (the diagnosis is the one of its result, computed once). */
export function reportData(job: Job, report: ReportData): Record<string, unknown> {
  const result = job.result!;
  return {
    id: job.id,
    pr_curves: prCurveData(report, result),
    diagnosis: result.losses?.diagnosis ?? null,
    worst_images: report.overlays.map((o) => ({ file_name: o.fileName, image_id: o.imageId, reason: o.reason, png: o.dataUri })),
  };
}
